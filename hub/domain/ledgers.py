"""Points and stored value: append-only ledgers whose sums are the balances.

Each function checks the balance inside the caller's write lock; the schema's triggers refuse
a negative balance as a last line of defence whatever code path writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import database
from .authority import OFFLINE, POINTS, spend_note
from .clock import to_iso
from .errors import InsufficientBalance, InsufficientPoints, InvalidInput, OrderNotFound
from .ids import new_id
from .members import member_row, points_balance, stored_value_balance
from .store import Store

MAX_TOPUP_FEN = 10_000_000  # 100,000 元: anything above is a typo, not a guest
MAX_POINTS = 100_000_000


def whole_number(value: Any, what: str, minimum: int = 1, maximum: int = MAX_POINTS) -> int:
    """An integer from outside (bool is not one), within bounds, or a clear InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{what} must be between {minimum} and {maximum}, got {value}")
    return int(value)


def _entry_rows(store: Store, table: str, member_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in store.conn.execute(
        f"SELECT * FROM {table} WHERE member_id = ? ORDER BY created_at, rowid", (member_id,))]


# -- points ----------------------------------------------------------------------------------

def add_points_entry(store: Store, member_id: str, delta: int, kind: str, *,
                     reason: str | None = None, order_id: str | None = None,
                     staff_id: str | None = None, expires_at: str | None = None,
                     note: str | None = None) -> dict[str, Any]:
    """Append one points entry and its outbox event; the caller holds the write lock.
    `note` says, in a chain, on whose word a redemption was made (authority.py)."""
    entry = {"id": new_id(), "member_id": member_id, "store_id": store.store_id,
             "delta": delta, "kind": kind, "reason": reason, "order_id": order_id,
             "staff_id": staff_id, "expires_at": expires_at, "created_at": store.now_iso()}
    if note is not None:  # only a chain's redemption has one, so other entries read as before
        entry["note"] = note
    return _append(store, "points_ledger", "points.entry",
                   InsufficientPoints("not enough points"), entry)


def _append(store: Store, table: str, event: str, refusal: Exception,
            entry: dict[str, Any]) -> dict[str, Any]:
    """Insert a ledger entry and its outbox event; the schema's never-negative trigger
    surfaces as the domain's refusal."""
    columns = ", ".join(entry)
    try:
        store.conn.execute(f"INSERT INTO {table} ({columns}) VALUES "
                           f"({', '.join(':' + k for k in entry)})", entry)
    except database.IntegrityError as error:
        if "insufficient" in str(error):
            raise refusal from None
        raise
    store.emit(event, entry)
    return entry


def earn_expiry(store: Store) -> str | None:
    days = store.settings.points.expire_days
    return to_iso(store.now() + timedelta(days=days)) if days else None


def redeem_points(store: Store, member_id: str, points: int, *, order_id: str | None = None,
                  staff_id: str | None = None) -> dict[str, Any]:
    points = whole_number(points, "points to redeem")
    with store.write():
        member_row(store, member_id)
        balance = points_balance(store, member_id)
        if points > balance:
            raise InsufficientPoints(f"cannot redeem {points} points: the balance is {balance}")
        return add_points_entry(store, member_id, -points, "redeem", order_id=order_id,
                                staff_id=staff_id)


def adjust_points(store: Store, member_id: str, delta: int, reason: str, actor: str,
                  staff_id: str | None = None, auth: str | None = None) -> dict[str, Any]:
    """A correction by a manager: always with a reason, always audited. Taking points off
    is a debit like a redemption: at a chain store it spends HQ's approval `auth`
    (`authority.authorise_debit`), or without one the store's slice, so two stores never
    take off the same points."""
    delta = whole_number(delta, "points adjustment", -MAX_POINTS, MAX_POINTS)
    if delta == 0:
        raise InvalidInput("points adjustment must not be zero")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a points adjustment needs a reason")
    with store.write():
        member_row(store, member_id)
        balance = points_balance(store, member_id)
        if balance + delta < 0:
            raise InsufficientPoints(f"adjustment {delta} would take the balance {balance} "
                                     "below zero")
        note = None
        if delta < 0 and store.settings.broker.url:
            note = spend_note(store, member_id, -delta, auth or OFFLINE, POINTS)
        entry = add_points_entry(store, member_id, delta, "adjust", reason=reason.strip(),
                                 staff_id=staff_id, note=note)
        store.audit(actor, "points.adjust", member_id, {"delta": delta, "reason": reason})
        return entry


def expire_points(store: Store, member_id: str | None = None) -> int:
    """Expire points whose lots have run out, oldest first; returns how many points expired.

    Spending consumes the oldest lots first, so what is left of the expired lots is what was
    earned in them beyond everything ever debited (redeemed, expired, adjusted down).

    In a chain every store holds the guest's whole ledger, so the night's run expires only the
    guests whose home store this is: were each store to expire the same lots, the guest would
    lose them once per store. A guest named by id is expired here whatever their home.
    """
    now = store.now_iso()
    total = 0
    with store.write():
        members = [member_id] if member_id else [r[0] for r in store.conn.execute(
            "SELECT DISTINCT l.member_id FROM points_ledger l JOIN members m "
            "ON m.id = l.member_id WHERE l.expires_at <= ? AND m.home_store = ?",
            (now, store.store_id))]
        for mid in members:
            expired_lots = store.scalar(
                "SELECT COALESCE(SUM(delta), 0) FROM points_ledger WHERE member_id = ? "
                "AND delta > 0 AND expires_at IS NOT NULL AND expires_at <= ?", (mid, now))
            debited = -store.scalar(
                "SELECT COALESCE(SUM(delta), 0) FROM points_ledger WHERE member_id = ? "
                "AND delta < 0", (mid,))
            due = min(expired_lots - debited, points_balance(store, mid))
            if due > 0:
                add_points_entry(store, mid, -due, "expire", reason="points expired")
                total += due
    return total


def points_entries(store: Store, member_id: str) -> list[dict[str, Any]]:
    return _entry_rows(store, "points_ledger", member_id)


# -- stored value ----------------------------------------------------------------------------

def add_stored_value_entry(store: Store, member_id: str, amount_fen: int, kind: str, *,
                           order_id: str | None = None, staff_id: str | None = None,
                           note: str | None = None) -> dict[str, Any]:
    """Append one stored-value entry and its outbox event; the caller holds the write lock."""
    return _append(store, "stored_value_ledger", "stored_value.entry", InsufficientBalance(
        "not enough stored value"), {
        "id": new_id(), "member_id": member_id, "store_id": store.store_id,
        "amount_fen": amount_fen, "kind": kind, "order_id": order_id, "staff_id": staff_id,
        "note": note, "created_at": store.now_iso()})


def top_up(store: Store, member_id: str, amount_fen: int, bonus_fen: int = 0, *,
           actor: str = "system", staff_id: str | None = None) -> int:
    """Money in, with an optional bonus kept as its own entry; returns the new balance."""
    amount_fen = whole_number(amount_fen, "amount_fen", 1, MAX_TOPUP_FEN)
    bonus_fen = whole_number(bonus_fen, "bonus_fen", 0, MAX_TOPUP_FEN)
    with store.write():
        row = member_row(store, member_id)
        if row["erased_at"]:
            raise InvalidInput(f"member {member_id} was erased")
        add_stored_value_entry(store, member_id, amount_fen, "topup", staff_id=staff_id)
        if bonus_fen:
            add_stored_value_entry(store, member_id, bonus_fen, "bonus", staff_id=staff_id)
        store.audit(actor, "stored_value.topup", member_id,
                    {"amount_fen": amount_fen, "bonus_fen": bonus_fen})
        return stored_value_balance(store, member_id)


def spend_stored_value(store: Store, member_id: str, amount_fen: int, *,
                       order_id: str | None = None, staff_id: str | None = None) -> int:
    """Pay from the guest's prepaid balance; refused when it would go below zero."""
    amount_fen = whole_number(amount_fen, "stored value to spend", 1, MAX_TOPUP_FEN)
    with store.write():
        member_row(store, member_id)
        balance = stored_value_balance(store, member_id)
        if amount_fen > balance:
            raise InsufficientBalance(
                f"stored value {balance} fen does not cover {amount_fen} fen")
        add_stored_value_entry(store, member_id, -amount_fen, "spend", order_id=order_id,
                               staff_id=staff_id)
        return balance - amount_fen


def refund_stored_value(store: Store, order_id: str, amount_fen: int, reason: str, *,
                        actor: str, staff_id: str | None = None) -> int:
    """Give back stored value paid for an order, never more than was paid for it."""
    amount_fen = whole_number(amount_fen, "refund amount", 1, MAX_TOPUP_FEN)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a refund needs a reason")
    with store.write():
        order = store.one("SELECT id, member_id FROM orders WHERE id = ?", (order_id,))
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        paid = -store.scalar(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger "
            "WHERE order_id = ? AND kind IN ('spend', 'refund')", (order_id,))
        if amount_fen > paid:
            raise InvalidInput(f"order {order_id} has {paid} fen of stored value left to refund")
        add_stored_value_entry(store, order["member_id"], amount_fen, "refund",
                               order_id=order_id, staff_id=staff_id, note=reason.strip())
        store.audit(actor, "stored_value.refund", order["member_id"],
                    {"order_id": order_id, "amount_fen": amount_fen, "reason": reason})
        return stored_value_balance(store, order["member_id"])


def stored_value_entries(store: Store, member_id: str) -> list[dict[str, Any]]:
    return _entry_rows(store, "stored_value_ledger", member_id)
