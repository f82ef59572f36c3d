"""The paid mystery box (盲盒): a guest pays the box's price at the till or from stored value
and it reveals a prize drawn from the owner's weighted list (`[mystery_box] prizes`): a
coupon, points, or a points multiplier on their next bill (hub/domain/boosts.py).

The sale is a checkout with the box as its one line, so it is paid once per request id (the
checkout's idempotency key) and counted like any bill; the box is keyed by that order, so a
retried sale answers the prize it revealed the first time instead of drawing again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import TypedDict

from .boosts import BOX_LINE
from .checkout import CheckoutRequest, Tender, checkout, quote
from .clock import to_iso
from .config import BoxPrize
from .coupons import Line, issue_coupon, template_by_name
from .errors import InvalidInput
from .ledgers import add_points_entry, earn_expiry
from .store import Store

BOX_EVENT = "mystery_box.opened"
PAY = ("stored_value", "cash", "wechat", "alipay", "card")
_SYSTEM = random.SystemRandom()


class OpenedBox(TypedDict):
    order_id: str
    member_id: str
    prize: str
    coupon_code: str | None
    points: int
    boost_pct: int  # the next bill's points multiplier it gave (双倍积分: 200), or 0
    boost_until: str | None  # paid by then
    opened_at: str
    price_fen: int
    again: bool  # a retried sale: the same box, not a second one


class ShownPrize(TypedDict):
    name: str
    weight: int
    share: float  # its chance: its weight over all the weights
    coupon_template: str
    points: int
    points_multiplier_pct: int
    available: bool  # a points prize, or one whose coupon template is active here


class PrizeList(TypedDict):
    price_fen: int
    prizes: list[ShownPrize]


def prize_list(store: Store) -> PrizeList:
    """What a box costs and what it may hold, each prize with its chance; a coupon prize
    whose template this store lacks (or has switched off) is marked, since a box that
    draws it is refused."""
    box = store.settings.mystery_box
    total = sum(p.weight for p in box.prizes) or 1
    return PrizeList(price_fen=box.price_fen, prizes=[ShownPrize(
        name=p.name, weight=p.weight, share=round(p.weight / total, 4),
        coupon_template=p.coupon_template, points=p.points,
        points_multiplier_pct=p.points_multiplier_pct, available=not p.coupon_template or
        template_by_name(store, p.coupon_template) is not None) for p in box.prizes])


def draw(prizes: Sequence[BoxPrize], rng: random.Random) -> BoxPrize:
    """One prize, each as likely as its weight's share of all the weights."""
    return rng.choices(list(prizes), weights=[p.weight for p in prizes])[0]


def box_sale(store: Store, request_id: str, member_id: str, pay: str,
             staff_id: str | None = None) -> CheckoutRequest:
    """The checkout that sells one box: paid wholly from stored value, or by one tender at
    the till. Built apart from `open_box` so a chain store can have HQ approve the stored
    value first (checkout.authorise), as for any bill."""
    box = store.settings.mystery_box
    if not box.price_fen or not box.prizes:
        raise InvalidInput("the mystery box is not sold: set [mystery_box] price_fen and "
                           "prizes")
    if pay not in PAY:
        raise InvalidInput(f"pay must be one of {', '.join(PAY)}")
    if not isinstance(request_id, str) or not request_id.strip():
        raise InvalidInput("a mystery box sale needs its request id (it is paid once)")
    sale = CheckoutRequest(f"box:{request_id}", [Line(BOX_LINE, 1, box.price_fen)],
                           member_id=member_id, staff_id=staff_id)
    if pay == "stored_value":
        # What is due after the guest's tier discount, all of it from stored value.
        due = _due(store, sale)
        return CheckoutRequest(sale.idempotency_key, sale.lines, member_id=member_id,
                               staff_id=staff_id, stored_value_fen=due)
    return CheckoutRequest(sale.idempotency_key, sale.lines, member_id=member_id,
                           staff_id=staff_id, tenders=[Tender(pay, _due(store, sale))])


def _due(store: Store, sale: CheckoutRequest) -> int:
    return int(quote(store, sale)["due_fen"])


def open_box(store: Store, sale: CheckoutRequest,
             rng: random.Random | None = None) -> OpenedBox:
    """Charge the sale and reveal its prize, in one change; the same sale again answers the
    same box. `rng` is for tests (a seeded Random); the till draws from the system's."""
    if sale.member_id is None:
        raise InvalidInput("a mystery box is sold to a member (its prize is theirs)")
    with store.write():
        paid = checkout(store, sale)
        kept = store.one("SELECT * FROM mystery_boxes WHERE order_id = ?", (paid["order_id"],))
        if kept is not None:
            return OpenedBox(order_id=kept["order_id"], member_id=kept["member_id"],
                             prize=kept["prize"], coupon_code=kept["coupon_code"],
                             points=kept["points"], boost_pct=kept["boost_pct"],
                             boost_until=kept["boost_until"], opened_at=kept["opened_at"],
                             price_fen=paid["total_fen"], again=True)
        prize = draw(store.settings.mystery_box.prizes, rng or _SYSTEM)
        code = None
        if prize.coupon_template:
            template = template_by_name(store, prize.coupon_template)
            if template is None:
                raise InvalidInput(f"the prize {prize.name!r} names no active coupon template "
                                   f"{prize.coupon_template!r}")
            code = issue_coupon(store, template, sale.member_id, reason="mystery box",
                                issued_by=sale.staff_id)["code"]
        if prize.points:
            add_points_entry(store, sale.member_id, prize.points, "earn", reason="mystery box",
                             order_id=paid["order_id"], staff_id=sale.staff_id,
                             expires_at=earn_expiry(store))
        until = to_iso(store.now() + timedelta(days=prize.boost_days)) \
            if prize.points_multiplier_pct else None
        opened = OpenedBox(order_id=paid["order_id"], member_id=sale.member_id,
                           prize=prize.name, coupon_code=code, points=prize.points,
                           boost_pct=prize.points_multiplier_pct, boost_until=until,
                           opened_at=store.now_iso(), price_fen=paid["total_fen"], again=False)
        box = {k: v for k, v in opened.items() if k not in ("price_fen", "again")}
        store.db.table("mystery_boxes").insert(box)
        store.emit(BOX_EVENT, box)  # HQ's chain books and a restore know what it revealed
    return opened
