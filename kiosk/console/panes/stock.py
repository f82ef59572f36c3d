"""Stock: what is on hand and how many days it lasts by the forecast (a chart), what runs out
before its supplier delivers, what to buy per supplier, and the variance of the counts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Static
from textual_plotext import PlotextPlot

from hub.report_files import stock_series

from .base import Pane

if TYPE_CHECKING:
    from hub.domain.stock import PurchaseList

Json = dict[str, Any]


class StockPane(Pane):
    KEY = "stock"

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            with Horizontal(classes="row"):
                yield Button(t("load"), id="load-stock", variant="primary")
                yield Button(t("export"), id="export-stock")
            yield Static(id="stock-restock")
            yield PlotextPlot(id="stock-chart")
            yield Static(t("stock_levels"), classes="heading")
            yield DataTable(id="stock-levels", cursor_type="row")
            yield Static(t("purchase_list"), classes="heading")
            yield DataTable(id="stock-purchase", cursor_type="row")
            yield Static(t("stock_variance"), classes="heading")
            yield DataTable(id="stock-variance", cursor_type="row")

    def opened(self) -> None:
        self.load()

    @on(Button.Pressed, "#load-stock")
    def load(self) -> None:
        client = self.console.client
        self.view("stock", lambda: (client.stock_purchase(), client.stock_variance()), self.show)

    def show(self, found: tuple[PurchaseList, list[Json]]) -> None:
        bought, counts = found
        t = self.t
        alerts = [f"{a['ingredient']} {a['runs_out_on'][5:]} < {a['supplier']} "
                  f"{a['next_delivery'][5:]}" for a in bought["restock"]]
        self.query_one("#stock-restock", Static).update(
            f"{t('restock')}: " + ("; ".join(alerts) if alerts else t("none")))
        short = {a["ingredient"] for a in bought["restock"]}
        self._fill("#stock-levels", (t("ingredient"), t("on_hand"), t("unit"), t("days_left")),
                   [(("⚠ " if row["ingredient"] in short else "") + row["ingredient"],
                     f"{row['on_hand']:g}", row["unit"],
                     f"> {bought['horizon']}" if row["days_left"] is None
                     else f"{row['days_left']:g}") for row in bought["stock_days"]])
        self._fill("#stock-purchase", (t("supplier"), t("ingredient"), t("to_buy"), t("unit"),
                                       t("packs")),
                   [(order["supplier"] or "-", line["ingredient"], f"{line['buy']:g}",
                     line["unit"], "" if line["packs"] is None else str(line["packs"]))
                    for order in bought["suppliers"] for line in order["lines"]])
        self._fill("#stock-variance", (t("ingredient"), t("counted_at"), t("expected"),
                                       t("counted"), t("variance")),
                   [(row["ingredient"], self.console.local_time(row["counted_at"],
                                                                "%m-%d %H:%M"),
                     f"{row['expected']:g}", f"{row['counted']:g}", f"{row['variance']:+g}")
                    for row in counts])
        series = stock_series(bought)
        plot = self.query_one("#stock-chart", PlotextPlot)
        plot.plt.clear_figure()
        plot.plt.title(series.title)
        if series.labels:
            plot.plt.bar(series.labels, series.values, orientation="horizontal")
        plot.refresh()

    def _fill(self, selector: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        table = self.query_one(selector, DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        for row in rows:
            table.add_row(*row)

    @on(Button.Pressed, "#export-stock")
    def export(self) -> None:
        folder = self.console.export_dir
        client = self.console.client

        def save() -> list[Path]:
            folder.mkdir(exist_ok=True)
            saved = []
            for fmt in ("xlsx", "png"):
                path = folder / f"purchase.{fmt}"
                path.write_bytes(client.stock_file(fmt))
                saved.append(path)
            return saved

        self.call(save, lambda saved: self.notify(
            f"{self.t('exported')}: " + ", ".join(str(p) for p in saved)))
