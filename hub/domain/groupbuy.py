"""Group-buy vouchers (美团/大众点评 团购券) as the store's books keep them.

The platform is asked by the hub (hub/groupbuy.py: prepare, consume, reverseconsume); this
records what it answered. A voucher tender at checkout carries its code and lands with the
order, in the same transaction: consumed (the deal, its face value, what the guest paid for it
and the platform's commission), or pending when the platform could not be asked, for the
verifier to settle later (consumed, or refused and flagged for the owner). Each code is live on
one order only; a refund reverses it, and a code reversed may be taken again. Every change goes
to HQ in the transaction that makes it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Conflict, InvalidInput, NotFound, VoucherRefused
from .ids import new_id
from .store import Store

CODE = re.compile(r"[0-9]{8,20}")  # 团购券码: digits, 10 or 12 today


@dataclass(frozen=True)
class Deal:
    """What the platform says of a code: the deal, what it covers and what the guest paid."""

    title: str
    face_value_fen: int
    paid_fen: int


@dataclass(frozen=True)
class Taken:
    """A voucher tender as the hub took it: consumed (`deal`) or, offline, pending (None)."""

    code: str
    request_id: str
    deal: Deal | None


def voucher_code(code: Any) -> str:
    """The code as the platform knows it (digits; spaces and dashes typed with it dropped)."""
    text = re.sub(r"[\s-]", "", code) if isinstance(code, str) else ""
    if not CODE.fullmatch(text):
        raise InvalidInput("a group-buy voucher code is 8 to 20 digits")
    return text


def request_id(idempotency_key: str, code: str) -> str:
    """The id the platform is asked with: the same for a retried checkout, so the platform
    consumes the code once however often the till retries."""
    return hashlib.sha256(f"{idempotency_key}\n{code}".encode()).hexdigest()[:32]


def check_amount(code: str, deal: Deal, amount_fen: int) -> None:
    if amount_fen > deal.face_value_fen:
        raise VoucherRefused(f"voucher {code} ({deal.title}) covers {deal.face_value_fen} fen, "
                             f"not {amount_fen}")


def live(store: Store, code: str) -> bool:
    return store.one("SELECT 1 FROM group_vouchers WHERE code = ? AND state != 'reversed'",
                     (code,)) is not None


def commission_fen(store: Store, paid_fen: int) -> int:
    return round(paid_fen * store.settings.group_buy.commission_pct / 100)


def _deal_columns(store: Store, deal: Deal | None) -> dict[str, Any]:
    if deal is None:
        return {"deal_title": None, "face_value_fen": None, "paid_fen": None,
                "commission_fen": None}
    return {"deal_title": deal.title, "face_value_fen": deal.face_value_fen,
            "paid_fen": deal.paid_fen, "commission_fen": commission_fen(store, deal.paid_fen)}


def _emit(store: Store, voucher_id: str, change: str | None = None) -> dict[str, Any]:
    """The voucher whole to HQ, as `group_voucher.<change>` (by default its new state)."""
    [row] = [dict(one) for one in store.conn.execute(
        "SELECT * FROM group_vouchers WHERE id = ?", (voucher_id,))]
    store.emit(f"group_voucher.{change or row['state']}", row)
    return row


def record_taken(store: Store, order_id: str, amounts: Sequence[tuple[str, int]],
                 taken: Sequence[Taken]) -> None:
    """The order's voucher tenders (code, amount), inside the checkout's change; each must
    have been taken by the hub (asked of the platform, or pending)."""
    by_code = {one.code: one for one in taken}
    for given, amount_fen in amounts:
        code = voucher_code(given)
        one = by_code.get(code)
        if one is None:
            raise InvalidInput(f"voucher {code} was not verified with the platform")
        if live(store, code):
            raise VoucherRefused(f"voucher {code} was already taken here")
        if one.deal is not None:
            check_amount(code, one.deal, amount_fen)
        voucher_id = new_id()
        store.conn.execute(
            "INSERT INTO group_vouchers (id, code, order_id, tender_fen, state, request_id, "
            "deal_title, face_value_fen, paid_fen, commission_fen, created_at, settled_at) "
            "VALUES (:id, :code, :order_id, :tender_fen, :state, :request_id, :deal_title, "
            ":face_value_fen, :paid_fen, :commission_fen, :now, :settled)",
            {"id": voucher_id, "code": code, "order_id": order_id, "tender_fen": amount_fen,
             "state": "pending" if one.deal is None else "consumed",
             "request_id": one.request_id, **_deal_columns(store, one.deal),
             "now": store.now_iso(), "settled": None if one.deal is None else store.now_iso()})
        _emit(store, voucher_id)


RESOLUTIONS = ("loss", "reverified")  # the owner's word on a refused voucher


def vouchers(store: Store, *, state: str | None = None,
             order_id: str | None = None) -> list[dict[str, Any]]:
    """Vouchers by state ('pending': to verify; 'refused': the platform refused one taken
    offline; 'flagged': refused and not yet settled by the owner) or order."""
    clauses = [(c, v) for c, v in (("state = ?", "refused" if state == "flagged" else state),
                                   ("order_id = ?", order_id)) if v is not None]
    where = " AND ".join([c for c, _v in clauses] +
                         (["resolution IS NULL"] if state == "flagged" else [])) or "1"
    return [dict(row) for row in store.conn.execute(
        f"SELECT * FROM group_vouchers WHERE {where} ORDER BY created_at, id",
        [v for _c, v in clauses])]


def settle(store: Store, voucher_id: str, deal: Deal | None, refusal: str | None) -> None:
    """A pending voucher as the platform answered the verifier: consumed (`deal`) or refused,
    which flags it (the order stands; the owner chases the guest) and is audited."""
    with store.write():
        if store.one("SELECT 1 FROM group_vouchers WHERE id = ? AND state = 'pending'",
                     (voucher_id,)) is None:
            return  # reversed meanwhile, or settled by an earlier pass
        columns = _deal_columns(store, deal)
        store.conn.execute(
            "UPDATE group_vouchers SET state = :state, deal_title = :deal_title, "
            "face_value_fen = :face_value_fen, paid_fen = :paid_fen, "
            "commission_fen = :commission_fen, refusal = :refusal, settled_at = :now "
            "WHERE id = :id",
            {**columns, "state": "consumed" if deal is not None else "refused",
             "refusal": refusal, "now": store.now_iso(), "id": voucher_id})
        row = _emit(store, voucher_id)
        if deal is None:
            store.audit("group-buy", "group_voucher.refused", row["order_id"],
                        {"code": row["code"], "refusal": refusal})


def mark_reversed(store: Store, voucher_id: str, actor: str, reason: str) -> None:
    """A voucher given back on a refund (the platform reversed it, or it was never consumed)."""
    with store.write():
        store.conn.execute("UPDATE group_vouchers SET state = 'reversed', settled_at = ? "
                           "WHERE id = ?", (store.now_iso(), voucher_id))
        row = _emit(store, voucher_id)
        store.audit(actor, "group_voucher.reversed", row["order_id"],
                    {"code": row["code"], "reason": reason})


def resolve(store: Store, voucher_id: str, resolution: str, actor: str, note: str = "") -> None:
    """The owner settles a flagged voucher: `loss` (the guest will not pay it: the takings it
    covered are lost) or `reverified` (checked again with the platform or the guest, it was
    good after all). It leaves the flagged list; the platform's refusal stays on record, and
    the decision is audited and goes to HQ."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(f"a flagged voucher is settled as {' or '.join(RESOLUTIONS)}")
    with store.write():
        row = store.one("SELECT state, resolution FROM group_vouchers WHERE id = ?",
                        (voucher_id,))
        if row is None:
            raise NotFound(f"no group-buy voucher {voucher_id!r}")
        if row["state"] != "refused" or row["resolution"] is not None:
            raise Conflict("only a refused voucher not yet settled can be settled")
        store.conn.execute("UPDATE group_vouchers SET resolution = ?, resolved_by = ?, "
                           "resolved_at = ? WHERE id = ?",
                           (resolution, actor, store.now_iso(), voucher_id))
        settled = _emit(store, voucher_id, "resolved")
        store.audit(actor, "group_voucher.resolved", settled["order_id"],
                    {"code": settled["code"], "resolution": resolution, "note": note})
