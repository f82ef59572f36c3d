"""The chain's spend rule, for stored value and points alike: one home for both sides.

Money on a guest's card, and points in their account, may be spent at any store, so no store
can trust its own view of the balance: another store may have spent it a minute ago. When HQ
can be asked, it approves the spend against the chain balance less everything it has
promised (`hq:HOLD` on the ledger entry) and may reserve part of what is left for this store
alone, a slice. When HQ cannot be asked, the store spends only from that slice (`slice` on
the entry), so two stores offline at once can never spend the same money or points. A store
that is not in a chain needs neither.

HQ keeps an approval held until the spend reaches it or the store gives the approval back,
never by age: the store records each approval, the checkout's transaction marks it spent,
and one the checkout never used (it was refused after HQ said yes) is released through the
outbox. Release and spend take the same write lock, so an approval is either spent or
released, never both.

The store's side works on its `Store`; HQ's side (`hq_authorise`, `hq_settle`) on HQ's book
connection, in the book's transaction. The transport between them (MQTT request/response) is
`sync/`'s, behind `ChainLink`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from .clock import to_iso
from .errors import InsufficientBalance, InsufficientPoints, InvalidInput, LaokeError
from .ids import new_id
from .money import yuan
from .store import Store

OFFLINE = "slice"
APPROVAL_USE_S = 60  # a checkout uses its approval within this, or gives it back


@dataclass(frozen=True)
class Asset:
    """What a guest spends across the chain, and where each side keeps its promises.

    `unit` ends every amount's column and key (`amount_fen`, `available_fen` for stored
    value; `amount`, `available` for points), so a request for one is never read as the
    other, not even by an HQ that predates points."""

    name: str
    unit: str
    approvals: str  # the store's tables
    slices: str
    hq_holds: str  # HQ's tables
    hq_balances: str
    entry_event: str  # the ledger's event, and its signed amount
    entry_amount: str
    hold_released: str
    slice_released: str
    refusal: type[LaokeError]
    spend: str  # words for messages
    show: Callable[[int], str]
    offline_refusal: str
    hq_refusal: str

    def key(self, name: str) -> str:
        return f"{name}{self.unit}"


STORED_VALUE = Asset(
    "stored_value", "_fen", "sv_approvals", "sv_slices", "hq_holds", "hq_stored_value",
    "stored_value.entry", "amount_fen", "stored_value.hold_released",
    "stored_value.slice_released", InsufficientBalance, "stored-value spend",
    lambda fen: yuan(fen, " 元"),
    "HQ cannot be reached: this store may spend at most {} of this guest's stored value "
    "until it can",
    "HQ: across the chain this guest's stored value covers {} now")
POINTS = Asset(
    "points", "", "points_approvals", "points_slices", "hq_points_holds", "hq_points",
    "points.entry", "delta", "points.hold_released", "points.slice_released",
    InsufficientPoints, "points redemption", str,
    "HQ cannot be reached: this store may redeem at most {} of this guest's points until "
    "it can",
    "HQ: across the chain this guest has {} points to redeem now")
ASSETS = {asset.name: asset for asset in (STORED_VALUE, POINTS)}


class BookSql(Protocol):
    """HQ's book connection as the rule uses it, on SQLite or PostgreSQL alike (`?`
    placeholders, rows by index): the SQL here is what both engines read."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class ChainLink(Protocol):
    """The store's line to HQ (the sync publisher): whether HQ can be asked now, and the
    question itself; None when HQ did not answer in time."""

    def reachable(self) -> bool: ...

    def authorise(self, member_id: str, amount: int, timeout: float, hold_id: str,
                  asset: str) -> dict[str, Any] | None: ...


# -- the store's side ------------------------------------------------------------------------

def slice_left(store: Store, member_id: str, asset: Asset = STORED_VALUE) -> int:
    return int(store.scalar(f"SELECT COALESCE(MAX({asset.key('remaining')}), 0) FROM "
                            f"{asset.slices} WHERE member_id = ?", (member_id,)))


def grant_slice(store: Store, member_id: str, grant: int, asset: Asset = STORED_VALUE) -> int:
    """Add what HQ just reserved for this store; returns the slice now."""
    if isinstance(grant, bool) or not isinstance(grant, int) or grant < 0:
        raise InvalidInput("a slice grant is a whole, non-negative amount")
    remaining = asset.key("remaining")
    with store.write():
        store.conn.execute(
            f"INSERT INTO {asset.slices} (member_id, {remaining}, updated_at) VALUES (?, ?, ?) "
            f"ON CONFLICT (member_id) DO UPDATE SET {remaining} = {remaining} + "
            f"excluded.{remaining}, updated_at = excluded.updated_at",
            (member_id, grant, store.now_iso()))
    return slice_left(store, member_id, asset)


def open_approval(store: Store, hold_id: str, member_id: str, amount: int,
                  idempotency_key: str, asset: Asset = STORED_VALUE) -> None:
    """Record an approval before HQ is asked for it: should HQ's yes come too late, or
    never, the store still knows to give it back."""
    with store.write():
        store.conn.execute(f"INSERT INTO {asset.approvals} (hold_id, member_id, "
                           f"{asset.key('amount')}, idempotency_key, created_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (hold_id, member_id, amount, idempotency_key, store.now_iso()))


def approval_answered(store: Store, hold_id: str, approved: bool, grant: int,
                      asset: Asset = STORED_VALUE) -> None:
    """HQ said yes (and may have reserved a slice with it, which HQ holds from now on,
    whatever the checkout does next), or no (then there is nothing to give back)."""
    with store.write():
        if not approved:
            store.conn.execute(f"DELETE FROM {asset.approvals} WHERE hold_id = ? "
                               "AND state = 'open'", (hold_id,))
        elif grant:
            row = store.one(f"SELECT member_id FROM {asset.approvals} WHERE hold_id = ?",
                            (hold_id,))
            if row is not None:
                grant_slice(store, row["member_id"], grant, asset)


def ask_hq(link: ChainLink, store: Store, asset: Asset, member_id: str, amount: int,
           idempotency_key: str) -> str:
    """HQ's word on one spend: `hq:HOLD` when it approved, `slice` when it did not answer in
    time; its refusal raises. The approval is recorded before HQ is asked, under an id the
    store chose, so one the checkout does not use, or HQ's yes that came too late, goes back
    to HQ (`release_unused_approvals`)."""
    hold_id = new_id()
    open_approval(store, hold_id, member_id, amount, idempotency_key, asset)
    answer = link.authorise(member_id, amount, store.settings.chain.auth_timeout_s, hold_id,
                            asset.name)
    if answer is None:
        return OFFLINE  # the open approval goes back to HQ in a minute, if HQ made it
    approved = bool(answer.get("approved"))
    approval_answered(store, hold_id, approved, int(answer.get(asset.key("slice_grant"), 0)),
                      asset)
    if not approved:
        if answer.get("error"):
            raise asset.refusal(f"HQ approves no {asset.spend} here: {answer['error']}")
        raise asset.refusal(asset.hq_refusal.format(
            asset.show(int(answer.get(asset.key("available"), 0)))))
    return f"hq:{hold_id}"


def authorise_debit(link: ChainLink | None, store: Store, asset: Asset, member_id: str,
                    amount: int) -> str | None:
    """The chain's word on a debit that is no checkout (a manager taking points off): HQ's
    approval when it can be asked, else the slice (`slice`); None for a store on its own.
    HQ's refusal raises."""
    if not store.settings.broker.url:
        return None
    if link is None or not link.reachable():
        return OFFLINE
    return ask_hq(link, store, asset, member_id, amount, new_id())


def spend_note(store: Store, member_id: str, amount: int, auth: str | None,
               asset: Asset = STORED_VALUE) -> str | None:
    """The ledger note for a spend, after checking it may happen; inside the checkout's
    transaction, which also uses up HQ's approval or takes an offline spend off the slice."""
    if auth is None:
        return None  # a store on its own: its balance is the whole truth
    if auth.startswith("hq:") and len(auth) > 3:
        used = store.conn.execute(
            f"UPDATE {asset.approvals} SET state = 'spent' WHERE hold_id = ? AND member_id = ? "
            f"AND {asset.key('amount')} >= ? AND state = 'open'", (auth[3:], member_id, amount))
        if used.rowcount != 1:
            raise asset.refusal("HQ's approval for this spend was used or given back: "
                                "check out again to ask HQ anew")
        return auth
    if auth != OFFLINE:
        raise InvalidInput(f"unknown {asset.spend} authorisation {auth!r}")
    left = slice_left(store, member_id, asset)
    if amount > left:
        raise asset.refusal(asset.offline_refusal.format(asset.show(left)))
    remaining = asset.key("remaining")
    store.conn.execute(f"UPDATE {asset.slices} SET {remaining} = {remaining} - ?, "
                       "updated_at = ? WHERE member_id = ?",
                       (amount, store.now_iso(), member_id))
    return OFFLINE


def release_unused_approvals(store: Store, after_s: float = APPROVAL_USE_S) -> int:
    """Give back approvals no checkout used within `after_s`; HQ frees what they held when
    the event arrives. Returns how many."""
    cutoff = to_iso(store.now() - timedelta(seconds=after_s))
    released = 0
    with store.write():
        for asset in ASSETS.values():
            amount = asset.key("amount")
            unused = store.conn.execute(
                f"SELECT hold_id, member_id, {amount} FROM {asset.approvals} "
                "WHERE state = 'open' AND created_at <= ?", (cutoff,)).fetchall()
            for hold_id, member_id, held in unused:
                store.conn.execute(f"UPDATE {asset.approvals} SET state = 'released' "
                                   "WHERE hold_id = ?", (hold_id,))
                store.emit(asset.hold_released,
                           {"hold_id": hold_id, "member_id": member_id, amount: held})
            released += len(unused)
    return released


def release_idle_slices(store: Store) -> int:
    """Give back slices unused for `slice_idle_days`, so a guest's money and points are not
    held for a store they stopped visiting; HQ frees them when the event arrives. Returns
    how many."""
    cutoff = to_iso(store.now() - timedelta(days=store.settings.chain.slice_idle_days))
    released = 0
    with store.write():
        for asset in ASSETS.values():
            remaining = asset.key("remaining")
            idle = store.conn.execute(
                f"SELECT member_id, {remaining} FROM {asset.slices} WHERE {remaining} > 0 "
                "AND COALESCE(updated_at, '') < ?", (cutoff,)).fetchall()
            for member_id, held in idle:
                store.conn.execute(f"UPDATE {asset.slices} SET {remaining} = 0, "
                                   "updated_at = ? WHERE member_id = ?",
                                   (store.now_iso(), member_id))
                store.emit(asset.slice_released,
                           {"member_id": member_id, asset.key("amount"): held})
            released += len(idle)
    return released


# -- HQ's side -------------------------------------------------------------------------------

def hq_schema() -> str:
    """HQ's tables for the rule: balances from every store's entries, and what HQ has
    promised out of them: approved spends not yet seen (auth) and slices reserved per store."""
    return "".join(f"""
CREATE TABLE IF NOT EXISTS {a.hq_balances} (
    member_id TEXT PRIMARY KEY, {a.key('balance')} INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS {a.hq_holds} (
    id TEXT PRIMARY KEY, member_id TEXT NOT NULL, store_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('auth', 'slice')), {a.key('amount')} INTEGER NOT NULL,
    open INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {a.hq_holds}_member ON {a.hq_holds}(member_id, open);
""" for a in ASSETS.values())


def hq_authorise(conn: BookSql, now: str, store_id: str, member_id: str,
                 amount: int, slice_cap: int, hold_id: str | None,
                 asset: Asset = STORED_VALUE) -> dict[str, Any]:
    """Approve a spend if the chain balance, less every promise, covers it; then top the
    store's slice for this guest up towards `slice_cap` from what is still free. Inside the
    book's write transaction.

    A promise lasts until the spend arrives or the store gives it back, however long that
    takes and whatever the clock says. `hold_id` is the store's name for it; one already
    used (or given back before this request arrived) is refused."""
    held_in, amount_col = asset.hq_holds, asset.key("amount")
    balance = conn.execute(f"SELECT COALESCE(MAX({asset.key('balance')}), 0) FROM "
                           f"{asset.hq_balances} WHERE member_id = ?", (member_id,)).fetchone()[0]
    promised = conn.execute(f"SELECT COALESCE(SUM({amount_col}), 0) FROM {held_in} "
                            "WHERE member_id = ? AND open = 1", (member_id,)).fetchone()[0]
    free = balance - promised
    available, grant_key = asset.key("available"), asset.key("slice_grant")
    hold = hold_id or new_id()
    known = conn.execute(f"SELECT store_id, member_id, {amount_col}, open FROM {held_in} "
                         "WHERE id = ?", (hold,)).fetchone()
    if known is not None:  # asked again (a redelivery): the same answer, or no
        same = tuple(known) == (store_id, member_id, amount, 1)
        return {"approved": True, "hold_id": hold, grant_key: 0,
                available: max(free, 0)} if same else {
            "approved": False, available: max(free, 0),
            "error": "this approval was already decided"}
    if amount > free:
        return {"approved": False, available: max(free, 0)}
    conn.execute(f"INSERT INTO {held_in} (id, member_id, store_id, kind, {amount_col}, "
                 "created_at) VALUES (?, ?, ?, 'auth', ?, ?)",
                 (hold, member_id, store_id, amount, now))
    held = conn.execute(f"SELECT COALESCE(MAX({amount_col}), 0) FROM {held_in} WHERE "
                        "member_id = ? AND store_id = ? AND kind = 'slice'",
                        (member_id, store_id)).fetchone()[0]
    grant = max(0, min(slice_cap - held, free - amount))
    if grant:  # one slice row per guest and store, grown by each grant
        conn.execute(f"INSERT INTO {held_in} (id, member_id, store_id, kind, {amount_col}, "
                     "created_at) VALUES (?, ?, ?, 'slice', ?, ?) ON CONFLICT (id) DO "
                     f"UPDATE SET {amount_col} = {held_in}.{amount_col} + excluded.{amount_col}",
                     (f"slice:{member_id}:{store_id}", member_id, store_id, grant, now))
    return {"approved": True, "hold_id": hold, grant_key: grant,
            available: free - amount - grant}


def hq_settle(conn: BookSql, now: str, store_id: str,
              events: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """A store's events, as HQ's promises see them. Balances follow the entries; a spend
    HQ approved closes its hold, and so does the store giving the approval back (before HQ
    even heard the request, if the link was slow: the hold is then refused when it comes);
    a spend from a slice uses it up, and a slice given back frees it."""
    by_event = {event: asset for asset in ASSETS.values()
                for event in (asset.entry_event, asset.hold_released, asset.slice_released)}
    for kind, d in events:
        asset = by_event.get(kind)
        if asset is None:
            continue
        held_in, amount_col = asset.hq_holds, asset.key("amount")
        if kind == asset.hold_released and isinstance(d.get("hold_id"), str):
            conn.execute(f"INSERT INTO {held_in} (id, member_id, store_id, kind, {amount_col}, "
                         "open, created_at) VALUES (?, ?, ?, 'auth', 0, 0, ?) "
                         "ON CONFLICT (id) DO UPDATE SET open = 0 "
                         f"WHERE {held_in}.store_id = excluded.store_id",
                         (d["hold_id"], str(d.get("member_id")), store_id, now))
            continue
        if kind == asset.slice_released and isinstance(d.get(amount_col), int):
            conn.execute(f"UPDATE {held_in} SET {amount_col} = CASE WHEN {amount_col} > ? "
                         f"THEN {amount_col} - ? ELSE 0 END "
                         "WHERE member_id = ? AND store_id = ? AND kind = 'slice'",
                         (d[amount_col], d[amount_col], d.get("member_id"), store_id))
            continue
        signed = d.get(asset.entry_amount)
        if kind != asset.entry_event or not isinstance(signed, int):
            continue
        balance = asset.key("balance")
        conn.execute(f"INSERT INTO {asset.hq_balances} (member_id, {balance}) VALUES (?, ?) "
                     f"ON CONFLICT (member_id) DO UPDATE SET {balance} = "
                     f"{asset.hq_balances}.{balance} + excluded.{balance}",
                     (d["member_id"], signed))
        note = d.get("note") or ""
        if note.startswith("hq:"):
            conn.execute(f"UPDATE {held_in} SET open = 0 WHERE id = ? AND store_id = ?",
                         (note[3:], store_id))
        elif note == OFFLINE:
            conn.execute(f"UPDATE {held_in} SET {amount_col} = CASE WHEN {amount_col} + ? > 0 "
                         f"THEN {amount_col} + ? ELSE 0 END "
                         "WHERE member_id = ? AND store_id = ? AND kind = 'slice'",
                         (signed, signed, d["member_id"], store_id))
