"""HQ's chain-wide books: every store's events replayed into one store database.

Ids are unique across stores, so one database holds the whole chain, and every report a
store has (dishes, hours, cohorts, staff, ...) runs over all stores at once. It catches up
from HQ's event log when a report is asked for, never on the path that applies events.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.domain.config import CONFIG_NAME, Settings, load_settings, new_settings
from hub.domain.replica import HQ_ORIGIN, UNAPPLIABLE, apply_event, record_conflict
from hub.domain.restore import restore_event
from hub.domain.store import Store
from hub.workers import ThreadWorker

from .hq import HqBook
from .hq.db import SQLITE, parse_url, without_password

CHAIN_ID = "chain"
PAGE = 2_000
CATCH_UP_EVERY_S = 5.0  # how far behind HQ's apply the chain books run
HQ_DB = "hq.db"
HQ_DB_URL = "hq-db.url"  # the database of an HQ home whose book is not its hq.db


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
def chain_books(home: Path, db: str | None = None) -> Iterator[Store]:
    """Every store's books in one store database, caught up with all HQ has applied: what
    a chain report or an export at HQ reads, in the same tables as a store's."""
    book = hq_book(home, db)
    try:
        with open_chain(home) as chain:
            catch_up(chain, book)
            yield chain
    finally:
        book.conn.close()


def hq_settings(home: Path) -> Settings:
    """HQ's own settings: its laoke.toml, if there is one (its time zone, and the chain's
    SMS account for the texts HQ sends for the stores)."""
    settings = load_settings(home) if (home / CONFIG_NAME).exists() else new_settings(CHAIN_ID)
    settings.store_id = CHAIN_ID
    return settings


def open_chain(home: Path) -> Store:
    """The chain database in HQ's home."""
    return Store(home / "chain.db", hq_settings(home))


def catch_up(chain: Store, book: HqBook) -> int:
    """Replay what HQ applied since last time; returns how many events were replayed. The
    position is read in the transaction that moves it: the chain-books worker and a report
    catching up at once replay nothing twice."""
    done = 0
    while True:
        with chain.write():
            position = int(chain.meta("chain_position") or 0)
            rows = book.conn.execute(
                "SELECT hq_seq, store_id, seq, id, type, ts, data FROM hq_events "
                "WHERE hq_seq > ? ORDER BY hq_seq LIMIT ?", (position, PAGE)).fetchall()
            if not rows:
                return done
            for row in rows:
                event = {"store": row["store_id"], "seq": row["seq"], "id": row["id"],
                         "type": row["type"], "ts": row["ts"], "data": json.loads(row["data"])}
                try:
                    with chain.write():  # a savepoint: one event that cannot apply is set aside
                        if event["store"] == HQ_ORIGIN:
                            apply_event(chain, event)
                        else:
                            restore_event(chain, event)
                except UNAPPLIABLE as error:
                    record_conflict(chain, event, f"not in the chain books: {error}")
            chain.set_meta("chain_position", str(rows[-1]["hq_seq"]))
        done += len(rows)


class ChainBooks(ThreadWorker):
    """`laoke hq run --chain-books`: the HQ home's chain books kept caught up while HQ
    applies, a few seconds behind, so a chain report (`laoke hq report NAME`, an export at
    HQ) reads books already kept instead of replaying what came since it was last asked.
    Off the path that applies events: a report never slows a store's stream."""

    name = "chain books"

    def __init__(self, home: Path, book: HqBook, every_s: float = CATCH_UP_EVERY_S) -> None:
        super().__init__()
        self.home, self.url, self.clock, self.every_s = home, book.url, book.clock, every_s
        self.book: HqBook | None = None
        self.chain: Store | None = None
        self.replayed = 0

    def begin(self) -> None:
        self.book = HqBook(self.url, self.clock)  # this thread's own connections
        self.chain = open_chain(self.home)

    def step(self, stop: threading.Event) -> float:
        assert self.book is not None and self.chain is not None
        self.replayed += catch_up(self.chain, self.book)
        return self.every_s

    def end(self) -> None:
        if self.chain is not None:
            self.chain.close()
        if self.book is not None:
            self.book.conn.close()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "replayed": self.replayed}
