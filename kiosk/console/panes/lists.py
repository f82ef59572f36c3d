"""Lists of guests to win back or to wish a happy birthday, and a coupon for one of them; the
call list of lapsed regulars, each call logged in its dialog."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Select, Static

from hub.domain.money import yuan

from ..messages import OpenGuest
from ..screens import CallScreen
from ..widgets import Table, TemplateSelect
from .base import Json, Pane


class ListsPane(Pane):
    KEY = "lists"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.to_call: dict[str, Json] = {}  # the call list's guests by id, as the hub sent them

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
            with Horizontal(classes="row"):
                yield Button(t("call_list"), id="load-calls")
            yield Table(*(t(k) for k in ("name", "phone", "worth", "visits", "last_visit",
                                         "favourites", "served_by", "last_call")),
                        id="call-list")

    @on(Button.Pressed, "#load-segment")
    def load_segment(self) -> None:
        name = str(self.query_one("#segment", Select).value)
        days_text = self.query_one("#segment-days", Input).value.strip()
        days = int(days_text) if days_text.isdigit() else None
        self.view("segment", lambda: self.console.client.segment(name, days), self.show_segment)

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

    @on(Button.Pressed, "#load-calls")
    def load_calls(self) -> None:
        self.view("calls", self.console.client.call_list, self.show_calls)

    def show_calls(self, guests: list[Json]) -> None:
        self.to_call = {g["member_id"]: g for g in guests}
        table = self.query_one("#call-list", Table)
        table.clear()
        for g in guests:
            last = g["last_call"]
            table.add_row(
                g["name"] or "-", g["phone"] or "-", yuan(g["spend_fen"]), str(g["visits"]),
                self.console.local_time(g["last_seen"], "%Y-%m-%d"),
                "、".join(d["dish"] for d in g["favourite_dishes"]) or "-",
                "、".join(s["name"] for s in g["served_by"]) or "-",
                f"{self.console.local_time(last['called_at'], '%m-%d')} {last['reason']}"
                if last else "-", key=g["member_id"])

    @on(DataTable.RowSelected, "#call-list")
    def open_call(self, event: DataTable.RowSelected) -> None:
        guest = self.to_call.get(str(event.row_key.value))
        if guest is not None:
            self.console.push_screen(CallScreen(guest, lambda _: self.load_calls()))
