"""Lists of guests to win back or to wish a happy birthday, and a coupon for one of them."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Select, Static

from ..messages import OpenGuest
from ..widgets import Table, TemplateSelect
from .base import Json, Pane


class ListsPane(Pane):
    KEY = "lists"

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            with Horizontal(classes="row"):
                yield Select[str]([(t("lapsed"), "lapsed"), (t("birthdays"), "birthday")],
                                  value="lapsed", allow_blank=False, id="segment")
                yield Input(placeholder=t("days"), id="segment-days")
                yield Button(t("load"), id="load-segment")
            with Horizontal(classes="row"):
                yield TemplateSelect([], prompt=t("template"), id="list-template")
                yield Button(t("send_coupon"), id="list-coupon", variant="primary")
            yield Static("", id="segment-count")
            yield Table(*(t(k) for k in ("name", "phone", "birthday", "tier")),
                        id="segment-members")

    @on(Button.Pressed, "#load-segment")
    def load_segment(self) -> None:
        name = str(self.query_one("#segment", Select).value)
        days_text = self.query_one("#segment-days", Input).value.strip()
        days = int(days_text) if days_text.isdigit() else None
        self.call(lambda: self.console.client.segment(name, days), self.show_segment)

    def show_segment(self, segment: Json) -> None:
        self.query_one("#segment-count", Static).update(f"{segment['count']}")
        table = self.query_one("#segment-members", Table)
        table.clear()
        for member in segment["members"]:
            table.add_row(member["name"] or "-", member["phone"] or "-",
                          member["birthday"] or "-", self.console.tier_name(member),
                          key=member["id"])

    @on(DataTable.RowSelected, "#segment-members")
    def open_guest(self, event: DataTable.RowSelected) -> None:
        self.post_message(OpenGuest(str(event.row_key.value)))

    @on(Button.Pressed, "#list-coupon")
    def send_coupon(self) -> None:
        member_id = self.query_one("#segment-members", Table).chosen()
        template = self.query_one("#list-template", Select).value
        if member_id is None or not isinstance(template, str):
            return
        self.call(lambda: self.console.client.send_coupon(template, member_id, "console list"),
                  lambda coupon: self.notify(f"{self.t('sent')}: {coupon['code']}"))
