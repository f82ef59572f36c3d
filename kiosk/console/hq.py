"""HQ's console (`laoke hq console`): the whole fleet on one screen, the stores that need a
person first.

It reads HQ's book (SQLite or PostgreSQL) in a worker thread every few seconds, each time on
a connection of its own, so a slow database or one that went away never freezes the screen:
the last fleet it read stays up, marked stale, until the next read works.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Label, Static

from hub.domain.clock import from_iso
from hub.domain.money import yuan
from sync.hq import HqBook

from ..i18n import HQ_STRINGS, default_language

Json = dict[str, Any]
REFRESH_S = 5.0
ALARM_ORDER = ("stalled", "poison", "attention", "conflicts", "clock_skew")


@dataclass(frozen=True)
class Fleet:
    """One read of HQ's book: the fleet (`HqBook.stores()`, with each store's members,
    orders and revenue from `HqBook.report()`), the chain's totals and what a person must
    decide (`HqBook.flags()`)."""

    stores: list[Json]
    totals: Json
    flags: list[Json] = field(default_factory=list)

    @property
    def alarmed(self) -> list[Json]:
        return [s for s in self.stores if s["alarms"]]


def read_fleet(url: str) -> Fleet:
    """The fleet as HQ's book has it now, on a connection opened and closed for this read
    (the console's worker thread owns it)."""
    book = HqBook(url)
    try:
        sales = book.report()
        stores = [{**store, **sales["stores"].get(store["store_id"], {})}
                  for store in book.stores()]
        return Fleet(stores, sales["totals"], book.flags())
    finally:
        book.conn.close()


def needs_a_person_first(stores: list[Json]) -> list[Json]:
    """Stores with alarms first (the gravest alarm first), then the offline ones, then the
    rest, each group by store id: on a thousand stores the top of the table is the to-do."""
    def rank(store: Json) -> tuple[int, int, str]:
        alarms = [ALARM_ORDER.index(a) for a in store["alarms"] if a in ALARM_ORDER]
        return (min(alarms) if alarms else len(ALARM_ORDER), 0 if not store["online"] else 1,
                store["store_id"])
    return sorted(stores, key=rank)


class HqConsoleApp(App[None]):
    TITLE = "老客 laoke HQ"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="reload"),
        Binding("a", "alarms_only", "Alarms only", id="alarms-only"),
        Binding("f9", "toggle_language", "中/EN", id="language"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]
    DEFAULT_CSS = """
    #summary { height: auto; padding: 0 1; }
    #fleet { height: 2fr; }
    #flags-title { padding: 0 1; }
    #flags { height: 1fr; }
    """

    def __init__(self, read: Callable[[], Fleet], every_s: float = REFRESH_S,
                 language: str | None = None, timezone: str = "Asia/Shanghai") -> None:
        super().__init__()
        self.read = read
        self.every_s = every_s
        self.language = language or default_language()
        self.tz = ZoneInfo(timezone)
        self.fleet: Fleet | None = None
        self.stale: str | None = None  # why the fleet on screen is not today's
        self.alarms_only = False
        # Each read's number: reads run in threads and a slow one can finish after a newer
        # one (an exclusive worker's thread is not stopped), so an answer older than the one
        # shown is dropped.
        self.reads = itertools.count(1)
        self.shown = 0

    def t(self, key: str) -> str:
        return HQ_STRINGS[self.language].get(key, key)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Vertical():
            yield Static(self.t("reading"), id="summary")
            fleet: DataTable[str] = DataTable(id="fleet", zebra_stripes=True, cursor_type="row")
            fleet.add_columns(*(self.t(k) for k in (
                "store", "region", "state", "last_seen", "backlog", "applied", "version",
                "protocol", "orders", "revenue", "alarms")))
            yield fleet
            yield Label(self.t("flags"), id="flags-title")
            flags: DataTable[str] = DataTable(id="flags", cursor_type="row")
            flags.add_columns(*(self.t(k) for k in ("at", "kind", "subject", "detail")))
            yield flags
        yield Footer()

    def on_mount(self) -> None:
        self.dress()
        self.action_reload()
        self.set_interval(self.every_s, self.action_reload)

    def dress(self) -> None:
        """The title in the console's language, and the fleet held, if any."""
        self.title = self.t("title")
        self.show()

    @work(thread=True, exclusive=True, group="fleet")
    def action_reload(self) -> None:
        number = next(self.reads)
        try:
            fleet = self.read()
        except Exception as error:  # the database went away: say so, keep the last fleet
            self.call_from_thread(self.went_stale, f"{type(error).__name__}: {error}", number)
            return
        self.call_from_thread(self.arrived, fleet, number)

    def _newest(self, number: int) -> bool:
        """Whether the read numbered `number` is newer than what is shown (then it is)."""
        if number < self.shown:
            return False
        self.shown = number
        return True

    def arrived(self, fleet: Fleet, number: int) -> None:
        if not self._newest(number):
            return
        self.fleet, self.stale = fleet, None
        self.show()

    def went_stale(self, why: str, number: int) -> None:
        if not self._newest(number):
            return
        first = self.stale is None
        self.stale = why
        self.show()
        if first:
            self.notify(f"{self.t('cannot_read')}: {why}", severity="error", timeout=8)

    def action_alarms_only(self) -> None:
        self.alarms_only = not self.alarms_only
        self.show()

    async def action_toggle_language(self) -> None:
        self.language = "en" if self.language == "zh-CN" else "zh-CN"
        await self.recompose()
        self.dress()

    def local(self, iso: str | None) -> str:
        if not iso:
            return "-"
        return from_iso(iso).astimezone(self.tz).strftime("%m-%d %H:%M:%S")

    def show(self) -> None:
        """Paint the fleet held: nothing here waits on the database."""
        with contextlib.suppress(NoMatches):  # mid-recompose: the rebuilt screen paints
            summary = self.query_one("#summary", Static)
            fleet_table = self.query_one("#fleet", DataTable)
            flags_table = self.query_one("#flags", DataTable)
            if self.fleet is None:
                summary.update(self.t("cannot_read") + f": {self.stale}" if self.stale
                               else self.t("reading"))
                return
            fleet = self.fleet
            online = sum(1 for s in fleet.stores if s["online"])
            line = (f"{self.t('stores')} {len(fleet.stores)}  {self.t('online')} {online}  "
                    f"{self.t('offline')} {len(fleet.stores) - online}  "
                    f"{self.t('with_alarms')} {len(fleet.alarmed)}  "
                    f"{self.t('backlog')} {sum(s['backlog'] for s in fleet.stores)}  "
                    f"{self.t('orders')} {fleet.totals.get('orders', 0)}  "
                    f"{self.t('revenue')} {yuan(fleet.totals.get('revenue_fen', 0), ' 元')}")
            if self.stale:
                line += f"\n[b red]{self.t('stale')}[/]: {self.stale}"
            if self.alarms_only:
                line += f"  [b]({self.t('alarms_only')})[/]"
            summary.update(line)
            shown = fleet.alarmed if self.alarms_only else fleet.stores
            fleet_table.clear()
            for store in needs_a_person_first(shown):
                fleet_table.add_row(
                    store["store_id"], store["region"] or "-",
                    self.t("online") if store["online"] else self.t("offline"),
                    self.local(store["last_seen"]), str(store["backlog"]),
                    str(store["applied_seq"]), store["version"] or "-",
                    str(store["schema"] or "-"), str(store.get("orders", 0)),
                    yuan(store.get("revenue_fen", 0)),
                    ", ".join(self.t(f"alarm_{a}") for a in store["alarms"]) or "-",
                    key=store["store_id"])
            flags_table.clear()
            for flag in fleet.flags:
                flags_table.add_row(self.local(flag["at"]), flag["kind"], flag["subject"],
                                    str(flag["detail"])[:120], key=str(flag["id"]))

def run_hq_console(url: str, every_s: float = REFRESH_S, language: str | None = None,
                   timezone: str = "Asia/Shanghai") -> None:
    HqConsoleApp(lambda: read_fleet(url), every_s, language, timezone).run()
