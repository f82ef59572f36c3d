"""The dashboard: today against the same day last week, the hub's health, who is eating."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Static

from hub.domain.dashboard import change_pct
from hub.domain.money import yuan

from ..widgets import Table
from .base import Json, Pane

FIGURES = ("covers", "revenue", "orders", "returning")
REFRESH_S = 30


class DashboardPane(Pane):
    KEY = "dashboard"

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            with Horizontal(classes="figures"):
                for key in FIGURES:
                    yield Static("…", id=f"fig-{key}", classes="figure")
            yield Static("", id="status", classes="panel")
            yield Label(t("checked_in"))
            yield Table(*(t(k) for k in ("time", "table", "guest", "allergies", "notes")),
                        id="checked-in")

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_S, self.load)

    def opened(self) -> None:
        self.load()

    def hub_event(self, event: Json) -> None:
        if event["type"] == "checkin.created":
            self.add_checkin_row(event["data"], at=event["ts"])
            self.load()
        elif event["type"] == "checkout.completed":
            self.load()

    def load(self) -> None:
        client = self.console.client
        self.view("dashboard", lambda: (client.dashboard(), client.health()), self.show)

    def show(self, answers: tuple[Json, Json]) -> None:
        board, health = answers
        t = self.t
        today, before = board["today"], board["same_day_last_week"]
        returning = (today["returning_orders"] * 100 // today["member_orders"]
                     if today["member_orders"] else 0)
        figures = {
            "covers": f"{today['covers']}  ({change_pct(today['covers'], before['covers'])})",
            "revenue": f"{yuan(today['revenue_fen'])}  "
                       f"({change_pct(today['revenue_fen'], before['revenue_fen'])})",
            "orders": f"{today['orders']}  ({change_pct(today['orders'], before['orders'])})",
            "returning": f"{returning}%   {t('new_members')} {today['new_members']}",
        }
        for key, text in figures.items():
            self.query_one(f"#fig-{key}", Static).update(f"{t(key)}\n{text}")
        self.query_one("#checked-in", Table).clear()
        for visit in board["checked_in"]:
            self.add_checkin_row(visit, at=visit.get("at"), end=True)
        printers = ", ".join(
            f"{p['name']}: {t('online') if p['ready'] is not False else p['problem']}"
            for p in health["printers"])
        readers = ", ".join(
            f"{r['station']}: {t('online') if r['connected'] else t('offline')}"
            for r in health["readers"]) or t("none")
        hq = health["sync"]["broker"] or t("offline")
        self.query_one("#status", Static).update(
            f"{t('hub')} {health['store_name']} ({health['store_id']}) v{health['version']}"
            f"   {t('hq')}: {hq}   {t('backlog')}: {health['sync']['backlog']}\n"
            f"{t('printers')}: {printers}   {t('queue')}: "
            f"{health['print_queue']['waiting']}   {t('readers')}: {readers}   "
            f"{t('devices')}: {board['devices_online']}")

    def add_checkin_row(self, visit: Json, at: str | None = None, end: bool = False) -> None:
        table = self.query_one("#checked-in", Table)
        if visit["visit_id"] in table.rows:
            return
        member = visit.get("member") or {}
        notes = " ".join(filter(None, [member.get("spice_label"), *member.get("avoid", []),
                                       member.get("notes", "")]))
        table.add_row(self.console.local_time(at or self.console.clock().isoformat()),
                      visit["table"], member.get("name") or self.t("walk_in"),
                      "、".join(member.get("allergies", [])) or "-", notes or "-",
                      key=visit["visit_id"])
        if not end:
            table.move_cursor(row=table.row_count - 1)
