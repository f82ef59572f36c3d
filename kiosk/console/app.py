"""The console's App: its keys, its tabs, its language, the hub client and the event stream.

It talks to the hub only through `HubClient` (HTTP and the event stream), so it runs on the
hub's screen, over SSH, or on any machine on the LAN. Every call runs in a worker thread and
comes back to the screen through `call_from_thread`: the interface never waits on the network.
What each tab shows and does is its pane's (`panes/`); the App routes between them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, TabbedContent
from textual.worker import get_current_worker

from hub.domain.clock import Clock, system_clock

from ..client import HubClient, HubError
from ..i18n import STRINGS, default_language
from .messages import Charged, GuestShown, OpenGuest
from .panes import PANES, CheckoutPane, DashboardPane, MembersPane, Pane
from .panes.base import T
from .screens import RatingAlert, ShiftScreen
from .widgets import TemplateSelect

Json = dict[str, Any]


class ConsoleCommands(Provider):
    """The command palette: every section, the language switch and device chores."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, ConsoleApp)
        matcher = self.matcher(query)
        commands: list[tuple[str, Callable[[], Any]]] = [
            (f"{app.t(pane.KEY)} ({pane.KEY})", partial(app.action_show_tab, pane.KEY))
            for pane in PANES]
        commands += [(f"{app.t('sign_in')} (shift)", app.action_shift),
                     (f"{app.t('language')} (language)", app.action_toggle_language),
                     (f"{app.t('test_page')} (printer)", app.action_test_page)]
        for text, callback in commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback)


class ConsoleApp(App[None]):
    TITLE = "老客 laoke"
    CSS_PATH = "console.tcss"
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
        Binding("f8", "show_tab('menu')", "Menu", id="tab-menu"),
        Binding("f9", "toggle_language", "中/EN", id="language"),
        # Not in the footer (its keys are the tabs'): listed by `?` and the command palette.
        Binding("f10", "shift", "Sign in / switch", id="shift", show=False,
                tooltip="Staff sign in with a PIN at this console"),
        Binding("f11", "show_tab('stock')", "Stock", id="tab-stock", show=False,
                tooltip="Stock on hand, days left, what to buy, the count variance"),
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
        self.last_event_id: int | None = None
        self.shift: Json | None = None  # who is signed in at this console

    # -- language ----------------------------------------------------------------------------

    def t(self, key: str) -> str:
        return STRINGS[self.language].get(key, key)

    def tier_name(self, member: Mapping[str, Any]) -> str:
        return str(member["tier_name"] if self.language == "zh-CN" else member["tier_name_en"])

    def local_time(self, iso: str | None, fmt: str = "%H:%M") -> str:
        if not iso:
            return "-"
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(self.tz) \
            .strftime(fmt)

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with TabbedContent(initial="dashboard", id="tabs"):
            for pane in PANES:
                yield pane(self.t(pane.KEY))
        yield Footer()

    def on_mount(self) -> None:
        self.populate()
        self.call(self.client.current_shift, self.on_shift)
        if self.follow_events:
            self.follow_hub()

    def populate(self) -> None:
        """What the panes share, for freshly composed ones (at start, after a language
        switch): the title, and the coupon templates, asked for once for every picker."""
        self.title = self.t("title")

        def show(templates: list[Json]) -> None:
            for select in self.query(TemplateSelect):
                select.show(templates)

        self.call(self.client.templates, show)

    # -- plumbing --------------------------------------------------------------------------

    def fail(self, error: HubError) -> None:
        self.notify(error.message, severity="error", timeout=6)

    def call(self, fn: Callable[[], T], then: Callable[[T], None]) -> None:
        """Run one hub call in a worker thread and hand the answer back to the screen."""

        def job() -> None:
            try:
                result = fn()
            except HubError as error:
                self.call_from_thread(self.fail, error)
                return
            self.call_from_thread(self.deliver, then, result)

        self.run_worker(job, thread=True, group="hub")

    def deliver(self, then: Callable[[T], None], result: T) -> None:
        """Show an answer; one that arrives while the screen is rebuilt (a language switch)
        has nowhere to go and is dropped: the rebuilt screen asks again."""
        with contextlib.suppress(NoMatches):
            then(result)

    # -- actions ---------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        # Drop focus first: a focused widget in the old pane would pull its tab back.
        self.set_focus(None)
        self.query_one("#tabs", TabbedContent).active = tab

    def action_search(self) -> None:
        self.action_show_tab("members")
        self.query_one(MembersPane).focus_search()

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def action_toggle_language(self) -> None:
        self.language = "en" if self.language == "zh-CN" else "zh-CN"
        member = self.query_one(MembersPane).member  # the guest on screen stays on screen
        await self.recompose()
        self.set_focus(None)  # typing keys (`?`, `/`) are commands again, not text
        self.populate()
        if member:
            self.query_one(MembersPane).show_member(member)

    def action_shift(self) -> None:
        self.push_screen(ShiftScreen(self.shift))

    def on_shift(self, shift: Json | None) -> None:
        """Who works at this console now: what it does is theirs (the hub keeps the shift)."""
        self.shift = shift
        self.sub_title = f"{self.t('on_shift')}: {shift['staff']['name']}" if shift else ""

    def action_test_page(self) -> None:
        self.call(self.client.print_test, lambda job: self.notify(
            f"{self.t('test_page')}: {job['state']}"))

    # -- between panes -------------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def tab_opened(self, event: TabbedContent.TabActivated) -> None:
        if isinstance(event.pane, Pane):
            event.pane.opened()

    @on(OpenGuest)
    def open_guest(self, message: OpenGuest) -> None:
        self.query_one(MembersPane).open(message.member_id)

    @on(GuestShown)
    def bill_guest(self, message: GuestShown) -> None:
        self.query_one(CheckoutPane).bill_to(message.member)

    @on(Charged)
    def charged(self) -> None:
        self.query_one(MembersPane).reload()
        self.query_one(DashboardPane).load()

    # -- the hub's events --------------------------------------------------------------------

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
        for pane in self.query(Pane):
            pane.hub_event(event)
        if kind == "card.read":
            who = data["member"]["name"] if data.get("member") else data["message"]
            self.notify(f"{self.t('card_read')} @ {data['station']}: {who}")
        elif kind == "print.job" and data["state"] == "waiting":
            self.notify(f"{self.t('printers')}: {data['last_error']}", severity="warning")
        elif kind == "feedback.low":  # service recovery while the guest is still there
            self.notify(f"{self.t('low_rating')}: {self.t('table')} {data['table_no'] or '-'} "
                        f"{data['rating']}★", severity="error", timeout=30)
            self.push_screen(RatingAlert(data))


def run_console(client: HubClient, **options: Any) -> None:
    ConsoleApp(client, **options).run()
