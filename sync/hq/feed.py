"""The feed every store pulls: the other stores' changes, in HQ's order, a page at a time.

A thousand stores pulling every two seconds ask, between them, for the same few seconds of
the chain five hundred times a second. Read and encoded for each pull, that was most of
HQ's work (measured: seven tenths of a worker, against a twentieth for applying): every
event of the span read, the relayed ones picked out in Python, decoded and encoded twice.
So a worker holds the recent span's relayed events in memory, each encoded once, and reads
only what committed since it last looked; a store further behind than the span gets its page
from the database, the relayed events picked out there. The data column is JSON as HQ wrote
it, so an event's JSON is put together around it, never decoded. An erasure another worker
applied reaches this worker's memory at its next look (FRESH_S): until then a store that has
not reached the erasure yet may still be served the guest's older events as they were.

Positions stay exact: HQ numbers its events under one writer at a time, each after every
number visible before (book.py, `_next_hq_seq`), so one statement that reads the events past
a position and the newest position at once misses nothing below the newest; a page that
ends there tells the store it has everything up to it.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from hub.domain.replica import ADDRESSED, RELAYED

from ..protocol import MAX_BATCH_BYTES, dumps
from .db import HqDb

FEED_PAGE = 500  # relayed events per page at most
SPAN = 10_000  # relayed events a worker holds (at a thousand busy stores, minutes of them)
FRESH_S = 0.05  # how long another worker's commits may wait to join this worker's feed
_TYPES = ", ".join(f"'{kind}'" for kind in RELAYED)
# The relayed events past a position (of every store but one, or of all: the second
# parameter is NULL), and, in the same snapshot, the newest position of any event: the left
# join keeps that row when no event is past it.
_PAST = (
    "WITH newest AS (SELECT COALESCE(MAX(hq_seq), 0) AS top FROM hq_events) "
    "SELECT newest.top, e.hq_seq, e.store_id, e.seq, e.id, e.type, e.ts, e.data "
    "FROM newest LEFT JOIN (SELECT hq_seq, store_id, seq, id, type, ts, data FROM hq_events "
    f"WHERE hq_seq > ? AND type IN ({_TYPES}) AND store_id <> COALESCE(?, '') "
    "ORDER BY hq_seq LIMIT ?) e ON TRUE ORDER BY e.hq_seq")


@dataclass(frozen=True, slots=True)
class Change:
    """One relayed event as a store reads it, encoded once."""

    position: int
    origin: str  # the store that wrote it (a store is not sent its own)
    kind: str
    only: str | None  # the one store it is for (ADDRESSED), else None; "" for no store
    encoded: bytes


def _changes(rows: list[Any]) -> tuple[int, list[Change]]:
    """The newest position, and the changes, of `_PAST`'s rows."""
    top = int(rows[0][0]) if rows else 0
    changes = []
    for _, position, origin, seq, id_, kind, ts, data in rows:
        if position is None:
            continue  # the newest position's row, with no event past it
        only = None
        if kind in ADDRESSED:
            addressed = json.loads(data).get("store")
            only = addressed if isinstance(addressed, str) else ""
        head = dumps({"store": origin, "seq": seq, "id": id_, "type": kind, "ts": ts})
        changes.append(Change(int(position), origin, kind, only,
                              head[:-1] + b',"data":' + data.encode() + b"}"))
    return top, changes


def _page(store_id: str, changes: list[Change], top: int, more: bool) -> bytes:
    """The page of `changes` (in order, past the store's position) for `store_id`: as many
    as fit in a page and in a broker's packet (always one). Its position is the last one's
    when it is full, else `top`, the newest position `changes` covers; `more` says whether
    anything is past `top`."""
    parts: list[bytes] = []
    size, last = 0, top
    for change in changes:
        if change.origin == store_id or change.only not in (None, store_id):
            continue
        size += len(change.encoded) + 1
        if parts and (size > MAX_BATCH_BYTES or len(parts) == FEED_PAGE):
            return _encoded(parts, last, True)
        parts.append(change.encoded)
        last = change.position
    return _encoded(parts, top, more)


def _encoded(parts: list[bytes], position: int, more: bool) -> bytes:
    return (b'{"events":[' + b",".join(parts) + b'],"position":' + str(position).encode() +
            b',"more":' + (b"true" if more else b"false") + b"}")


class Feed:
    """One worker's feed: the span of relayed events it holds, and the way to read the rest.

    Invariant: every relayed event with `floor` < position <= `top` is in `changes`."""

    def __init__(self, conn: HqDb) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.floor: int | None = None  # None: nothing held yet
        self.top = 0
        self.changes: list[Change] = []
        self.positions: list[int] = []
        self.read_at = 0.0
        self.stale = False  # this worker wrote events: read them before the next page

    def page(self, store_id: str, after: int) -> bytes:
        """The store's next page after its position, as JSON: `events`, `position`,
        `more`."""
        with self.lock:
            self._catch_up()
            if self.floor is not None and after >= self.floor:
                start = bisect.bisect_right(self.positions, after)
                return _page(store_id, self.changes[start:], max(self.top, after),
                             self.stale)  # a burst past SPAN: more waits to be read
        top, changes = _changes(self.conn.execute(_PAST, (after, store_id, FEED_PAGE))
                                .fetchall())
        full = len(changes) == FEED_PAGE  # more past it, maybe
        return _page(store_id, changes, changes[-1].position if full else max(top, after),
                     full)

    def _catch_up(self) -> None:
        """Read what committed since the last look (at most every FRESH_S, unless this
        worker wrote): one statement, whatever the number of stores pulling."""
        now = time.monotonic()
        if self.floor is not None and not self.stale and now - self.read_at < FRESH_S:
            return
        self.read_at, self.stale = now, False
        if self.floor is None:
            self.floor = self.top = int(self.conn.execute(
                "SELECT COALESCE(MAX(hq_seq), 0) FROM hq_events").fetchone()[0])
            return
        top, changes = _changes(self.conn.execute(_PAST, (self.top, None, SPAN)).fetchall())
        if len(changes) == SPAN:  # a burst bigger than the span: the rest at the next look
            top, self.stale = changes[-1].position, True
        # An erasure rewrote the guest's events (in its transaction): what is held of them must
        # not be served again.
        if any(c.kind == "member.erased" for c in changes):
            self.floor, self.top, self.changes, self.positions = top, top, [], []
            return
        self.changes.extend(changes)
        self.positions.extend(c.position for c in changes)
        self.top = max(self.top, top)
        if len(self.changes) > SPAN:
            drop = len(self.changes) - SPAN
            self.floor = self.positions[drop - 1]
            del self.changes[:drop], self.positions[:drop]
