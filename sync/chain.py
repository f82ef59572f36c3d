"""HQ's chain-wide books: every store's events replayed into one store database.

Ids are unique across stores, so one database holds the whole chain, and every report a
store has (dishes, hours, cohorts, staff, ...) runs over all stores at once. It catches up
from HQ's event log when a report is asked for, never on the path that applies events.

A region's books are the same, over the stores HQ files under it (`laoke hq regions`): its
stores' events, and the guests who came to them from elsewhere, brought in with their member
events when they first come and followed after (an update, an erasure). A store moved to
another region rebuilds the books of both from HQ's log.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.domain.config import CONFIG_NAME, Settings, load_settings, new_settings, parse_settings
from hub.domain.ids import HQ_ORIGIN
from hub.domain.replica import UNAPPLIABLE, apply_event, record_conflict
from hub.domain.restore import restore_event
from hub.domain.store import Store
from hub.workers import ThreadWorker

from .hq import HqBook
from .hq.book import marks
from .hq.db import SQLITE, parse_url, without_password

CHAIN_ID = "chain"
PAGE = 2_000
CATCH_UP_EVERY_S = 5.0  # how far behind HQ's apply the chain books run
HQ_DB = "hq.db"
HQ_DB_URL = "hq-db.url"  # the database of an HQ home whose book is not its hq.db
REGIONS_DIR = "regions"  # each region's books, in the HQ home
REGION_STORES_KEY = "region_stores"  # hub_meta of a region's books: the stores they are of
# What a guest carries from store to store: replayed into a region's books for the guests
# who came to its stores, wherever they joined.
MEMBER_EVENTS = ("member.created", "member.updated", "member.erased", "card.linked",
                 "card.blocked")


def is_hq_home(home: Path) -> bool:
    """A home `laoke hq` keeps its book in: its commands speak for the whole chain."""
    return (home / HQ_DB).exists() or (home / HQ_DB_URL).exists()


def hq_book(home: Path, db: str | None = None) -> HqBook:
    """The HQ home's book: in `db` when given (and then, once it opened, remembered in the
    home without its password, so every later `laoke hq` command and `laoke export` there
    find it), else in the one remembered, else in the home's hq.db."""
    home.mkdir(parents=True, exist_ok=True)
    remembered = home / HQ_DB_URL
    if not db:
        return HqBook(remembered.read_text(encoding="utf-8").strip()
                      if remembered.exists() else home / HQ_DB)
    engine, target = parse_url(db)
    if engine == SQLITE:
        db = f"sqlite:///{Path(target).resolve()}"
    book = HqBook(db)
    remembered.write_text(without_password(db) + "\n", encoding="utf-8")
    return book


@contextmanager
def chain_books(home: Path, db: str | None = None, region: str | None = None
                ) -> Iterator[Store]:
    """Every store's books in one store database, caught up with all HQ has applied: what
    a chain report or an export at HQ reads, in the same tables as a store's. With `region`,
    the books of that region's stores only (ValueError: no store is filed under it)."""
    book = hq_book(home, db)
    try:
        if region is None:
            with open_chain(home) as chain:
                catch_up(chain, book)
                yield chain
            return
        stores = book.region_stores(region)
        with open_region(home, region, stores) as books:
            catch_up(books, book, stores)
            yield books
    finally:
        book.conn.close()


# What of LAOKE_* HQ reads without a laoke.toml: what it sends with and when; a hub's own
# variables (its store id, chain key, ports) in the same environment are not HQ's.
HQ_VARIABLES = ("LAOKE_MESSAGING_", "LAOKE_CAMPAIGNS_")


def hq_settings(home: Path) -> Settings:
    """HQ's own settings: its laoke.toml, if there is one (its time zone, and the chain's
    accounts for the messages HQ sends for the stores), and LAOKE_* in its environment over
    it, file or not, where a service keeps the accounts' secrets (HQ_VARIABLES)."""
    settings = load_settings(home) if (home / CONFIG_NAME).exists() else parse_settings(
        new_settings(CHAIN_ID).model_dump(), "HQ's environment", {
            name: value for name, value in os.environ.items()
            if name.startswith(HQ_VARIABLES) or name in ("LAOKE_TIMEZONE", "LAOKE_LOCALE")})
    settings.store_id = CHAIN_ID
    return settings


def open_chain(home: Path, path: Path | None = None) -> Store:
    """The chain database in HQ's home (or a region's, at `path`)."""
    return Store(path or home / "chain.db", hq_settings(home))


def open_region(home: Path, region: str, stores: Sequence[str]) -> Store:
    """A region's books, begun again when the stores filed under it are not those they were
    kept for (a store moved in or out)."""
    folder = home / REGIONS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(region.encode()).hexdigest()[:16]}.db"
    wanted = ",".join(sorted(stores))
    books = open_chain(home, path)
    if books.meta(REGION_STORES_KEY) not in (None, wanted):
        books.close()
        for stale in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        books = open_chain(home, path)
    with books.write():
        books.set_meta(REGION_STORES_KEY, wanted)
        books.set_meta("region", region)
    return books


def _guest_of(event: dict[str, Any]) -> str | None:
    """The guest an event is about, if any."""
    data = event["data"]
    value = data.get("id" if event["type"].startswith("member.") else "member_id") \
        if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _event(row: Any) -> dict[str, Any]:
    return {"store": row["store_id"], "seq": row["seq"], "id": row["id"], "type": row["type"],
            "ts": row["ts"], "data": json.loads(row["data"])}


def _replay(chain: Store, event: dict[str, Any]) -> None:
    try:
        with chain.write():  # a savepoint: one event that cannot apply is set aside
            if event["store"] == HQ_ORIGIN:
                apply_event(chain, event)
            else:
                restore_event(chain, event)
    except UNAPPLIABLE as error:
        record_conflict(chain, event, f"not in the chain books: {error}")


def _known(chain: Store, guest: str) -> bool:
    return chain.scalar("SELECT 1 FROM members WHERE id = ?", (guest,)) is not None


def _bring_in(chain: Store, book: HqBook, guest: str, before: int) -> None:
    """A guest from another region's store comes to this region: their member events so
    far, so what they did here has someone to belong to."""
    conn = book.conn
    rows = conn.execute(
        f"SELECT hq_seq, store_id, seq, id, type, ts, data FROM hq_events WHERE hq_seq < ? "
        f"AND type IN ({marks(list(MEMBER_EVENTS))}) AND ({conn.json_text('data', 'id')} = ? "
        f"OR {conn.json_text('data', 'member_id')} = ?) ORDER BY hq_seq",
        (before, *MEMBER_EVENTS, guest, guest)).fetchall()
    for row in rows:
        event = _event(row)
        if _guest_of(event) == guest:
            _replay(chain, event)


def catch_up(chain: Store, book: HqBook, stores: Sequence[str] | None = None) -> int:
    """Replay what HQ applied since last time; returns how many events were replayed. The
    position is read in the transaction that moves it: the chain-books worker and a report
    catching up at once replay nothing twice. With `stores`, a region's books: their events,
    HQ's own, and the member events of the guests who came to them."""
    done = 0
    ours = set(stores or ())
    where, args = "", []
    if stores is not None:
        where = (f" AND (store_id IN ({marks(list(ours))}) OR store_id = ? OR type IN "
                 f"({marks(list(MEMBER_EVENTS))}))")
        args = [*sorted(ours), HQ_ORIGIN, *MEMBER_EVENTS]
    while True:
        with chain.write():
            position = int(chain.meta("chain_position") or 0)
            rows = book.conn.execute(
                "SELECT hq_seq, store_id, seq, id, type, ts, data FROM hq_events "
                f"WHERE hq_seq > ?{where} ORDER BY hq_seq LIMIT ?",
                (position, *args, PAGE)).fetchall()
            if not rows:
                return done
            for row in rows:
                event = _event(row)
                guest = _guest_of(event) if stores is not None else None
                if stores is not None and event["store"] not in ours | {HQ_ORIGIN}:
                    if guest is None or not _known(chain, guest):
                        continue  # a guest who never came to this region's stores
                elif guest is not None and not _known(chain, guest):
                    _bring_in(chain, book, guest, row["hq_seq"])
                _replay(chain, event)
            chain.set_meta("chain_position", str(rows[-1]["hq_seq"]))
        done += len(rows)


class ChainBooks(ThreadWorker):
    """`laoke hq run --chain-books`: the HQ home's chain books, and each region's, kept
    caught up while HQ applies, a few seconds behind, so a chain report (`laoke hq report
    NAME [--region R]`, an export at HQ) reads books already kept instead of replaying what
    came since it was last asked. Off the path that applies events: a report never slows a
    store's stream."""

    name = "chain books"

    def __init__(self, home: Path, book: HqBook, every_s: float = CATCH_UP_EVERY_S) -> None:
        super().__init__()
        self.home, self.url, self.clock, self.every_s = home, book.url, book.clock, every_s
        self.book: HqBook | None = None
        self.chain: Store | None = None
        self.regions: dict[str, tuple[list[str], Store]] = {}
        self.replayed = 0

    def begin(self) -> None:
        self.book = HqBook(self.url, self.clock)  # this thread's own connections
        self.chain = open_chain(self.home)

    def step(self, stop: threading.Event) -> float:
        assert self.book is not None and self.chain is not None
        self.replayed += catch_up(self.chain, self.book)
        filed: dict[str, list[str]] = {}
        for store_id, region in self.book.regions().items():
            filed.setdefault(region, []).append(store_id)
        for region in set(self.regions) - set(filed):  # no store is filed there any more
            self.regions.pop(region)[1].close()
        for region, stores in filed.items():
            kept = self.regions.get(region)
            if kept is None or kept[0] != stores:  # new, or a store moved in or out
                if kept is not None:
                    kept[1].close()
                kept = self.regions[region] = (stores, open_region(self.home, region, stores))
            catch_up(kept[1], self.book, stores)
        return self.every_s

    def end(self) -> None:
        for _, books in self.regions.values():
            books.close()
        if self.chain is not None:
            self.chain.close()
        if self.book is not None:
            self.book.conn.close()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "replayed": self.replayed, "regions": len(self.regions)}
