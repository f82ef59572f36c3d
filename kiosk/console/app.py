"""The staff console: the owner's and the cashier's view of the store, in a terminal.

It talks to the hub only through `HubClient` (HTTP and the event stream), so it runs on the
hub's screen, over SSH, or on any machine on the LAN. Every call runs in a worker thread and
comes back to the screen through `call_from_thread`: the interface never waits on the network.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Select,
    Static,
    Switch,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from hub.domain.clock import Clock, system_clock
from hub.domain.dashboard import change_pct
from hub.domain.reports import REPORTS
from hub.report_files import SERIES, tables

from .client import HubClient, HubError
from .i18n import STRINGS, default_language

Json = dict[str, Any]
ROLES = ("waiter", "cashier", "manager", "kiosk")

# What the console lets an owner change of a campaign, as JSON (checked by the hub).
EDITABLE_CAMPAIGN = ("name", "audience", "offer", "message_zh", "message_en", "channels",
                     "schedule", "control_pct")
COLUMNS = {
    "#checked-in": ("time", "table", "guest", "allergies", "notes"),
    "#results": ("name", "phone", "tier", "points", "stored_value"),
    "#segment-members": ("name", "phone", "birthday", "tier"),
    "#device-table": ("name", "role", "last_seen", "state"),
    "#campaign-table": ("name", "kind", "schedule", "state", "last_run"),
}


def yuan(fen: int | None) -> str:
    return "-" if fen is None else f"{fen / 100:.2f}元"


def to_fen(text: str) -> int:
    """Yuan as typed by a cashier (12, 12.5, 12.50) to integer fen."""
    text = text.strip().replace("元", "").replace("¥", "")
    if not text:
        return 0
    whole, _, part = text.partition(".")
    if (not whole.isdigit() and whole != "") or not (part.isdigit() or part == "") or len(part) > 2:
        raise ValueError(f"not an amount: {text!r}")
    return int(whole or 0) * 100 + int((part + "00")[:2])


def parse_lines(text: str) -> list[Json]:
    """`宫保鸡丁 2 48` per line: name (may contain spaces), quantity, unit price in yuan."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) < 3 or not parts[-2].isdigit():
            raise ValueError(f"line {number}: write `dish qty price`, e.g. `宫保鸡丁 2 48`")
        lines.append({"dish": " ".join(parts[:-2]), "qty": int(parts[-2]),
                      "unit_price_fen": to_fen(parts[-1])})
    if not lines:
        raise ValueError("no dishes on the bill")
    return lines


class ConsoleCommands(Provider):
    """The command palette: every section, the language switch and device chores."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, ConsoleApp)
        matcher = self.matcher(query)
        commands: list[tuple[str, Callable[[], Any]]] = [
            (f"{app.t(tab)} ({tab})", lambda tab=tab: app.action_show_tab(tab))
            for tab in ("dashboard", "members", "checkout", "lists", "campaigns", "devices",
                        "reports")]
        commands += [(f"{app.t('language')} (language)", app.action_toggle_language),
                     (f"{app.t('test_page')} (printer)", app.action_test_page)]
        for text, callback in commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback)


class ConsoleApp(App[None]):
    TITLE = "老客 laoke"
    CSS = """
    Screen { layout: vertical; }
    .figures { height: auto; }
    .figure { width: 1fr; height: 4; border: round $primary; padding: 0 1; }
    .panel { border: round $secondary; padding: 0 1; height: auto; }
    .row { height: auto; }
    .row Input { width: 1fr; }
    .row Button { margin-left: 1; }
    #results { height: 8; }
    #checked-in { height: 1fr; min-height: 5; }
    #lines { height: 6; }
    #report-chart { height: 20; }
    #profile { height: auto; }
    .allergy { color: $error; text-style: bold; }
    DataTable { height: auto; max-height: 16; }
    """
    COMMANDS: ClassVar = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search /", id="search", tooltip="Member search"),
        Binding("question_mark", "help", "Keys ?", id="help", tooltip="List the keys"),
        Binding("f1", "show_tab('dashboard')", "Dashboard", id="tab-dashboard"),
        Binding("f2", "show_tab('members')", "Members", id="tab-members"),
        Binding("f3", "show_tab('checkout')", "Checkout", id="tab-checkout"),
        Binding("f4", "show_tab('lists')", "Lists", id="tab-lists"),
        Binding("f5", "show_tab('campaigns')", "Campaigns", id="tab-campaigns"),
        Binding("f6", "show_tab('devices')", "Devices", id="tab-devices"),
        Binding("f7", "show_tab('reports')", "Reports", id="tab-reports"),
        Binding("f9", "toggle_language", "中/EN", id="language"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, client: HubClient, clock: Clock = system_clock,
                 language: str | None = None, timezone: str = "Asia/Shanghai",
                 events: bool = True, export_dir: Path | None = None) -> None:
        super().__init__()
        # Where exported reports land: on the machine the console runs on.
        self.export_dir = export_dir or Path.cwd() / "laoke-reports"
        self.client = client
        self.clock = clock
        self.language = language or default_language()
        self.tz = ZoneInfo(timezone)
        self.follow_events = events
        self.member: Json | None = None
        self.last_event_id: int | None = None
        self.templates: list[Json] = []
        self.campaigns: dict[str, Json] = {}
        self.receipt_text = ""

    def t(self, key: str) -> str:
        return STRINGS[self.language].get(key, key)

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.t
        yield Header(show_clock=False)
        with TabbedContent(initial="dashboard", id="tabs"):
            with TabPane(t("dashboard"), id="dashboard"), VerticalScroll():
                with Horizontal(classes="figures"):
                    for key in ("covers", "revenue", "orders", "returning"):
                        yield Static("…", id=f"fig-{key}", classes="figure")
                yield Static("", id="status", classes="panel")
                yield Label(t("checked_in"))
                yield DataTable(id="checked-in", cursor_type="row")
            with TabPane(t("members"), id="members"), VerticalScroll():
                yield Input(placeholder=t("search"), id="search")
                yield DataTable(id="results", cursor_type="row")
                yield Static(t("no_member"), id="profile", classes="panel")
                yield Static("", id="ledgers", classes="panel")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("notes"), id="edit-notes")
                    yield Input(placeholder=t("allergies"), id="edit-allergies")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("seat"), id="edit-seat")
                    yield Input(placeholder=f"{t('birthday')} YYYY-MM-DD", id="edit-birthday")
                    yield Input(placeholder=t("tags"), id="edit-tags")
                    yield Label(t("vip"))
                    yield Switch(id="edit-vip")
                    yield Button(t("save"), id="save", variant="primary")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("amount_yuan"), id="topup-amount")
                    yield Input(placeholder=t("bonus_yuan"), id="topup-bonus")
                    yield Button(t("top_up"), id="topup")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("card"), id="card-number")
                    yield Button(t("link"), id="link-card")
                    yield Button(t("block"), id="block-card", variant="error")
                with Horizontal(classes="row"):
                    yield Select[str]([], prompt=t("template"), id="member-template")
                    yield Button(t("send_coupon"), id="member-coupon")
            with TabPane(t("checkout"), id="checkout"), VerticalScroll():
                yield Static(t("no_member"), id="checkout-member", classes="panel")
                yield Label(t("lines_hint"))
                yield TextArea(id="lines")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("redeem_points"), id="pay-points")
                    yield Input(placeholder=t("coupon_code"), id="pay-coupon")
                    yield Input(placeholder=t("pay_stored_value"), id="pay-stored")
                    yield Button(t("charge"), id="charge", variant="success")
                yield Label(t("receipt_preview"))
                yield Static("", id="receipt", classes="panel")
            with TabPane(t("lists"), id="lists"), VerticalScroll():
                with Horizontal(classes="row"):
                    yield Select[str]([(t("lapsed"), "lapsed"), (t("birthdays"), "birthday")],
                                      value="lapsed", allow_blank=False, id="segment")
                    yield Input(placeholder=t("days"), id="segment-days")
                    yield Button(t("load"), id="load-segment")
                with Horizontal(classes="row"):
                    yield Select[str]([], prompt=t("template"), id="list-template")
                    yield Button(t("send_coupon"), id="list-coupon", variant="primary")
                yield Static("", id="segment-count")
                yield DataTable(id="segment-members", cursor_type="row")
            with TabPane(t("campaigns"), id="campaigns"), VerticalScroll():
                yield DataTable(id="campaign-table", cursor_type="row")
                with Horizontal(classes="row"):
                    yield Button(t("switch"), id="campaign-toggle")
                    yield Button(t("run_now"), id="campaign-run", variant="primary")
                    yield Button(t("results"), id="campaign-results")
                yield Static("", id="campaign-detail", classes="panel")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("campaign_json"), id="campaign-edit")
                    yield Button(t("save"), id="campaign-save", variant="primary")
                with Horizontal(classes="row"):
                    yield Input(placeholder=t("rules"), id="rules")
                    yield Button(t("preview"), id="preview")
                yield Static("", id="preview-count")
            with TabPane(t("devices"), id="devices"), VerticalScroll():
                yield DataTable(id="device-table", cursor_type="row")
                with Horizontal(classes="row"):
                    yield Select[str]([(r, r) for r in ROLES], value="waiter",
                                      allow_blank=False, id="pair-role")
                    yield Button(t("pair"), id="pair")
                    yield Button(t("revoke"), id="revoke", variant="error")
                    yield Button(t("test_page"), id="test-page")
                yield Static("", id="pair-code", classes="panel")
                yield Static("", id="hardware", classes="panel")
            with TabPane(t("reports"), id="reports"), VerticalScroll():
                with Horizontal(classes="row"):
                    yield Select[str]([(name, name) for name in REPORTS], value="dishes",
                                      allow_blank=False, id="report-name")
                    yield Input(placeholder=t("from"), id="report-from")
                    yield Input(placeholder=t("to"), id="report-to")
                    yield Button(t("load"), id="load-report", variant="primary")
                    yield Button(t("export"), id="export-report")
                yield PlotextPlot(id="report-chart")
                yield DataTable(id="report-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.populate()
        if self.follow_events:
            self.follow_hub()
        self.set_interval(30, self.refresh_dashboard)

    def populate(self) -> None:
        """Fill freshly composed widgets (at start, and after a language switch)."""
        self.title = self.t("title")
        for selector in COLUMNS:
            self.table(selector)
        self.refresh_dashboard()
        self.load_templates()
        self.load_devices()

    # -- plumbing --------------------------------------------------------------------------

    def fail(self, error: HubError) -> None:
        self.notify(error.message, severity="error", timeout=6)

    def call(self, fn: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run one hub call in a worker thread and hand the answer back to the screen."""

        def job() -> None:
            try:
                result = fn()
            except HubError as error:
                self.call_from_thread(self.fail, error)
                return
            self.call_from_thread(self.deliver, then, result)

        self.run_worker(job, thread=True, group="hub")

    def deliver(self, then: Callable[[Any], None], result: Any) -> None:
        """Show an answer; one that arrives while the screen is rebuilt (a language switch)
        has nowhere to go and is dropped: the rebuilt screen asks again."""
        with contextlib.suppress(NoMatches):
            then(result)

    def table(self, selector: str) -> DataTable[Any]:
        """A table with its (translated) columns, however early an answer arrives."""
        table = self.query_one(selector, DataTable)
        if not table.columns:
            table.add_columns(*(self.t(key) for key in COLUMNS[selector]))
        return table

    def tier_name(self, member: Json) -> str:
        return str(member["tier_name"] if self.language == "zh-CN" else member["tier_name_en"])

    def local_time(self, iso: str | None, fmt: str = "%H:%M") -> str:
        if not iso:
            return "-"
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(self.tz) \
            .strftime(fmt)

    # -- actions ---------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        # Drop focus first: a focused widget in the old pane would pull its tab back.
        self.set_focus(None)
        self.query_one("#tabs", TabbedContent).active = tab

    def action_search(self) -> None:
        self.action_show_tab("members")
        self.query_one("#search", Input).focus()

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def action_toggle_language(self) -> None:
        self.language = "en" if self.language == "zh-CN" else "zh-CN"
        await self.recompose()
        self.set_focus(None)  # typing keys (`?`, `/`) are commands again, not text
        self.populate()
        if self.member:
            self.show_member(self.member)

    def action_test_page(self) -> None:
        self.call(self.client.print_test, lambda job: self.notify(
            f"{self.t('test_page')}: {job['state']}"))

    # -- dashboard ---------------------------------------------------------------------------

    def refresh_dashboard(self) -> None:
        self.call(lambda: (self.client.dashboard(), self.client.health()), self.show_dashboard)

    def show_dashboard(self, answers: tuple[Json, Json]) -> None:
        board, health = answers
        today, before = board["today"], board["same_day_last_week"]
        returning = (today["returning_orders"] * 100 // today["member_orders"]
                     if today["member_orders"] else 0)
        figures = {
            "covers": f"{today['covers']}  ({change_pct(today['covers'], before['covers'])})",
            "revenue": f"{yuan(today['revenue_fen'])}  "
                       f"({change_pct(today['revenue_fen'], before['revenue_fen'])})",
            "orders": f"{today['orders']}  ({change_pct(today['orders'], before['orders'])})",
            "returning": f"{returning}%   {self.t('new_members')} {today['new_members']}",
        }
        for key, text in figures.items():
            self.query_one(f"#fig-{key}", Static).update(f"{self.t(key)}\n{text}")
        table = self.table("#checked-in")
        table.clear()
        for visit in board["checked_in"]:
            self.add_checkin_row(visit, at=visit.get("at"), end=True)
        printers = ", ".join(
            f"{p['name']}: {self.t('online') if p['ready'] is not False else p['problem']}"
            for p in health["printers"])
        readers = ", ".join(
            f"{r['station']}: {self.t('online') if r['connected'] else self.t('offline')}"
            for r in health["readers"]) or self.t("none")
        hq = health["sync"]["broker"] or self.t("offline")
        self.query_one("#status", Static).update(
            f"{self.t('hub')} {health['store_name']} ({health['store_id']}) v{health['version']}"
            f"   {self.t('hq')}: {hq}   {self.t('backlog')}: {health['sync']['backlog']}\n"
            f"{self.t('printers')}: {printers}   {self.t('queue')}: "
            f"{health['print_queue']['waiting']}   {self.t('readers')}: {readers}   "
            f"{self.t('devices')}: {board['devices_online']}")

    def add_checkin_row(self, visit: Json, at: str | None = None, end: bool = False) -> None:
        table = self.table("#checked-in")
        member = visit.get("member") or {}
        notes = " ".join(filter(None, [member.get("spice_label"), *member.get("avoid", []),
                                       member.get("notes", "")]))
        row = (self.local_time(at or self.clock().isoformat()), visit["table"],
               member.get("name") or self.t("walk_in"),
               "、".join(member.get("allergies", [])) or "-", notes or "-")
        if visit["visit_id"] in table.rows:
            return
        table.add_row(*row, key=visit["visit_id"])
        if not end:
            table.move_cursor(row=table.row_count - 1)

    @work(thread=True, group="events", exclusive=True)
    def follow_hub(self) -> None:
        """Live events; reconnect with Last-Event-ID after a drop, so nothing is missed."""
        worker = get_current_worker()
        lost = False
        while not worker.is_cancelled:
            try:
                for event in self.client.events(self.last_event_id):
                    if lost:
                        self.call_from_thread(self.notify, self.t("link_back"))
                        lost = False
                    self.last_event_id = event["id"]
                    self.call_from_thread(self.deliver, self.on_hub_event, event)
            except HubError:
                if not lost and not worker.is_cancelled:
                    self.call_from_thread(self.notify, self.t("link_lost"),
                                          severity="warning")
                lost = True
            if not worker.is_cancelled:
                time.sleep(1.0)

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "events")
        self.client.stop_events()

    def on_hub_event(self, event: Json) -> None:
        kind, data = event["type"], event["data"]
        if kind == "checkin.created":
            self.add_checkin_row(data, at=event["ts"])
            self.refresh_dashboard()
        elif kind == "checkout.completed":
            self.refresh_dashboard()
        elif kind == "card.read":
            who = data["member"]["name"] if data.get("member") else data["message"]
            self.notify(f"{self.t('card_read')} @ {data['station']}: {who}")
        elif kind == "print.job" and data["state"] == "waiting":
            self.notify(f"{self.t('printers')}: {data['last_error']}", severity="warning")

    # -- members -----------------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def search_as_you_type(self, event: Input.Changed) -> None:
        query = event.value.strip()
        if query:
            self.run_search(query)
        else:
            self.table("#results").clear()

    @work(thread=True, exclusive=True, group="search")
    def run_search(self, query: str) -> None:
        try:
            found = self.client.search(query, limit=20)
        except HubError as error:
            self.call_from_thread(self.fail, error)
            return
        self.call_from_thread(self.deliver, self.show_results, found)

    def show_results(self, found: list[Json]) -> None:
        table = self.table("#results")
        table.clear()
        for member in found:
            table.add_row(member["name"] or "-", member["phone"] or "-",
                          self.tier_name(member), str(member["points_balance"]),
                          yuan(member["stored_value_fen"]), key=member["id"])

    @on(DataTable.RowSelected, "#results")
    @on(DataTable.RowSelected, "#segment-members")
    def open_member(self, event: DataTable.RowSelected) -> None:
        member_id = str(event.row_key.value)
        self.call(lambda: self.client.member(member_id), self.show_member)

    def show_member(self, member: Json) -> None:
        self.member = member
        t = self.t
        coupons = ", ".join(f"{c['name']} {c['code']}" for c in member["usable_coupons"])
        favourites = "、".join(f"{d['dish']}×{d['qty']}" for d in member["favourite_dishes"])
        cards = ", ".join(f"{c['number']} ({c['status']})" for c in member["cards"])
        allergies = "、".join(member["allergies"])
        text = (
            f"[b]{member['name'] or '-'}[/b]  {member['phone'] or ''}  "
            f"{self.tier_name(member)}{'  VIP' if member['vip'] else ''}\n"
            f"{t('points')} {member['points_balance']}   {t('stored_value')} "
            f"{yuan(member['stored_value_fen'])}   {t('birthday')} {member['birthday'] or '-'}"
            f"{'  🎂' if member.get('birthday_today') else ''}\n"
            f"{t('allergies')}: [b red]{allergies or t('none')}[/]   {t('spice')}: "
            f"{member.get('spice_label') or '-'}   {t('avoid')}: "
            f"{'、'.join(member['avoid']) or '-'}\n"
            f"{t('notes')}: {member['notes'] or '-'}   {t('seat')}: "
            f"{member['seat_preference'] or '-'}   {t('tags')}: {', '.join(member['tags']) or '-'}"
            f"\n{t('last_visit')}: {self.local_time(member.get('last_visit_at'), '%Y-%m-%d')}"
            f"   {t('favourites')}: {favourites or '-'}\n"
            f"{t('coupons')}: {coupons or '-'}   {t('card')}: {cards or '-'}")
        self.query_one("#profile", Static).update(text)
        self.query_one("#ledgers", Static).update("…")
        member_id = member["id"]
        self.call(lambda: (self.client.points(member_id), self.client.stored_value(member_id),
                           self.client.history(member_id)), self.show_ledgers)
        self.query_one("#edit-notes", Input).value = member["notes"]
        self.query_one("#edit-allergies", Input).value = ", ".join(member["allergies"])
        self.query_one("#edit-seat", Input).value = member["seat_preference"]
        self.query_one("#edit-birthday", Input).value = member["birthday"] or ""
        self.query_one("#edit-tags", Input).value = ", ".join(member["tags"])
        self.query_one("#edit-vip", Switch).value = member["vip"]
        self.query_one("#checkout-member", Static).update(
            f"{member['name']} {member['phone']}  {self.tier_name(member)}  {t('points')} "
            f"{member['points_balance']}  {t('stored_value')} "
            f"{yuan(member['stored_value_fen'])}  {t('allergies')}: {allergies or '-'}")

    def show_ledgers(self, answers: tuple[Json, Json, Json]) -> None:
        points, stored, history = answers
        day = lambda iso: self.local_time(iso, "%m-%d")  # noqa: E731

        def line(label: str, items: list[str]) -> str:
            return f"[b]{self.t(label)}[/b] " + ("  ".join(items) or "-")

        self.query_one("#ledgers", Static).update("\n".join([
            line("points", [f"{day(e['created_at'])} {e['kind']} {e['delta']:+d}"
                            for e in points["entries"][-5:]]),
            line("stored_value", [f"{day(e['created_at'])} {e['kind']} {yuan(e['amount_fen'])}"
                                  for e in stored["entries"][-5:]]),
            line("visits", [f"{day(v['visited_at'])} {v['table_no']}×{v['party_size']}"
                            for v in history["visits"][:6]]),
            line("orders", [f"{day(o['created_at'])} {yuan(o['total_fen'] - o['discount_fen'])}"
                            for o in history["orders"][:6]]),
        ]))

    def _member_id(self) -> str | None:
        if self.member is None:
            self.notify(self.t("no_member"), severity="warning")
            return None
        return str(self.member["id"])

    @on(Button.Pressed, "#save")
    def save_member(self) -> None:
        member_id = self._member_id()
        if member_id is None:
            return
        split = lambda text: [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]  # noqa: E731
        changes = {
            "notes": self.query_one("#edit-notes", Input).value,
            "allergies": split(self.query_one("#edit-allergies", Input).value),
            "seat_preference": self.query_one("#edit-seat", Input).value,
            "birthday": self.query_one("#edit-birthday", Input).value or None,
            "tags": split(self.query_one("#edit-tags", Input).value),
            "vip": self.query_one("#edit-vip", Switch).value,
        }

        def saved(member: Json) -> None:
            self.show_member(member)
            self.notify(self.t("saved"))

        self.call(lambda: self.client.update_member(member_id, changes), saved)

    @on(Button.Pressed, "#topup")
    def top_up(self) -> None:
        member_id = self._member_id()
        if member_id is None:
            return
        try:
            amount = to_fen(self.query_one("#topup-amount", Input).value)
            bonus = to_fen(self.query_one("#topup-bonus", Input).value)
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        self.call(lambda: self.client.top_up(member_id, amount, bonus), lambda _: (
            self.notify(self.t("topped_up")), self.reload_member()))

    def reload_member(self) -> None:
        if self.member is not None:
            member_id = self.member["id"]
            self.call(lambda: self.client.member(member_id), self.show_member)

    @on(Button.Pressed, "#link-card")
    def link_card(self) -> None:
        member_id = self._member_id()
        number = self.query_one("#card-number", Input).value.strip()
        if member_id and number:
            self.call(lambda: self.client.link_card(member_id, number), lambda member: (
                self.notify(self.t("linked")), self.show_member(member)))

    @on(Button.Pressed, "#block-card")
    def block_card(self) -> None:
        number = self.query_one("#card-number", Input).value.strip()
        if number:
            self.call(lambda: self.client.block_card(number, "lost (console)"), lambda _: (
                self.notify(self.t("blocked")), self.reload_member()))

    def load_templates(self) -> None:
        def show(templates: list[Json]) -> None:
            self.templates = templates
            options = [(t["name"], t["id"]) for t in templates if t["active"]]
            for select_id in ("#member-template", "#list-template"):
                self.query_one(select_id, Select).set_options(options)

        self.call(self.client.templates, show)

    @on(Button.Pressed, "#member-coupon")
    def send_member_coupon(self) -> None:
        member_id = self._member_id()
        template = self.query_one("#member-template", Select).value
        if member_id and isinstance(template, str):
            self.call(lambda: self.client.send_coupon(template, member_id, "console"),
                      lambda coupon: (self.notify(f"{self.t('sent')}: {coupon['code']}"),
                                      self.reload_member()))

    # -- checkout ----------------------------------------------------------------------------

    @on(Button.Pressed, "#charge")
    def charge(self) -> None:
        try:
            lines = parse_lines(self.query_one("#lines", TextArea).text)
            points_text = self.query_one("#pay-points", Input).value.strip()
            points = int(points_text) if points_text else 0
            stored = to_fen(self.query_one("#pay-stored", Input).value)
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        body: Json = {"lines": lines, "redeem_points": points, "stored_value_fen": stored,
                      "print": True}
        if self.member is not None:
            body["member_id"] = self.member["id"]
        code = self.query_one("#pay-coupon", Input).value.strip()
        if code:
            body["coupon_code"] = code
        key = str(uuid.uuid4())  # one key per press: a retried request never charges twice

        def done(result: Json) -> None:
            job = result.get("print_job") or {}
            self.receipt_text = job.get("preview", "")
            self.query_one("#receipt", Static).update(self.receipt_text)
            self.notify(f"{self.t('printed')}: {yuan(result['due_fen'])}")
            self.query_one("#lines", TextArea).text = ""
            for field in ("#pay-points", "#pay-coupon", "#pay-stored"):
                self.query_one(field, Input).value = ""
            self.reload_member()
            self.refresh_dashboard()

        self.call(lambda: self.client.checkout(body, key), done)

    # -- lists -------------------------------------------------------------------------------

    @on(Button.Pressed, "#load-segment")
    def load_segment(self) -> None:
        name = str(self.query_one("#segment", Select).value)
        days_text = self.query_one("#segment-days", Input).value.strip()
        days = int(days_text) if days_text.isdigit() else None
        self.call(lambda: self.client.segment(name, days), self.show_segment)

    def show_segment(self, segment: Json) -> None:
        self.query_one("#segment-count", Static).update(f"{segment['count']}")
        table = self.table("#segment-members")
        table.clear()
        for member in segment["members"]:
            table.add_row(member["name"] or "-", member["phone"] or "-",
                          member["birthday"] or "-", self.tier_name(member), key=member["id"])

    @on(Button.Pressed, "#list-coupon")
    def send_list_coupon(self) -> None:
        table = self.table("#segment-members")
        template = self.query_one("#list-template", Select).value
        if not table.row_count or not isinstance(template, str):
            return
        member_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.call(lambda: self.client.send_coupon(template, member_id, "console list"),
                  lambda coupon: self.notify(f"{self.t('sent')}: {coupon['code']}"))

    # -- campaigns ---------------------------------------------------------------------------

    def load_campaigns(self) -> None:
        self.call(self.client.campaigns, self.show_campaigns)

    def show_campaigns(self, campaigns: list[Json]) -> None:
        self.campaigns = {c["id"]: c for c in campaigns}
        table = self.table("#campaign-table")
        table.clear()
        for campaign in campaigns:
            schedule = campaign["schedule"]
            when = schedule["run"] + (f" {schedule['at']}" if schedule["run"] == "daily" else "")
            table.add_row(campaign["name"], campaign["kind"], when,
                          self.t("on") if campaign["active"] else self.t("off"),
                          self.local_time(campaign["last_run_at"], "%m-%d %H:%M"),
                          key=campaign["id"])

    def chosen_campaign(self) -> str | None:
        table = self.table("#campaign-table")
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @on(Button.Pressed, "#campaign-toggle")
    def toggle_campaign(self) -> None:
        campaign_id = self.chosen_campaign()
        if campaign_id is None:
            return
        row = self.table("#campaign-table").get_row(campaign_id)
        active = row[3] == self.t("off")
        self.call(lambda: self.client.update_campaign(campaign_id, {"active": active}),
                  lambda _: self.load_campaigns())

    @on(Button.Pressed, "#campaign-run")
    def run_campaign(self) -> None:
        campaign_id = self.chosen_campaign()
        if campaign_id is None:
            return

        def done(run: Json) -> None:
            self.notify(f"{self.t('audience')} {run['audience']}: {self.t('treated')} "
                        f"{run['treated']}, {self.t('control')} {run['control']}")
            self.load_campaigns()
            self.show_results_of(campaign_id)

        self.call(lambda: self.client.run_campaign(campaign_id), done)

    @on(Button.Pressed, "#campaign-results")
    @on(DataTable.RowSelected, "#campaign-table")
    def campaign_results(self) -> None:
        campaign_id = self.chosen_campaign()
        if campaign_id is not None:
            self.show_results_of(campaign_id)

    @on(DataTable.RowHighlighted, "#campaign-table")
    def campaign_to_edit(self) -> None:
        campaign = self.campaigns.get(self.chosen_campaign() or "", {})
        editable = {k: campaign[k] for k in EDITABLE_CAMPAIGN if k in campaign}
        self.query_one("#campaign-edit", Input).value = json.dumps(editable, ensure_ascii=False)

    @on(Button.Pressed, "#campaign-save")
    def save_campaign(self) -> None:
        campaign_id = self.chosen_campaign()
        if campaign_id is None:
            return
        try:
            changes = json.loads(self.query_one("#campaign-edit", Input).value)
        except ValueError as error:
            self.notify(f"JSON: {error}", severity="error")
            return
        self.call(lambda: self.client.update_campaign(campaign_id, changes), lambda _: (
            self.notify(self.t("saved")), self.load_campaigns()))

    def show_results_of(self, campaign_id: str) -> None:
        self.call(lambda: self.client.campaign_results(campaign_id), self.show_campaign_results)

    def show_campaign_results(self, results: Json) -> None:
        t = self.t
        lines = [f"[b]{results['campaign']['name']}[/b]"]
        m = results["messages"]
        lines.append(f"{t('messages')}: {m['sent_total']} ✓ {m['delivered']} ✓✓ "
                     f"{m['failed']} ✗ {m['skipped']} – {m['queued'] + m['held']} …")
        for arm in ("treated", "control"):
            a = results["arms"][arm]
            lines.append(f"{t(arm)}: {t('guests')} {a['guests']} · {t('redeemed')} "
                         f"{a['coupons_redeemed']}/{a['coupons_issued']} · {t('returned')} "
                         f"{a['returned']} ({a['return_rate']:.1%}) · {t('spend')} "
                         f"{yuan(a['spend_fen'])}")
        if results["lift"]:
            lines.append(f"{t('lift')}: {results['lift']['return_rate_pts']:+.2f} pts · "
                         f"{yuan(results['lift']['spend_per_guest_fen'])}/{t('guests')}")
        self.query_one("#campaign-detail", Static).update("\n".join(lines))

    @on(Button.Pressed, "#preview")
    @on(Input.Submitted, "#rules")
    def preview_rules(self) -> None:
        text = self.query_one("#rules", Input).value.strip() or "{}"
        try:
            rules = json.loads(text)
        except ValueError as error:
            self.notify(f"JSON: {error}", severity="error")
            return
        self.call(lambda: self.client.preview(rules), lambda found: self.query_one(
            "#preview-count", Static).update(f"{self.t('audience')}: {found['count']}"))

    # -- devices -----------------------------------------------------------------------------

    def load_devices(self) -> None:
        self.call(lambda: (self.client.devices(), self.client.health()), self.show_devices)

    def show_devices(self, answers: tuple[list[Json], Json]) -> None:
        devices, health = answers
        table = self.table("#device-table")
        table.clear()
        for device in devices:
            state = "revoked" if device["revoked_at"] else self.t("online")
            table.add_row(device["name"], device["role"],
                          self.local_time(device["last_seen_at"], "%m-%d %H:%M"), state,
                          key=device["id"])
        lines = [f"{self.t('printers')}: " + "; ".join(
            f"{p['name']} {p['url']} {p['width']}mm "
            f"{'✓' if p['ready'] is not False else p['problem']} ({p['waiting_jobs']})"
            for p in health["printers"])]
        lines.append(f"{self.t('readers')}: " + ("; ".join(
            f"{r['station']} {r['url']} {r['protocol']} "
            f"{self.t('online') if r['connected'] else self.t('offline')}"
            for r in health["readers"]) or self.t("none")))
        self.query_one("#hardware", Static).update("\n".join(lines))

    @on(Button.Pressed, "#pair")
    def new_pairing_code(self) -> None:
        role = str(self.query_one("#pair-role", Select).value)
        self.call(lambda: self.client.pairing_code(role), lambda code: self.query_one(
            "#pair-code", Static).update(
            f"{self.t('pairing_code')}: [b]{code['code']}[/b] ({role})\n{code['pair_url']}"))

    @on(Button.Pressed, "#revoke")
    def revoke_device(self) -> None:
        table = self.table("#device-table")
        if not table.row_count:
            return
        device_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.call(lambda: self.client.revoke(device_id), lambda _: self.load_devices())

    @on(Button.Pressed, "#test-page")
    def test_page(self) -> None:
        self.action_test_page()

    # -- reports -----------------------------------------------------------------------------

    def report_query(self) -> tuple[str, str | None, str | None]:
        return (str(self.query_one("#report-name", Select).value),
                self.query_one("#report-from", Input).value.strip() or None,
                self.query_one("#report-to", Input).value.strip() or None)

    @on(Button.Pressed, "#load-report")
    def load_report(self) -> None:
        name, start, end = self.report_query()
        self.call(lambda: self.client.report(name, start, end), self.show_report)

    def show_report(self, result: Json) -> None:
        found = tables(result)
        columns, rows = next(iter(found.values())) if found else ([], [])
        table = self.query_one("#report-table", DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        for row in rows[:200]:
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
                plt.xticks(range(1, len(series.labels) + 1), series.labels)
            else:  # a grid: a line per row
                for label, values in zip(series.labels, series.values, strict=True):
                    plt.plot(values, label=str(label))
        plot.refresh()

    @on(Button.Pressed, "#export-report")
    def export_report(self) -> None:
        name, start, end = self.report_query()
        folder = self.export_dir

        def save() -> list[Path]:
            folder.mkdir(exist_ok=True)
            saved = []
            for fmt in ("xlsx", "png"):
                try:
                    data = self.client.report_file(name, fmt, start, end)
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

    @on(TabbedContent.TabActivated)
    def tab_opened(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "devices":
            self.load_devices()
        elif event.pane.id == "campaigns":
            self.load_campaigns()
        elif event.pane.id == "reports":
            self.load_report()
        elif event.pane.id == "dashboard":
            self.refresh_dashboard()


def run_console(client: HubClient, **options: Any) -> None:
    ConsoleApp(client, **options).run()
