"""HQ's books: every store's events applied once, in order, and the chain's rules on them
(spends of stored value and points approved against the chain by the rule in
hub/domain/authority.py, coupons redeemed twice flagged, pushes, reports).
The receiver (`receiver.py`) only carries messages between the broker and these books."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.domain.authority import STORED_VALUE, Asset, hq_authorise, hq_schema, hq_settle
from hub.domain.clock import Clock, from_iso, system_clock, to_iso
from hub.domain.config import STORE_ID_PATTERN
from hub.domain.ids import HQ_ORIGIN, new_id
from hub.domain.members import JOIN_KEYS, redacted_data

from ..protocol import PROTOCOL, dumps, fitting, hello_topic, store_of
from .db import HqDb, open_db, without_password
from .feed import FEED_PAGE, Feed
from .relay import RELAY_COLUMNS, RELAY_SCHEMA, take_relayed
from .wechat import WECHAT_SCHEMA, take_wechat

log = logging.getLogger(__name__)
QUIET_S = 5.0  # a store that says it wrote more than HQ has, and sent nothing this long: ask
STALL_S = 60.0  # a store that wrote more than HQ applied, and nothing came this long: stalled
SKEW_S = 120.0  # a store's clock this far from HQ's is an alarm (its times in reports lie)
# The events that carry a guest's personal data, by the field naming the guest: what an
# erasure redacts in HQ's history (hub/domain/members.py's redacted_data).
PERSONAL = (("id", ("member.created", "member.updated")),
            ("member_id", ("card.linked", "card.blocked", "message.relayed", "wechat.follower",
                           "wechat.event", *JOIN_KEYS)))
SEEN_EVERY_S = 10.0  # how often a store's pulls update what the fleet view shows of it
# Added after the tables' first release (hq_stores: what a person must look at, the
# protocol the store speaks, its incarnation and the install that is it, and what the fleet
# view shows (what it wrote, when HQ last heard it, its version, its clock's distance from
# HQ's, its conflicts); hq_events: the incarnation that wrote the event). Append only.
ADDED_COLUMNS = (("hq_stores", "attention", "TEXT"), ("hq_stores", "schema", "INTEGER"),
                 ("hq_stores", "epoch", "INTEGER"), ("hq_stores", "install", "TEXT"),
                 ("hq_events", "epoch", "INTEGER"), ("hq_stores", "top", "INTEGER"),
                 ("hq_stores", "seen_at", "TEXT"), ("hq_stores", "version", "TEXT"),
                 ("hq_stores", "skew_s", "REAL"), ("hq_stores", "conflicts", "INTEGER"),
                 # a platform's order it ended, and what it paid back of one it did not
                 ("hq_orders", "ended", "INTEGER NOT NULL DEFAULT 0"),
                 ("hq_orders", "refunded_fen", "INTEGER NOT NULL DEFAULT 0"),
                 *RELAY_COLUMNS)

# The events HQ holds of a store at these seqs. One IN list, not IN ... OR seq = ?: with the
# OR, SQLite read every event the store ever sent (its (store_id, seq) index unused), so
# each batch cost more the longer the store's history, 60 ms after 100,000 events.
SEEN = "SELECT seq, id FROM hq_events WHERE store_id = ? AND seq IN ({})"

HQ_SCHEMA = """
CREATE TABLE IF NOT EXISTS hq_stores (
    store_id TEXT PRIMARY KEY, applied_seq INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0, status_at TEXT, last_event_at TEXT,
    gap_from INTEGER);  -- and ADDED_COLUMNS (added in HqBook.__init__)
CREATE TABLE IF NOT EXISTS hq_events (
    hq_seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- HQ's own order: the feed stores read
    store_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    ts TEXT NOT NULL, data TEXT NOT NULL, applied_at TEXT NOT NULL,
    UNIQUE (store_id, seq));
CREATE INDEX IF NOT EXISTS hq_events_id ON hq_events(store_id, id);
-- This HQ database's identity (hq_id): stores keep their events until every HQ has them.
CREATE TABLE IF NOT EXISTS hq_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hq_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB,
    reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hq_members (
    id TEXT PRIMARY KEY, home_store TEXT NOT NULL, erased INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS hq_orders (
    id TEXT PRIMARY KEY, store_id TEXT NOT NULL, member_id TEXT, total_fen INTEGER NOT NULL,
    discount_fen INTEGER NOT NULL, created_at TEXT NOT NULL);
-- The first redemption of every coupon HQ heard of; a second one from anywhere is a flag.
CREATE TABLE IF NOT EXISTS hq_redemptions (
    code TEXT PRIMARY KEY, store_id TEXT NOT NULL, order_id TEXT, redeemed_at TEXT);
-- What a person at HQ must look at, with what is needed to settle it (both receipts).
CREATE TABLE IF NOT EXISTS hq_flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT NOT NULL,
    detail TEXT NOT NULL, at TEXT NOT NULL);
-- Which region HQ files each store under (华东, 华北, ...): HQ's own grouping, set at HQ,
-- so a store can be filed before it ever connects.
CREATE TABLE IF NOT EXISTS hq_regions (store_id TEXT PRIMARY KEY, region TEXT NOT NULL);
"""




REGION_LONGEST = 40


def marks(values: list[Any]) -> str:
    """The placeholders of an `IN (...)` over `values` (none: a list nothing is in)."""
    return ", ".join("?" * len(values)) or "NULL"


class DeadLetter(Exception):
    pass


class HqBook:
    """HQ's database: what every store did, applied once."""

    def __init__(self, db: str | Path, clock: Clock = system_clock) -> None:
        """`db` is a SQLite file, `sqlite:///PATH` or `postgresql://...` (sync/hq/db.py)."""
        self.clock = clock
        self.url = str(db)  # for another connection to it (a partitioned worker's locks)
        self.where = without_password(str(db))  # for log lines: the database, no secret
        self.conn: HqDb = open_db(db)
        # and the spend rule's tables, and the texts HQ sends for the stores
        self.conn.script(HQ_SCHEMA + hq_schema() + RELAY_SCHEMA + WECHAT_SCHEMA)
        for table, column, kind in ADDED_COLUMNS:  # an HQ database from before these
            self.conn.add_column(table, column, kind)
        self.conn.execute("INSERT INTO hq_meta (key, value) VALUES ('hq_id', ?) "
                          "ON CONFLICT DO NOTHING", (new_id(),))
        if self.conn.execute("SELECT 1 FROM hq_meta WHERE key = 'orders_ended'"
                             ).fetchone() is None:  # the platforms' orders ended before
            self.conn.execute("UPDATE hq_orders SET ended = 1 WHERE id IN (SELECT "
                              f"{self.conn.json_text('data', 'order_id')} FROM hq_events "
                              "WHERE type = 'delivery.ended')")
            self.conn.execute("INSERT INTO hq_meta (key, value) VALUES ('orders_ended', '1') "
                              "ON CONFLICT DO NOTHING")
        self.hq_id = str(self.conn.execute(
            "SELECT value FROM hq_meta WHERE key = 'hq_id'").fetchone()[0])
        self.lock = threading.Lock()
        self.seen: dict[str, float] = {}  # store -> when its pull last updated the fleet view
        self.pages = Feed(self.conn)  # what the stores pull

    def _now(self) -> str:
        return to_iso(self.clock())

    @contextmanager
    def write(self) -> Iterator[HqDb]:
        with self.lock:
            self.conn.begin()
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def park(self, topic: str, payload: bytes, reason: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT INTO hq_dead_letters (topic, payload, reason, at) "
                         "VALUES (?, ?, ?, ?)", (topic, payload, reason, self._now()))

    def apply(self, topic: str, payload: bytes) -> tuple[str, int, int | None]:
        """Apply a batch; returns (store, applied_seq, first missing seq or None)."""
        store_id = store_of(topic)
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise DeadLetter(f"not JSON: {error}") from None
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise DeadLetter("not an event batch")
        if not isinstance(body.get("schema"), int) or store_id is None:
            raise DeadLetter(f"schema {body.get('schema')!r}: not a protocol this HQ knows")
        if body["schema"] > PROTOCOL:
            reason = (f"schema {body['schema']} is newer than this HQ knows ({PROTOCOL}): "
                      f"store {store_id}'s events wait at the store, and HQ approves no spend "
                      "for it; upgrade HQ")
            with self.write() as conn:  # no approvals for a store HQ cannot read
                conn.execute("INSERT INTO hq_stores (store_id, schema) VALUES (?, ?) "
                             "ON CONFLICT (store_id) DO UPDATE SET schema = "
                             "excluded.schema", (store_id, body["schema"]))
                self._needs_person(conn, store_id, reason, topic, payload)
                applied = conn.execute("SELECT applied_seq FROM hq_stores WHERE store_id = ?",
                                       (store_id,)).fetchone()[0]
            return store_id, applied, None
        if store_id is None or body.get("store") != store_id:
            raise DeadLetter(f"store {body.get('store')!r} published on {store_id!r}'s topic")
        events = body["events"]
        if not all(isinstance(e, dict) and isinstance(e.get("seq"), int) and
                   not isinstance(e["seq"], bool) for e in events):
            raise DeadLetter("an event without a seq: it has no place in the store's stream")
        events = sorted(events, key=lambda e: e["seq"])
        with self.write() as conn:
            conn.execute("INSERT INTO hq_stores (store_id) VALUES (?) ON CONFLICT DO NOTHING",
                         (store_id,))
            applied, epoch = conn.execute("SELECT applied_seq, epoch FROM hq_stores "
                                          "WHERE store_id = ?", (store_id,)).fetchone()
            refused = self._other_incarnation(conn, store_id, epoch, body.get("epoch")) or \
                self._second_writer(conn, store_id, events, applied, body.get("prev"))
            if refused is not None:
                self._needs_person(conn, store_id, refused, topic, payload)
                return store_id, applied, None
            # A batch says what this HQ acknowledged, as a pull does: a store that fills the
            # gap before its next pull must not hide that HQ went back to a backup.
            mine = self._acked_here(body.get("acked"))
            if mine is not None and mine > applied:
                self._flag_in(conn, "hq_behind", store_id,
                              {"acknowledged": mine, "held": applied}, "acknowledged")
            applied = self._gone(conn, store_id, applied, body.get("gone"))
            gap = None
            batch = []
            for event in events:
                if event["seq"] <= applied:
                    continue  # a duplicate: applied before
                if event["seq"] != applied + 1:
                    gap = applied + 1
                    break
                batch.append(event)
                applied = event["seq"]
            self._apply_batch(conn, topic, store_id, batch)
            conn.execute("UPDATE hq_stores SET applied_seq = ?, last_event_at = ?, gap_from = ? "
                         "WHERE store_id = ?", (applied, self._now(), gap, store_id))
        return store_id, applied, gap

    @staticmethod
    def _other_incarnation(conn: HqDb, store_id: str, current: int | None,
                           sent: Any) -> str | None:
        """Why a batch from another incarnation of the store is refused: an older one is a
        hub a restore replaced. A newer one means HQ went back to a backup from before that
        restore: the hub knows better, and HQ takes its word."""
        if current is None or sent == current:
            return None
        if isinstance(sent, int) and not isinstance(sent, bool) and sent > current:
            conn.execute("UPDATE hq_stores SET epoch = ? WHERE store_id = ?", (sent, store_id))
            return None
        return HqBook._replaced(store_id, sent, current)

    @staticmethod
    def _replaced(store_id: str, old: Any, current: int) -> str:
        return (f"a replaced hub (incarnation {old}) still writes as store {store_id}; "
                f"incarnation {current} is the store now: stop the old hub (what it wrote "
                "stays on it; what it sent is in hq_dead_letters)")

    @staticmethod
    def _second_writer(conn: HqDb, store_id: str, events: list[dict[str, Any]],
                       applied: int, prev: Any) -> str | None:
        """Why the batch comes from another hub numbering events under this store id (a
        cloned card): a seq HQ applied comes with another event id, the event the batch
        follows (`prev`) is not the one HQ applied there, or an event HQ holds comes again
        under another seq. HQ compares event ids, not seqs alone."""
        seqs = [*(e["seq"] for e in events), applied]
        have = {r[0]: r[1] for r in conn.execute(SEEN.format(marks(seqs)),
                                                  (store_id, *seqs)).fetchall()}
        sent = {e["seq"]: str(e.get("id")) for e in events}
        clash = next((seq for seq, id_ in sent.items() if seq <= applied and seq in have and
                      have[seq] != id_), None)
        if clash is not None:
            return (f"another hub writes as store {store_id}: seq {clash} came with event "
                    f"{sent[clash]}, HQ applied {have[clash]}; stop one of them")
        if events and events[0]["seq"] == applied + 1 and isinstance(prev, str) and \
                have.get(applied, prev) != prev:
            return (f"another hub writes as store {store_id}: its seq {applied + 1} follows "
                    f"event {prev}, HQ applied {have[applied]} at seq {applied}; stop one")
        new = [id_ for seq, id_ in sent.items() if seq > applied]
        again = conn.execute(f"SELECT seq, id FROM hq_events WHERE store_id = ? AND id IN "
                             f"({marks(new)})", (store_id, *new)).fetchone() if new else None
        if again is not None:
            return (f"another hub writes as store {store_id}: event {again[1]}, applied at "
                    f"seq {again[0]}, came again under a new seq; stop one of them")
        return None

    def _needs_person(self, conn: HqDb, store_id: str, reason: str,
                      topic: str, payload: bytes) -> None:
        """Park what a person must look at once (a resend of it is the same story) and mark
        the store; the log says it too."""
        known = conn.execute("SELECT attention FROM hq_stores WHERE store_id = ?",
                             (store_id,)).fetchone()[0]
        if (known or "")[:40] != reason[:40]:
            log.error("store %s: %s", store_id, reason)
            conn.execute("INSERT INTO hq_dead_letters (topic, payload, reason, at) "
                         "VALUES (?, ?, ?, ?)", (topic, payload, reason, self._now()))
            conn.execute("UPDATE hq_stores SET attention = ? WHERE store_id = ?",
                         (reason, store_id))

    def _gone(self, conn: HqDb, store_id: str, applied: int, gone: Any) -> int:
        """A store asked for events it no longer keeps (HQ restored from a backup older than
        the stores' retention) names them: an alarm for a person, and the stream goes on
        after them. Returns the new applied seq."""
        if not (isinstance(gone, list) and len(gone) == 2 and
                all(isinstance(n, int) and not isinstance(n, bool) for n in gone) and
                gone[0] <= applied + 1 <= gone[1]):
            return applied
        lost = (applied + 1, gone[1])
        reason = (f"events seq {lost[0]} to {lost[1]} of store {store_id} are lost at HQ: "
                  "HQ went back to a backup older than the store keeps what it sent "
                  "([chain] sent_retention_days); their effects are in the store's own books")
        log.error("%s", reason)
        conn.execute("INSERT INTO hq_flags (kind, subject, detail, at) VALUES "
                     "('events_lost', ?, ?, ?)", (store_id, json.dumps(
                         {"from_seq": lost[0], "to_seq": lost[1]}), self._now()))
        conn.execute("UPDATE hq_stores SET attention = ? WHERE store_id = ?",
                     (reason, store_id))
        return lost[1]

    def applied_id(self, store_id: str, seq: int) -> str | None:
        """The event id HQ applied at a store's seq: a hub that has another there is not
        the hub that sent it."""
        row = self.conn.execute("SELECT id FROM hq_events WHERE store_id = ? AND seq = ?",
                                (store_id, seq)).fetchone()
        return None if row is None else str(row[0])

    def _apply_batch(self, conn: HqDb, topic: str, store_id: str,
                     events: list[dict[str, Any]]) -> None:
        """The whole batch at once; if one event in it cannot apply, each on its own, and the
        one that cannot is parked once (its seq counts as done, so the stream flows on and
        the store is not asked for it again) and the store marked as needing a person."""
        conn.execute("SAVEPOINT batch")
        try:
            self._apply_all(conn, store_id, events)
        except self.conn.unappliable:
            conn.execute("ROLLBACK TO batch")
        else:
            conn.execute("RELEASE batch")
            return
        conn.execute("RELEASE batch")
        for event in events:
            conn.execute("SAVEPOINT event")
            try:
                if event.get("store") != store_id or not isinstance(event.get("type"), str):
                    raise ValueError("an event without a type, or of another store")
                self._apply_all(conn, store_id, [event])
            except self.conn.unappliable as error:
                conn.execute("ROLLBACK TO event")
                reason = (f"store {store_id} seq {event['seq']} ({event.get('type')}) cannot "
                          f"apply at HQ: {type(error).__name__}: {error}")
                conn.execute("INSERT INTO hq_dead_letters (topic, payload, reason, at) "
                             "VALUES (?, ?, ?, ?)", (topic, json.dumps(
                                 event, ensure_ascii=False).encode(), reason, self._now()))
                conn.execute("UPDATE hq_stores SET attention = ? WHERE store_id = ?",
                             (reason, store_id))
            conn.execute("RELEASE event")

    def _apply_all(self, conn: HqDb, store_id: str,
                   events: list[dict[str, Any]]) -> None:
        """Record the events and project the ones HQ's reports read, a batch at a time."""
        now = self._now()
        events = self._without_erased(conn, events)
        first = self._next_hq_seq(conn)
        conn.executemany(
            "INSERT INTO hq_events (hq_seq, store_id, seq, id, type, ts, data, applied_at, "
            "epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(first + n, store_id, e["seq"], str(e.get("id")), e["type"], str(e.get("ts")),
              json.dumps(e.get("data") or {}, ensure_ascii=False), now, e.get("epoch"))
             for n, e in enumerate(events)])
        data = [(e["type"], e.get("data") or {}) for e in events]
        conn.executemany(
            "INSERT INTO hq_members (id, home_store) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(d["id"], d.get("home_store", store_id)) for kind, d in data
             if kind == "member.created" and "id" in d])
        erased = [d["id"] for kind, d in data if kind == "member.erased" and "id" in d]
        conn.executemany(
            "INSERT INTO hq_members (id, home_store, erased) VALUES (?, ?, 1) "
            "ON CONFLICT (id) DO UPDATE SET erased = 1", [(i, store_id) for i in erased])
        for member_id in erased:
            self._redact(conn, member_id)
        conn.executemany(
            "INSERT INTO hq_orders (id, store_id, member_id, total_fen, discount_fen, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(d["id"], store_id, d.get("member_id"), int(d.get("total_fen", 0)),
              int(d.get("discount_fen", 0)), str(d.get("created_at")))
             for kind, d in data if kind == "order.created" and "id" in d])
        for kind, d in data:  # in the store's order: a join, then its undoing
            if kind == "order.member":
                conn.executemany("UPDATE hq_orders SET member_id = ? WHERE id = ? AND "
                                 "store_id = ?", [(d.get("member_id"), str(order), store_id)
                                                  for order in d["order_ids"]])
            elif kind == "delivery.ended":
                conn.execute("UPDATE hq_orders SET ended = 1 WHERE id = ? AND store_id = ?",
                             (str(d.get("order_id")), store_id))
            elif kind == "delivery.part_refunded":
                conn.execute("UPDATE hq_orders SET refunded_fen = refunded_fen + ? WHERE "
                             "id = ? AND store_id = ?",
                             (int(d.get("amount_fen", 0)), str(d.get("order_id")), store_id))
        self._redemptions(conn, store_id, data)
        hq_settle(conn, now, store_id, data)
        take_relayed(conn, self.change_in, store_id, now, data)
        for kind, d in data:
            take_wechat(conn, store_id, now, kind, d)

    def _next_hq_seq(self, conn: HqDb) -> int:
        """HQ's next position in the feed: after the last, and never before HQ's clock in
        microseconds. An HQ restored from a backup thus numbers what is new after every
        position it gave out before, so a store ahead of it in the feed skips nothing."""
        last = conn.execute("SELECT COALESCE(MAX(hq_seq), 0) FROM hq_events").fetchone()[0]
        self.pages.stale = True  # the feed reads what this worker writes at once
        return max(int(last) + 1, int(self.clock().timestamp() * 1_000_000))

    @staticmethod
    def _without_erased(conn: HqDb,
                        events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What a store that had not heard of a guest's erasure still sends of them (an
        edit, a card, a WeChat link) is kept as the erasure leaves it: nothing personal."""
        about = {kind: key for key, kinds in PERSONAL for kind in kinds}
        ids = [(e.get("data") or {}).get(about[e["type"]]) for e in events
               if e["type"] in about]
        if not ids:
            return events
        erased = {r[0] for r in conn.execute(
            f"SELECT id FROM hq_members WHERE erased = 1 AND id IN ({marks(ids)})", ids)}
        return [{**e, "data": redacted_data(e["type"], e["data"])}
                if e["type"] in about and e["data"].get(about[e["type"]]) in erased else e
                for e in events]

    @staticmethod
    def _redact(conn: HqDb, member_id: str) -> None:
        """An erasure reaches HQ's own history: the feed, restores and dead letters never
        serve the guest's personal data again. The events are rewritten here rather than
        in SQL, so both engines keep the same JSON."""
        for key, types in PERSONAL:
            rows = conn.execute(
                f"SELECT hq_seq, type, data FROM hq_events WHERE type IN "
                f"({marks(list(types))}) AND {conn.json_text('data', key)} = ?",
                (*types, member_id)).fetchall()
            conn.executemany("UPDATE hq_events SET data = ? WHERE hq_seq = ?", [
                (json.dumps(redacted_data(r[1], json.loads(r[2])), ensure_ascii=False), r[0])
                for r in rows])
        conn.execute("UPDATE hq_dead_letters SET payload = NULL, reason = reason || "
                     "' (payload removed: the guest was erased)' "
                     f"WHERE {conn.contains('payload')}", (member_id,))

    def authorise(self, store_id: str, member_id: str, amount: int, slice_cap: int = 0,
                  hold_id: str | None = None, asset: Asset = STORED_VALUE) -> dict[str, Any]:
        """The chain's word on a store's spend (hub/domain/authority.py); none at all for a
        store whose protocol HQ cannot read."""
        with self.write() as conn:
            spoken = conn.execute("SELECT schema FROM hq_stores WHERE store_id = ?",
                                  (store_id,)).fetchone()
            if spoken is not None and (spoken[0] or 0) > PROTOCOL:
                return {"approved": False, asset.key("available"): 0,
                        "error": f"the store speaks protocol {spoken[0]}, newer than this HQ "
                                 f"({PROTOCOL}) reads: upgrade HQ"}
            return hq_authorise(conn, self._now(), store_id, member_id, amount, slice_cap,
                                hold_id, asset)

    def _redemptions(self, conn: HqDb, store_id: str,
                     data: list[tuple[str, dict[str, Any]]]) -> None:
        """Record first redemptions; flag a coupon redeemed again (two stores offline)."""
        for kind, d in data:
            if kind != "coupon.redeemed" or "code" not in d:
                continue
            first = conn.execute("SELECT * FROM hq_redemptions WHERE code = ?",
                                 (d["code"],)).fetchone()
            if first is None:
                conn.execute("INSERT INTO hq_redemptions (code, store_id, order_id, "
                             "redeemed_at) VALUES (?, ?, ?, ?)",
                             (d["code"], store_id, d.get("order_id"), d.get("redeemed_at")))
                continue
            receipts = [self._receipt(conn, first["store_id"], first["order_id"]),
                        self._receipt(conn, store_id, d.get("order_id"))]
            conn.execute("INSERT INTO hq_flags (kind, subject, detail, at) VALUES (?, ?, ?, ?)",
                         ("coupon_redeemed_twice", d["code"],
                          json.dumps({"receipts": receipts}, ensure_ascii=False), self._now()))

    @staticmethod
    def _receipt(conn: HqDb, store_id: str, order_id: str | None) -> dict[str, Any]:
        """The order as its store sent it (lines and all), or what is known of it."""
        row = conn.execute("SELECT data FROM hq_events WHERE store_id = ? AND type = "
                           f"'order.created' AND {conn.json_text('data', 'id')} = ?",
                           (store_id, order_id)).fetchone()
        return json.loads(row["data"]) if row else {"store_id": store_id, "id": order_id}

    def publish_change(self, type_: str, data: dict[str, Any]) -> int:
        """A chain-wide change from HQ itself (a campaign, a coupon template): it joins the
        feed every store reads, after everything before it. Returns its HQ sequence."""
        with self.write() as conn:
            return self.change_in(conn, type_, data)

    def change_in(self, conn: HqDb, type_: str, data: dict[str, Any]) -> int:
        """`publish_change` inside the caller's write transaction."""
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM hq_events "
                           "WHERE store_id = ?", (HQ_ORIGIN,)).fetchone()[0]
        position = self._next_hq_seq(conn)
        conn.execute(
            "INSERT INTO hq_events (hq_seq, store_id, seq, id, type, ts, data, applied_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (position, HQ_ORIGIN, seq, new_id(), type_, self._now(),
             json.dumps(data, ensure_ascii=False), self._now()))
        return position

    def pushed_template(self, template_id: str) -> bool:
        """Whether HQ pushed this coupon template to the stores: a chain campaign may offer
        only one every store has."""
        return self.conn.execute(
            "SELECT 1 FROM hq_events WHERE type = 'coupon_template.created' "
            f"AND {self.conn.json_text('data', 'id')} = ?", (template_id,)).fetchone() is not None

    def stores(self) -> list[dict[str, Any]]:
        """The fleet: every store HQ knows, online or not, when HQ last heard from it, what
        it wrote and HQ has yet to apply (the backlog), its version and protocol, and its
        alarms: `stalled` (a backlog and nothing applied for STALL_S), `conflicts` (changes
        the store could not apply, waiting for a person there), `poison` (events parked
        here), `attention` (what else a person must look at: a second writer, events lost, a
        newer protocol), `clock_skew` (its clock SKEW_S or more from HQ's)."""
        parked: dict[str, list[str]] = {}
        for topic, reason in self.conn.execute("SELECT topic, reason FROM hq_dead_letters"):
            parked.setdefault(store_of(topic) or "", []).append(reason)
        now = self.clock()
        filed = self.regions()
        fleet = []
        for row in self.conn.execute("SELECT * FROM hq_stores ORDER BY store_id"):
            store = {**dict(row), "readable": (row["schema"] or 0) <= PROTOCOL,
                     "region": filed.get(row["store_id"])}
            seen = [t for t in (row["seen_at"], row["status_at"], row["last_event_at"]) if t]
            store["last_seen"] = max(seen, key=from_iso) if seen else None
            store["backlog"] = max(0, (row["top"] or 0) - row["applied_seq"])
            letters = parked.get(row["store_id"], [])
            store["dead_letters"] = len(letters)
            since = row["last_event_at"] or row["seen_at"]
            alarms = {
                "stalled": store["backlog"] > 0 and since is not None and
                (now - from_iso(since)).total_seconds() >= STALL_S,
                "conflicts": bool(row["conflicts"]),
                "poison": any("cannot apply at HQ" in r for r in letters),
                "attention": row["attention"] is not None,
                "clock_skew": row["skew_s"] is not None and abs(row["skew_s"]) >= SKEW_S}
            store["alarms"] = [name for name, on in alarms.items() if on]
            fleet.append(store)
        return fleet

    def flags(self) -> list[dict[str, Any]]:
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in self.conn.execute(
            "SELECT * FROM hq_flags ORDER BY id")]

    def feed(self, store_id: str, after: int) -> bytes:
        """The next page of other stores' changes for `store_id`, after its position, as
        JSON (`events`, `position`, `more`): sync/hq/feed.py."""
        return self.pages.page(store_id, after)

    def history(self, store_id: str, after: int, limit: int = FEED_PAGE) -> dict[str, Any]:
        """A page of the store's own events past `after`, for a replacement hub."""
        rows = self.conn.execute(
            "SELECT seq, id, type, ts, data FROM hq_events WHERE store_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?", (store_id, after, limit)).fetchall()
        applied = self.conn.execute("SELECT applied_seq FROM hq_stores WHERE store_id = ?",
                                    (store_id,)).fetchone()
        events = fitting([{"store": store_id, "seq": r["seq"], "id": r["id"], "type": r["type"],
                           "ts": r["ts"], "data": json.loads(r["data"])} for r in rows])
        return {"store": store_id, "applied_seq": applied[0] if applied else 0,
                "events": events, "more": len(rows) == limit or len(events) < len(rows)}

    def epoch(self, store_id: str) -> int | None:
        row = self.conn.execute("SELECT epoch FROM hq_stores WHERE store_id = ?",
                                (store_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def hello(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A hub says who it is: the answer is its incarnation, or why HQ refuses it.

        HQ issues incarnation 1 at a store's first contact (or to the hub that was the store
        before incarnations existed: it holds what HQ acknowledged), and a new one to a
        restore, which retires the hub before it. A fresh install under a known store id, and
        a replaced hub, are refused, and the store is marked for a person."""
        install, epoch = body.get("install"), body.get("epoch")
        if not isinstance(install, str) or not 0 < len(install) <= 64 or \
                not (epoch is None or (isinstance(epoch, int) and not isinstance(epoch, bool))):
            return {"install": install, "refused": "a hello needs an install id and an epoch"}
        protocol = body.get("protocol")
        with self.write() as conn:
            conn.execute("INSERT INTO hq_stores (store_id) VALUES (?) ON CONFLICT DO NOTHING",
                         (store_id,))
            if isinstance(protocol, int):
                conn.execute("UPDATE hq_stores SET schema = ? WHERE store_id = ?",
                             (protocol, store_id))
            row = conn.execute("SELECT epoch, install, applied_seq FROM hq_stores WHERE "
                               "store_id = ?", (store_id,)).fetchone()
            current, bound, applied = row[0], row[1], row[2]
            acked = body.get("acked")
            mine = acked.get(self.hq_id, acked.get("")) if isinstance(acked, dict) else None
            refused = attention = None
            if body.get("restore") is True:
                epoch = (current or 0) + 1
            elif current is None and (applied == 0 or mine == applied or epoch is not None):
                epoch = epoch or 1
            elif epoch is None and install != bound:
                refused = attention = (
                    f"another hub (a new install) says it is store {store_id}, which HQ "
                    f"knows{f' as incarnation {current}' if current else ''}: a replacement "
                    "hub is set up with `laoke hub restore --from-hq`, a new store takes a "
                    "new store id")
            elif epoch is None:
                epoch = current  # the answer to this hub's first hello was lost
            elif epoch < current:
                refused = (f"this hub was replaced: HQ knows store {store_id!r} as "
                           f"incarnation {current} (a restore), this hub is incarnation "
                           f"{epoch}; it sends and prunes nothing: stop it")
                attention = self._replaced(store_id, epoch, current)
            elif epoch == current and install != bound:
                refused = attention = (
                    f"another hub (install {install}) claims incarnation {epoch} of store "
                    f"{store_id}, which is install {bound}: stop one of them")
            if refused is not None and attention is not None:
                self._needs_person(conn, store_id, attention, hello_topic(store_id),
                                   dumps(body))
                return {"install": install, "refused": refused}
            conn.execute("UPDATE hq_stores SET epoch = ?, install = ? WHERE store_id = ?",
                         (epoch, install, store_id))
        return {"install": install, "epoch": epoch, "protocol": PROTOCOL}

    def pull(self, store_id: str, body: dict[str, Any]) -> tuple[bytes, int | None]:
        """A store's request for the next feed page, and the seq HQ asks it to send again
        from, if any. The request says what the store wrote and what this HQ acknowledged:
        an HQ holding less than it acknowledged went back to a backup (an alarm, and it asks
        for the rest); one that holds less than the store wrote, with nothing coming, asks."""
        after = int(body["after"])
        acked, top = body.get("acked"), body.get("top")
        self._seen(store_id, body)
        mine = self._acked_here(acked)
        row = self.conn.execute("SELECT applied_seq, last_event_at, schema FROM hq_stores "
                                "WHERE store_id = ?", (store_id,)).fetchone()
        applied = row[0] if row else 0
        resend = None
        if row is not None and (row[2] or 0) > PROTOCOL:
            pass  # what it sends cannot be read here: asking again only parks it again
        elif mine is not None and mine > applied:
            resend = applied + 1
            self._flag_once("hq_behind", store_id, {"acknowledged": mine, "held": applied},
                            "acknowledged")
        elif isinstance(top, int) and top > applied and (
                row is None or row[1] is None or
                (self.clock() - from_iso(row[1])).total_seconds() > QUIET_S):
            resend = applied + 1
        return self.feed(store_id, after), resend

    def _seen(self, store_id: str, pull: dict[str, Any]) -> None:
        """What a store's pull says for the fleet view (what it wrote, its clock, its
        conflicts), kept at most every SEEN_EVERY_S: a thousand stores pulling every two
        seconds would otherwise be a write each."""
        now = time.monotonic()
        if now - self.seen.get(store_id, -SEEN_EVERY_S) < SEEN_EVERY_S:
            return
        self.seen[store_id] = now
        top, conflicts = (pull.get(k) if isinstance(pull.get(k), int) and
                          not isinstance(pull.get(k), bool) else None
                          for k in ("top", "conflicts"))
        skew = None
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):  # no clock
            skew = round((from_iso(pull["ts"]) - self.clock()).total_seconds(), 1)
        with self.write() as conn:
            conn.execute("INSERT INTO hq_stores (store_id) VALUES (?) ON CONFLICT DO NOTHING",
                         (store_id,))
            conn.execute("UPDATE hq_stores SET seen_at = ?, top = COALESCE(?, top), "
                         "skew_s = ?, conflicts = COALESCE(?, conflicts) WHERE store_id = ?",
                         (self._now(), top, skew, conflicts, store_id))

    def _flag_once(self, kind: str, subject: str, detail: dict[str, Any], key: str) -> None:
        """A flag for a person, once per `subject` and value of `detail[key]`."""
        with self.write() as conn:
            self._flag_in(conn, kind, subject, detail, key)

    def _flag_in(self, conn: HqDb, kind: str, subject: str, detail: dict[str, Any],
                 key: str) -> None:
        text = json.dumps(detail, sort_keys=True)
        known = [json.loads(r[0]).get(key) for r in conn.execute(
            "SELECT detail FROM hq_flags WHERE kind = ? AND subject = ?", (kind, subject))]
        if detail[key] not in known:
            log.error("store %s: %s %s", subject, kind, text)
            conn.execute("INSERT INTO hq_flags (kind, subject, detail, at) VALUES "
                         "(?, ?, ?, ?)", (kind, subject, text, self._now()))

    def _acked_here(self, acked: Any) -> int | None:
        """What a store says this HQ database acknowledged, if it says."""
        mine = acked.get(self.hq_id) if isinstance(acked, dict) else None
        return mine if isinstance(mine, int) and not isinstance(mine, bool) else None

    def set_status(self, store_id: str, online: bool, schema: int | None = None,
                   version: str | None = None) -> None:
        """A store's birth or death message; its birth says the protocol it speaks and the
        version of laoke it runs."""
        with self.write() as conn:
            conn.execute("INSERT INTO hq_stores (store_id, online, status_at, schema, version) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id) DO UPDATE SET "
                         "online = excluded.online, status_at = excluded.status_at, "
                         "schema = COALESCE(excluded.schema, hq_stores.schema), "
                         "version = COALESCE(excluded.version, hq_stores.version)",
                         (store_id, int(online), self._now(), schema, version))

    def set_region(self, store_id: str, region: str | None) -> None:
        """File a store under a region, or under none (`None`)."""
        if not isinstance(store_id, str) or not re.fullmatch(STORE_ID_PATTERN, store_id):
            raise ValueError(f"{store_id!r} is not a store id")
        with self.write() as conn:
            if region is None:
                conn.execute("DELETE FROM hq_regions WHERE store_id = ?", (store_id,))
                return
            region = region.strip()
            if not region or len(region) > REGION_LONGEST or not region.isprintable():
                raise ValueError(f"a region is a name of 1 to {REGION_LONGEST} printable "
                                 "characters")
            conn.execute("INSERT INTO hq_regions (store_id, region) VALUES (?, ?) "
                         "ON CONFLICT (store_id) DO UPDATE SET region = excluded.region",
                         (store_id, region))

    def regions(self) -> dict[str, str]:
        """Each filed store's region."""
        return {r[0]: r[1] for r in self.conn.execute(
            "SELECT store_id, region FROM hq_regions ORDER BY store_id")}

    def region_stores(self, region: str) -> list[str]:
        """The stores filed under `region`; a region no store is filed under is an error,
        not an empty report (a typo must not read as a region that sold nothing)."""
        stores = sorted(s for s, r in self.regions().items() if r == region)
        if not stores:
            known = sorted(set(self.regions().values()))
            raise ValueError(f"no store is filed under region {region!r}; regions: "
                             f"{', '.join(known) or 'none yet (laoke hq regions set)'}")
        return stores

    def report(self, region: str | None = None) -> dict[str, Any]:
        """Per-store and chain totals from the tables HQ keeps as it applies (never a replay
        of history): one grouped pass over each, whatever the number of stores. With
        `region`, its stores and their totals; without, the totals of each region too."""
        members = {r[0]: r[1] for r in self.conn.execute(
            "SELECT home_store, COUNT(*) FROM hq_members WHERE erased = 0 GROUP BY home_store")}
        sales = {r[0]: (r[1], r[2]) for r in self.conn.execute(  # what the platforms kept
            "SELECT store_id, COUNT(*), COALESCE(SUM(total_fen - discount_fen - "
            "refunded_fen), 0) FROM hq_orders WHERE ended = 0 GROUP BY store_id")}
        filed = self.regions()
        wanted = None if region is None else set(self.region_stores(region))
        stores: dict[str, Any] = {}
        for row in self.conn.execute("SELECT store_id, applied_seq, online FROM hq_stores "
                                     "ORDER BY store_id"):
            sid = row["store_id"]
            if wanted is not None and sid not in wanted:
                continue
            orders, revenue = sales.get(sid, (0, 0))
            stores[sid] = {"members": members.get(sid, 0), "orders": orders,
                           "revenue_fen": revenue, "last_seq": row["applied_seq"],
                           "online": bool(row["online"]), "region": filed.get(sid)}

        def total(rows: list[dict[str, Any]]) -> dict[str, int]:
            return {key: sum(s[key] for s in rows) for key in ("members", "orders", "revenue_fen")}

        answer: dict[str, Any] = {"stores": stores, "totals": total(list(stores.values()))}
        if region is None:
            answer["regions"] = {
                name: {**total([s for s in stores.values() if s["region"] == name]),
                       "stores": sum(1 for s in stores.values() if s["region"] == name)}
                for name in sorted(set(filed.values()))}
        else:
            answer["region"] = region
        return answer
