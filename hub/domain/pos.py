"""Behind an existing POS: the POS sends its closed bill, laoke answers as the member's CRM.

Many restaurants keep their POS. It stays the price authority for its own bill: laoke takes
its lines at its prices (by its dish codes, mapped to the menu's so reports by dish line up),
finds the member by phone, card or member QR, applies the member's discount and coupon,
earns the points, and hands back what the POS prints: the amount due, the points, and a
next-visit coupon. The POS's own bill id makes a retry answer the same bill, coupon included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .checkout import CheckoutRequest, Tender, checkout
from .coupons import (
    Line,
    coupon_view,
    issue_while_left,
    offer_conditions,
    offer_value,
    template_by_name,
)
from .errors import InvalidInput, NotFound
from .members import member_by_card, member_by_phone, member_by_qr
from .menu import get_dish
from .store import Store

BILL_ID_LONGEST = 64


@dataclass(frozen=True)
class PosLine:
    pos_code: str
    name: str
    qty: int
    unit_price_fen: int


@dataclass(frozen=True)
class PosBill:
    bill_id: str
    lines: Sequence[PosLine]
    phone: str | None = None
    card: str | None = None
    qr: str | None = None
    coupon_code: str | None = None
    tenders: Sequence[Tender] | None = None
    channel: str = "dine_in"


def map_dishes(store: Store, pairs: Mapping[str, str], actor: str) -> int:
    """The POS's dish codes to the menu's (`laoke pos map`); a code maps again to a new dish."""
    with store.write():
        for pos_code, code in pairs.items():
            if not isinstance(pos_code, str) or not pos_code.strip() or len(pos_code) > 32:
                raise InvalidInput(f"POS code {pos_code!r}: 1 to 32 characters")
            get_dish(store, code)
            store.conn.execute(
                "INSERT INTO pos_dish_map (pos_code, code) VALUES (?, ?) "
                "ON CONFLICT (pos_code) DO UPDATE SET code = excluded.code",
                (pos_code.strip(), code))
        store.audit(actor, "pos.dishes_mapped", None, {"count": len(pairs)})
    return len(pairs)


def _member(store: Store, bill: PosBill) -> Any:
    keys = [key for key in (bill.phone, bill.card, bill.qr) if key]
    if len(keys) > 1:
        raise InvalidInput("name the member by one of phone, card or qr")
    if bill.phone:
        member = member_by_phone(store, bill.phone)
        if member is None or member["erased_at"]:
            raise NotFound("no member with this phone: sign them up, or send the bill without")
        return member
    if bill.card:
        return member_by_card(store, bill.card)
    if bill.qr:
        return member_by_qr(store, bill.qr)
    return None


def _lines(store: Store, lines: Sequence[PosLine]) -> list[Line]:
    codes = dict(store.conn.execute("SELECT pos_code, code FROM pos_dish_map").fetchall())
    names = dict(store.conn.execute("SELECT code, name FROM menu_dishes").fetchall())
    priced = []
    for line in lines:
        code = codes.get(line.pos_code)
        # the POS's price stands; a mapped dish takes the menu's code and name
        priced.append(Line(dish=names[code] if code else line.name, qty=line.qty,
                           unit_price_fen=line.unit_price_fen, code=code))
    return priced


def _coupon(store: Store, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    coupon = coupon_view(store, code)
    return {"code": coupon["code"], "title": coupon["name"], "value": offer_value(coupon),
            "conditions": offer_conditions(coupon), "valid_until": coupon["valid_until"]}


POS_KEY = "pos:"  # a bill's idempotency key: the POS's own bill id after it


def bill_request(store: Store, bill: PosBill) -> CheckoutRequest:
    """The POS's bill as the till's checkout takes it: its lines at its prices, the member it
    names, its tenders (a group-buy voucher's with its code, for the hub to take from the
    platform first, as at the till) and its bill id as the key that makes a retry the same."""
    if not isinstance(bill.bill_id, str) or not bill.bill_id.strip() or \
            len(bill.bill_id) > BILL_ID_LONGEST:
        raise InvalidInput(f"bill_id must be the POS's bill id, 1 to {BILL_ID_LONGEST} "
                           "characters")
    member = _member(store, bill)
    return CheckoutRequest(
        idempotency_key=POS_KEY + bill.bill_id.strip(), lines=_lines(store, bill.lines),
        member_id=member["id"] if member is not None else None,
        coupon_code=bill.coupon_code, channel=bill.channel, tenders=bill.tenders)


def post_bill(store: Store, req: CheckoutRequest) -> dict[str, Any]:
    """Record the POS's bill (`bill_request`, its vouchers taken) as an order and answer what
    its receipt should say."""
    bill_id = req.idempotency_key.removeprefix(POS_KEY)
    with store.write():
        done = store.one("SELECT * FROM pos_bills WHERE bill_id = ?", (bill_id,))
        result = checkout(store, req)
        if done is not None:
            next_code = done["coupon_code"]
        else:
            template = template_by_name(store, store.settings.printing.next_coupon_template)
            next_code = (issue_while_left(store, template, req.member_id, reason="next visit")
                         if req.member_id is not None and template else None)
            store.conn.execute("INSERT INTO pos_bills (bill_id, order_id, coupon_code, "
                               "created_at) VALUES (?, ?, ?, ?)",
                               (bill_id, result["order_id"], next_code, store.now_iso()))
    return {**result, "bill_id": bill_id, "receipt_coupon": _coupon(store, next_code)}
