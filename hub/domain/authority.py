"""Stored value across a chain: a spend is approved by HQ, or covered by a reserved slice.

Money on a guest's card may be spent at any store, so no store can trust its own view of the
balance: another store may have spent it a minute ago. When HQ can be asked, it approves the
spend against the chain balance less everything it has promised (`hq:HOLD` on the ledger
entry) and may reserve part of what is left for this store alone, a slice. When HQ cannot be
asked, the store spends only from that slice (`slice` on the entry), so two stores offline
at once can never spend the same money. A store that is not in a chain needs neither.

HQ keeps an approval held until the spend reaches it or the store gives the approval back,
never by age: the store records each approval (`sv_approvals`), the checkout's transaction
marks it spent, and one the checkout never used (it was refused after HQ said yes) is
released through the outbox. Release and spend take the same write lock, so an approval is
either spent or released, never both.
"""

from __future__ import annotations

from datetime import timedelta

from .clock import to_iso
from .errors import InsufficientBalance, InvalidInput
from .store import Store

OFFLINE = "slice"
APPROVAL_USE_S = 60  # a checkout uses its approval within this, or gives it back


def slice_left(store: Store, member_id: str) -> int:
    return int(store.scalar("SELECT COALESCE(MAX(remaining_fen), 0) FROM sv_slices "
                            "WHERE member_id = ?", (member_id,)))


def grant_slice(store: Store, member_id: str, grant_fen: int) -> int:
    """Add what HQ just reserved for this store; returns the slice now."""
    if isinstance(grant_fen, bool) or not isinstance(grant_fen, int) or grant_fen < 0:
        raise InvalidInput("a slice grant is a whole, non-negative number of fen")
    with store.write():
        store.conn.execute(
            "INSERT INTO sv_slices (member_id, remaining_fen, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (member_id) DO UPDATE SET remaining_fen = remaining_fen + "
            "excluded.remaining_fen, updated_at = excluded.updated_at",
            (member_id, grant_fen, store.now_iso()))
    return slice_left(store, member_id)


def open_approval(store: Store, hold_id: str, member_id: str, amount_fen: int,
                  idempotency_key: str) -> None:
    """Record an approval before HQ is asked for it: should HQ's yes come too late, or
    never, the store still knows to give it back."""
    with store.write():
        store.conn.execute("INSERT INTO sv_approvals (hold_id, member_id, amount_fen, "
                           "idempotency_key, created_at) VALUES (?, ?, ?, ?, ?)",
                           (hold_id, member_id, amount_fen, idempotency_key, store.now_iso()))


def approval_answered(store: Store, hold_id: str, approved: bool, grant_fen: int) -> None:
    """HQ said yes (and may have reserved a slice with it, which HQ holds from now on,
    whatever the checkout does next), or no (then there is nothing to give back)."""
    with store.write():
        if not approved:
            store.conn.execute("DELETE FROM sv_approvals WHERE hold_id = ? AND state = 'open'",
                               (hold_id,))
        elif grant_fen:
            row = store.one("SELECT member_id FROM sv_approvals WHERE hold_id = ?", (hold_id,))
            if row is not None:
                grant_slice(store, row["member_id"], grant_fen)


def spend_note(store: Store, member_id: str, amount_fen: int, auth: str | None) -> str | None:
    """The ledger note for a stored-value spend, after checking it may happen; inside the
    checkout's transaction, which also uses up HQ's approval or takes an offline spend off
    the slice."""
    if auth is None:
        return None  # a store on its own: its balance is the whole truth
    if auth.startswith("hq:") and len(auth) > 3:
        used = store.conn.execute(
            "UPDATE sv_approvals SET state = 'spent' WHERE hold_id = ? AND member_id = ? "
            "AND amount_fen >= ? AND state = 'open'", (auth[3:], member_id, amount_fen))
        if used.rowcount != 1:
            raise InsufficientBalance("HQ's approval for this spend was used or given back: "
                                      "check out again to ask HQ anew")
        return auth
    if auth != OFFLINE:
        raise InvalidInput(f"unknown stored-value authorisation {auth!r}")
    left = slice_left(store, member_id)
    if amount_fen > left:
        raise InsufficientBalance(
            f"HQ cannot be reached: this store may spend at most {left / 100:.2f} 元 of this "
            "guest's stored value until it can")
    store.conn.execute("UPDATE sv_slices SET remaining_fen = remaining_fen - ?, updated_at = ? "
                       "WHERE member_id = ?", (amount_fen, store.now_iso(), member_id))
    return OFFLINE


def release_unused_approvals(store: Store, after_s: float = APPROVAL_USE_S) -> int:
    """Give back approvals no checkout used within `after_s`; HQ frees the money when the
    event arrives. Returns how many."""
    cutoff = to_iso(store.now() - timedelta(seconds=after_s))
    with store.write():
        unused = store.conn.execute(
            "SELECT hold_id, member_id, amount_fen FROM sv_approvals WHERE state = 'open' "
            "AND created_at <= ?", (cutoff,)).fetchall()
        for hold_id, member_id, amount in unused:
            store.conn.execute("UPDATE sv_approvals SET state = 'released' WHERE hold_id = ?",
                               (hold_id,))
            store.emit("stored_value.hold_released",
                       {"hold_id": hold_id, "member_id": member_id, "amount_fen": amount})
    return len(unused)


def release_idle_slices(store: Store) -> int:
    """Give back slices unused for `slice_idle_days`, so a guest's money is not held for a
    store they stopped visiting; HQ frees it when the event arrives. Returns how many."""
    cutoff = to_iso(store.now() - timedelta(days=store.settings.chain.slice_idle_days))
    with store.write():
        idle = store.conn.execute(
            "SELECT member_id, remaining_fen FROM sv_slices WHERE remaining_fen > 0 "
            "AND COALESCE(updated_at, '') < ?", (cutoff,)).fetchall()
        for member_id, amount in idle:
            store.conn.execute("UPDATE sv_slices SET remaining_fen = 0, updated_at = ? "
                               "WHERE member_id = ?", (store.now_iso(), member_id))
            store.emit("stored_value.slice_released",
                       {"member_id": member_id, "amount_fen": amount})
    return len(idle)
