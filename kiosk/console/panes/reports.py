"""Reports over a range of days: a chart, the table under it, and files to take away."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Select
from textual_plotext import PlotextPlot

from hub.domain.report_names import REPORT_NAMES
from hub.report_files import SERIES, tables
from kiosk.client import HubError

from .base import Pane

if TYPE_CHECKING:
    from hub.domain.reports import Report

SHOWN_ROWS = 200


class ReportsPane(Pane):
    KEY = "reports"

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            with Horizontal(classes="row"):
                yield Select[str]([(name, name) for name in REPORT_NAMES], value="dishes",
                                  allow_blank=False, id="report-name")
                yield Input(placeholder=t("from"), id="report-from")
                yield Input(placeholder=t("to"), id="report-to")
                yield Input(placeholder=t("category"), id="report-category")
                yield Button(t("load"), id="load-report", variant="primary")
                yield Button(t("export"), id="export-report")
            yield PlotextPlot(id="report-chart")
            yield DataTable(id="report-table", cursor_type="row")

    def opened(self) -> None:
        self.load()

    def query_of(self) -> tuple[str, str | None, str | None, str | None]:
        """The report, its days and (for the dish mix) the menu category as typed; the hub
        checks them."""
        name = str(self.query_one("#report-name", Select).value)
        category = self.query_one("#report-category", Input).value.strip() or None
        return (name, self.query_one("#report-from", Input).value.strip() or None,
                self.query_one("#report-to", Input).value.strip() or None,
                category if name == "dish_mix" else None)

    @on(Button.Pressed, "#load-report")
    def load(self) -> None:
        name, start, end, category = self.query_of()
        self.view("report", lambda: self.console.client.report(name, start, end, category),
                  self.show)

    def show(self, result: Report) -> None:
        found = tables(result)
        columns, rows = next(iter(found.values())) if found else ([], [])
        table = self.query_one("#report-table", DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        for row in rows[:SHOWN_ROWS]:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        plot = self.query_one("#report-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        draw = SERIES.get(result["report"])
        if draw is not None:
            series = draw(result)
            plt.title(series.title)
            if series.kind == "bars":
                plt.bar(series.labels, series.values, orientation="horizontal")
            elif series.kind == "line":
                plt.plot(series.values)
                plt.xticks(list(range(1, len(series.labels) + 1)), series.labels)
            elif series.kind == "lines":
                for label, values in zip(series.columns, series.values, strict=True):
                    plt.plot(values, label=label)
                plt.xticks(list(range(1, len(series.labels) + 1)), series.labels)
            else:  # a grid: a line per row
                for label, values in zip(series.labels, series.values, strict=True):
                    plt.plot(values, label=str(label))
                if series.columns:
                    plt.xticks(list(range(1, len(series.columns) + 1)), list(series.columns))
        plot.refresh()

    @on(Button.Pressed, "#export-report")
    def export(self) -> None:
        name, start, end, category = self.query_of()
        folder = self.console.export_dir
        client = self.console.client

        def save() -> list[Path]:
            folder.mkdir(exist_ok=True)
            saved = []
            for fmt in ("xlsx", "png"):
                try:
                    data = client.report_file(name, fmt, start, end, category)
                except HubError as error:
                    if error.status == 404:  # a report of figures has no chart
                        continue
                    raise
                path = folder / f"{name}.{fmt}"
                path.write_bytes(data)
                saved.append(path)
            return saved

        self.call(save, lambda saved: self.notify(
            f"{self.t('exported')}: " + ", ".join(str(p) for p in saved)))
