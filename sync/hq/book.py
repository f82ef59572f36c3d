"""HQ's books: every store's events applied once, in order, and the chain's rules on them
(spends of stored value and points approved against the chain by the rule in
hub/domain/authority.py, coupons redeemed twice flagged, pushes, reports).
The receiver (`receiver.py`) only carries messages between the broker and these books."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.domain.authority import STORED_VALUE, Asset, hq_authorise, hq_schema, hq_settle
from hub.domain.clock import Clock, system_clock, to_iso
from hub.domain.ids import new_id
from hub.domain.replica import HQ_ORIGIN, RELAYED, UNAPPLIABLE

from ..protocol import SCHEMA, fitting, store_of

FEED_PAGE = 500
# Added to hq_stores after its first release: what a person must look at (an event HQ
# parked, a second writer), and the protocol the store speaks (from its birth message).
STORE_COLUMNS = (("attention", "TEXT"), ("schema", "INTEGER"))

HQ_SCHEMA = """
CREATE TABLE IF NOT EXISTS hq_stores (
    store_id TEXT PRIMARY KEY, applied_seq INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0, status_at TEXT, last_event_at TEXT,
    gap_from INTEGER);  -- and STORE_COLUMNS (added in HqBook.__init__)
CREATE TABLE IF NOT EXISTS hq_events (
    hq_seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- HQ's own order: the feed stores read
    store_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
    ts TEXT NOT NULL, data TEXT NOT NULL, applied_at TEXT NOT NULL,
    UNIQUE (store_id, seq));
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
"""




class DeadLetter(Exception):
    pass


class HqBook:
    """HQ's database: what every store did, applied once."""

    def __init__(self, path: Path, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.executescript(HQ_SCHEMA + hq_schema())  # and the spend rule's tables
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(hq_stores)")}
        for column, kind in STORE_COLUMNS:  # an HQ database from before these columns
            if column not in columns:
                self.conn.execute(f"ALTER TABLE hq_stores ADD COLUMN {column} {kind}")
        self.lock = threading.Lock()

    def _now(self) -> str:
        return to_iso(self.clock())

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

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
        if not isinstance(body.get("schema"), int) or body["schema"] > SCHEMA:
            if isinstance(body.get("schema"), int) and store_id is not None:
                with self.write() as conn:  # no approvals for a store HQ cannot read
                    conn.execute("INSERT INTO hq_stores (store_id, schema) VALUES (?, ?) "
                                 "ON CONFLICT (store_id) DO UPDATE SET schema = "
                                 "excluded.schema", (store_id, body["schema"]))
            raise DeadLetter(f"schema {body.get('schema')!r} is newer than this HQ knows")
        if store_id is None or body.get("store") != store_id:
            raise DeadLetter(f"store {body.get('store')!r} published on {store_id!r}'s topic")
        events = body["events"]
        if not all(isinstance(e, dict) and isinstance(e.get("seq"), int) and
                   not isinstance(e["seq"], bool) for e in events):
            raise DeadLetter("an event without a seq: it has no place in the store's stream")
        events = sorted(events, key=lambda e: e["seq"])
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO hq_stores (store_id) VALUES (?)", (store_id,))
            applied = conn.execute("SELECT applied_seq FROM hq_stores WHERE store_id = ?",
                                   (store_id,)).fetchone()[0]
            gap = None
            batch = []
            other = self._second_writer(conn, topic, payload, store_id, events, applied)
            for event in [] if other else events:
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

    def _second_writer(self, conn: sqlite3.Connection, topic: str, payload: bytes,
                       store_id: str, events: list[dict[str, Any]], applied: int) -> bool:
        """Whether the batch comes from another hub numbering events under this store id
        (a cloned card, a restore while the old hub lives): a seq HQ applied comes with
        another event id. None of it is applied; it is parked, once, and the store marked."""
        sent = {e["seq"]: str(e.get("id")) for e in events if e["seq"] <= applied}
        if not sent:
            return False
        have = dict(conn.execute(
            "SELECT seq, id FROM hq_events WHERE store_id = ? AND seq IN "
            "(SELECT value FROM json_each(?))", (store_id, json.dumps(list(sent)))).fetchall())
        clash = next((seq for seq, id_ in sent.items() if seq in have and have[seq] != id_),
                     None)
        if clash is None:
            return False
        reason = (f"another hub writes as store {store_id}: seq {clash} came with event "
                  f"{sent[clash]}, HQ applied {have[clash]}; stop one of them")
        known = conn.execute("SELECT attention FROM hq_stores WHERE store_id = ?",
                             (store_id,)).fetchone()[0]
        if not (known or "").startswith(f"another hub writes as store {store_id}"):
            conn.execute("INSERT INTO hq_dead_letters (topic, payload, reason, at) "
                         "VALUES (?, ?, ?, ?)", (topic, payload, reason, self._now()))
            conn.execute("UPDATE hq_stores SET attention = ? WHERE store_id = ?",
                         (reason, store_id))
        return True

    def applied_id(self, store_id: str, seq: int) -> str | None:
        """The event id HQ applied at a store's seq: a hub that has another there is not
        the hub that sent it."""
        row = self.conn.execute("SELECT id FROM hq_events WHERE store_id = ? AND seq = ?",
                                (store_id, seq)).fetchone()
        return None if row is None else str(row[0])

    def _apply_batch(self, conn: sqlite3.Connection, topic: str, store_id: str,
                     events: list[dict[str, Any]]) -> None:
        """The whole batch at once; if one event in it cannot apply, each on its own, and the
        one that cannot is parked once (its seq counts as done, so the stream flows on and
        the store is not asked for it again) and the store marked as needing a person."""
        conn.execute("SAVEPOINT batch")
        try:
            self._apply_all(conn, store_id, events)
        except UNAPPLIABLE:
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
            except UNAPPLIABLE as error:
                conn.execute("ROLLBACK TO event")
                reason = (f"store {store_id} seq {event['seq']} ({event.get('type')}) cannot "
                          f"apply at HQ: {type(error).__name__}: {error}")
                conn.execute("INSERT INTO hq_dead_letters (topic, payload, reason, at) "
                             "VALUES (?, ?, ?, ?)", (topic, json.dumps(
                                 event, ensure_ascii=False).encode(), reason, self._now()))
                conn.execute("UPDATE hq_stores SET attention = ? WHERE store_id = ?",
                             (reason, store_id))
            conn.execute("RELEASE event")

    def _apply_all(self, conn: sqlite3.Connection, store_id: str,
                   events: list[dict[str, Any]]) -> None:
        """Record the events and project the ones HQ's reports read, a batch at a time."""
        now = self._now()
        events = self._without_erased(conn, events)
        conn.executemany(
            "INSERT INTO hq_events (store_id, seq, id, type, ts, data, applied_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(store_id, e["seq"], str(e.get("id")), e["type"], str(e.get("ts")),
              json.dumps(e.get("data") or {}, ensure_ascii=False), now) for e in events])
        data = [(e["type"], e.get("data") or {}) for e in events]
        conn.executemany(
            "INSERT OR IGNORE INTO hq_members (id, home_store) VALUES (?, ?)",
            [(d["id"], d.get("home_store", store_id)) for kind, d in data
             if kind == "member.created" and "id" in d])
        erased = [d["id"] for kind, d in data if kind == "member.erased" and "id" in d]
        conn.executemany(
            "INSERT INTO hq_members (id, home_store, erased) VALUES (?, ?, 1) "
            "ON CONFLICT (id) DO UPDATE SET erased = 1", [(i, store_id) for i in erased])
        for member_id in erased:
            self._redact(conn, member_id)
        conn.executemany(
            "INSERT OR IGNORE INTO hq_orders (id, store_id, member_id, total_fen, discount_fen, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(d["id"], store_id, d.get("member_id"), int(d.get("total_fen", 0)),
              int(d.get("discount_fen", 0)), str(d.get("created_at")))
             for kind, d in data if kind == "order.created" and "id" in d])
        self._redemptions(conn, store_id, data)
        hq_settle(conn, now, store_id, data)

    @staticmethod
    def _without_erased(conn: sqlite3.Connection,
                        events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A guest's edit that arrives after their erasure (from a store that had not heard
        of it) is kept as the erasure left the guest: their id, nothing else."""
        ids = [(e.get("data") or {}).get("id") for e in events
               if e["type"] in ("member.created", "member.updated")]
        if not ids:
            return events
        erased = {r[0] for r in conn.execute(
            "SELECT id FROM hq_members WHERE erased AND id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),))}
        return [{**e, "data": {"id": e["data"]["id"], "redacted": True}}
                if e["type"] in ("member.created", "member.updated") and
                e["data"].get("id") in erased else e for e in events]

    @staticmethod
    def _redact(conn: sqlite3.Connection, member_id: str) -> None:
        """An erasure reaches HQ's own history: the feed, restores and dead letters never
        serve the guest's personal data again."""
        conn.execute("UPDATE hq_events SET data = json_object('id', ?1, 'redacted', "
                     "json('true')) WHERE type IN ('member.created', 'member.updated') "
                     "AND json_extract(data, '$.id') = ?1", (member_id,))
        conn.execute("UPDATE hq_events SET data = json_set(data, '$.number', 'erased') "
                     "WHERE type IN ('card.linked', 'card.blocked') "
                     "AND json_extract(data, '$.member_id') = ?", (member_id,))
        conn.execute("UPDATE hq_dead_letters SET payload = NULL, reason = reason || "
                     "' (payload removed: the guest was erased)' "
                     "WHERE instr(CAST(payload AS TEXT), ?) > 0", (member_id,))

    def authorise(self, store_id: str, member_id: str, amount: int, slice_cap: int = 0,
                  hold_id: str | None = None, asset: Asset = STORED_VALUE) -> dict[str, Any]:
        """The chain's word on a store's spend (hub/domain/authority.py); none at all for a
        store whose protocol HQ cannot read."""
        with self.write() as conn:
            spoken = conn.execute("SELECT schema FROM hq_stores WHERE store_id = ?",
                                  (store_id,)).fetchone()
            if spoken is not None and (spoken[0] or 0) > SCHEMA:
                return {"approved": False, asset.key("available"): 0,
                        "error": f"the store speaks protocol {spoken[0]}, newer than this HQ "
                                 f"({SCHEMA}) reads: upgrade HQ"}
            return hq_authorise(conn, self._now(), store_id, member_id, amount, slice_cap,
                                hold_id, asset)

    def _redemptions(self, conn: sqlite3.Connection, store_id: str,
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
    def _receipt(conn: sqlite3.Connection, store_id: str, order_id: str | None) -> dict[str, Any]:
        """The order as its store sent it (lines and all), or what is known of it."""
        row = conn.execute("SELECT data FROM hq_events WHERE store_id = ? AND type = "
                           "'order.created' AND json_extract(data, '$.id') = ?",
                           (store_id, order_id)).fetchone()
        return json.loads(row["data"]) if row else {"store_id": store_id, "id": order_id}

    def publish_change(self, type_: str, data: dict[str, Any]) -> int:
        """A chain-wide change from HQ itself (a campaign, a coupon template): it joins the
        feed every store reads, after everything before it. Returns its HQ sequence."""
        with self.write() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM hq_events "
                               "WHERE store_id = ?", (HQ_ORIGIN,)).fetchone()[0]
            cursor = conn.execute(
                "INSERT INTO hq_events (store_id, seq, id, type, ts, data, applied_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (HQ_ORIGIN, seq, new_id(), type_, self._now(), json.dumps(data, ensure_ascii=False),
                 self._now()))
        return int(cursor.lastrowid or 0)

    def pushed_template(self, template_id: str) -> bool:
        """Whether HQ pushed this coupon template to the stores: a chain campaign may offer
        only one every store has."""
        return self.conn.execute(
            "SELECT 1 FROM hq_events WHERE type = 'coupon_template.created' "
            "AND json_extract(data, '$.id') = ?", (template_id,)).fetchone() is not None

    def stores(self) -> list[dict[str, Any]]:
        """Every store HQ knows: online, applied seq, last event, first missing seq, what a
        person must look at, the protocol it speaks."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM hq_stores ORDER BY store_id")]

    def flags(self) -> list[dict[str, Any]]:
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in self.conn.execute(
            "SELECT * FROM hq_flags ORDER BY id")]

    def feed(self, store_id: str, after: int, limit: int = FEED_PAGE) -> dict[str, Any]:
        """The next page of other stores' changes for `store_id`, after its position."""
        rows = self.conn.execute(
            "SELECT hq_seq, store_id, seq, id, type, ts, data FROM hq_events WHERE hq_seq > ? "
            "ORDER BY hq_seq LIMIT ?", (after, limit)).fetchall()
        relayed = [r for r in rows if r["store_id"] != store_id and r["type"] in RELAYED]
        events = fitting([{"store": r["store_id"], "seq": r["seq"], "id": r["id"],
                           "type": r["type"], "ts": r["ts"], "data": json.loads(r["data"])}
                          for r in relayed])
        if len(events) < len(relayed):  # the page is full by weight: go on after its last
            return {"events": events, "position": relayed[len(events) - 1]["hq_seq"],
                    "more": True}
        return {"events": events, "position": rows[-1]["hq_seq"] if rows else after,
                "more": len(rows) == limit}

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

    def set_status(self, store_id: str, online: bool, schema: int | None = None) -> None:
        """A store's birth or death message; its birth says the protocol it speaks."""
        with self.write() as conn:
            conn.execute("INSERT INTO hq_stores (store_id, online, status_at, schema) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT (store_id) DO UPDATE SET "
                         "online = excluded.online, status_at = excluded.status_at, "
                         "schema = COALESCE(excluded.schema, schema)",
                         (store_id, int(online), self._now(), schema))

    def report(self) -> dict[str, Any]:
        stores: dict[str, Any] = {}
        for row in self.conn.execute("SELECT * FROM hq_stores ORDER BY store_id"):
            sid = row["store_id"]
            members = self.conn.execute("SELECT COUNT(*) FROM hq_members WHERE home_store = ? "
                                        "AND erased = 0", (sid,)).fetchone()[0]
            orders, revenue = self.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(total_fen - discount_fen), 0) FROM hq_orders "
                "WHERE store_id = ?", (sid,)).fetchone()
            stores[sid] = {"members": members, "orders": orders, "revenue_fen": revenue,
                           "last_seq": row["applied_seq"], "online": bool(row["online"])}
        totals = {key: sum(s[key] for s in stores.values())
                  for key in ("members", "orders", "revenue_fen")}
        return {"stores": stores, "totals": totals}
