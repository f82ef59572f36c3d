"""The till: check-ins, checkout, top-ups, refunds, points adjustments and coupons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response

from printer.queue import get_job, public
from printer.slips import print_receipt

from ..domain import coupons as vouchers
from ..domain import mystery
from ..domain.authority import POINTS, authorise_debit
from ..domain.checkout import CheckoutRequest, Tender, authorise, checkout
from ..domain.devices import may
from ..domain.ledgers import adjust_points, refund_stored_value, top_up
from ..domain.members import points_balance
from ..domain.menu import MenuLine
from ..domain.profiles import MemberProfile, checkin_card, guest_card, member_profile
from ..domain.visits import check_in
from ..groupbuy import Platform, checkout_with_vouchers
from .auth import Caller, hub_of, require
from .members import serving
from .models import (
    BillLine,
    BoxSale,
    CheckIn,
    Checkout,
    CouponCheck,
    CouponIssue,
    CouponRedeem,
    CouponTemplate,
    OrderLine,
    PointsAdjustment,
    Refund,
    TenderLine,
    TopUp,
)
from .printing import queued

router = APIRouter(tags=["till"])
Json = dict[str, Any]


def _lines(lines: list[OrderLine]) -> list[vouchers.Line]:
    return [vouchers.Line(line.dish, line.qty, line.unit_price_fen) for line in lines]


def checkout_lines(lines: list[BillLine]) -> list[vouchers.Line | MenuLine]:
    return [MenuLine(line.code, line.qty, tuple(line.choices or ())) if line.code is not None
            else vouchers.Line(line.dish or "", line.qty, line.unit_price_fen or 0)
            for line in lines]


@router.post("/checkins", status_code=201, summary="Seat a guest (or a walk-in party)")
def create_checkin(body: CheckIn, request: Request,
                   who: Annotated[Caller, Depends(require("checkin.create"))]) -> Json:
    hub = hub_of(request)
    store = hub.store()
    if body.member_id:
        serving(request, who, body.member_id)
    visit = check_in(store, body.member_id, body.table, body.party_size, staff_id=who.staff_id)
    return {"id": visit["id"], "visit": visit, "member": announce_checkin(request, who, visit)}


def announce_checkin(request: Request, who: Caller, visit: Json) -> MemberProfile | None:
    """Tell every tablet who sat down where; the guest's profile as this caller may see it."""
    hub = hub_of(request)
    member_id = visit["member_id"]
    member = member_profile(hub.store(), member_id, masked=who.masked) if member_id else None
    hub.events.publish("checkin.created", checkin_card(
        visit, guest_card(member) if member else None, who.device["name"]))
    return member


@router.post("/checkouts", status_code=201, summary="Check out a bill, idempotently")
def create_checkout(body: Checkout, request: Request, response: Response,
                    who: Annotated[Caller, Depends(require("checkout.create"))],
                    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)]
                    ) -> Json:
    req = CheckoutRequest(
        idempotency_key=idempotency_key, lines=checkout_lines(body.lines),
        member_id=body.member_id,
        redeem_points=body.redeem_points, coupon_code=body.coupon_code,
        stored_value_fen=body.stored_value_fen, channel=body.channel, visit_id=body.visit_id,
        staff_id=who.staff_id, tenders=tenders(body.tenders), party_size=body.party_size,
        table=body.table)
    return pay(request, response, who, req, body.print)


@router.post("/mystery-boxes", status_code=201, summary="Sell a member a mystery box (盲盒) "
             "and reveal its prize; the same request_id again answers the same box, paid once")
def sell_box(body: BoxSale, request: Request, response: Response,
             who: Annotated[Caller, Depends(require("checkout.create"))]) -> Json:
    hub = hub_of(request)
    store = hub.store()
    sale = mystery.box_sale(store, body.request_id, body.member_id, body.pay, who.staff_id)
    opened = mystery.open_box(store, authorise(hub.sync, store, sale))
    if opened["again"]:
        response.status_code = 200
    return dict(opened)


def tenders(given: list[TenderLine] | None) -> list[Tender] | None:
    return None if given is None else [Tender(t.method, t.amount_fen, t.received_fen, t.code)
                                       for t in given]


def pay(request: Request, response: Response, who: Caller, req: CheckoutRequest,
        print_receipt_too: bool) -> Json:
    """A checkout as every till runs it: HQ asked for a chain spend (stored value, points)
    first, the tablets told, and the receipt printed once however often the till retries."""
    hub = hub_of(request)
    store = hub.store()
    result = checkout_with_vouchers(store, Platform(store.settings.group_buy), req,
                                    lambda taken: checkout(store, authorise(hub.sync, store,
                                                                            taken)))
    if result["replayed"]:
        response.status_code = 200
    else:
        hub.events.publish("checkout.completed", {
            "order_id": result["order_id"], "member_id": result["member_id"],
            "total_fen": result["total_fen"], "due_fen": result["due_fen"]})
    job = None
    if print_receipt_too:
        store = hub.store()
        first = store.one("SELECT id FROM print_jobs WHERE kind = 'receipt' AND subject = ? "
                          "AND reprint = 0", (result["order_id"],))
        job = (public(get_job(store, first[0])) if first is not None else
               queued(request, print_receipt(store, result["order_id"], actor=who.actor)))
    return {**result, "print_job": job}


@router.post("/members/{member_id}/topups", status_code=201, summary="Top up stored value")
def create_topup(member_id: str, body: TopUp, request: Request,
                 who: Annotated[Caller, Depends(require("stored_value.topup"))]) -> Json:
    limit = hub_of(request).settings.security.cashier_bonus_limit_fen
    manager_here = who.can("stored_value.bonus") or (
        who.vouched and who.staff is not None and may(who.staff["role"], "stored_value.bonus"))
    if body.bonus_fen > limit and not manager_here:
        raise HTTPException(403, f"a bonus over {limit} fen needs a manager (their device, "
                            "or their staff PIN in X-Staff-Pin)")
    balance = top_up(hub_of(request).store(), member_id, body.amount_fen, body.bonus_fen,
                     actor=who.actor, staff_id=who.staff_id)
    return {"member_id": member_id, "stored_value_fen": balance}


@router.post("/members/{member_id}/points/adjustments", status_code=201,
             summary="Correct a points balance, with a reason")
def create_adjustment(member_id: str, body: PointsAdjustment, request: Request,
                      who: Annotated[Caller, Depends(require("points.adjust"))]) -> Json:
    hub = hub_of(request)
    store = hub.store()
    auth = authorise_debit(hub.sync, store, POINTS, member_id, -body.delta) \
        if isinstance(body.delta, int) and body.delta < 0 else None
    entry = adjust_points(store, member_id, body.delta, body.reason, actor=who.actor,
                          staff_id=who.staff_id, auth=auth)
    return {"entry": entry, "points_balance": points_balance(store, member_id)}


@router.post("/orders/{order_id}/refunds", status_code=201,
             summary="Give back stored value paid for an order")
def create_refund(order_id: str, body: Refund, request: Request,
                  who: Annotated[Caller, Depends(require("stored_value.refund"))]) -> Json:
    balance = refund_stored_value(hub_of(request).store(), order_id, body.amount_fen,
                                  body.reason, actor=who.actor, staff_id=who.staff_id)
    return {"order_id": order_id, "stored_value_fen": balance}


@router.post("/coupons/validate", summary="Is this coupon real, and what does it give?")
def validate_coupon(body: CouponCheck, request: Request,
                    who: Annotated[Caller, Depends(require("coupon.validate"))]) -> Json:
    store = hub_of(request).store()
    if not body.lines:
        return {"coupon": vouchers.coupon_view(store, body.code), "discount_fen": None}
    lines = _lines(body.lines)
    total = sum(line.qty * line.unit_price_fen for line in lines)
    coupon, discount = vouchers.check_coupon(store, body.code, body.member_id, lines, total)
    return {"coupon": coupon, "discount_fen": discount}


@router.post("/coupons/{code}/redeem", summary="Use a coupon outside a checkout")
def redeem_coupon(code: str, body: CouponRedeem, request: Request,
                  who: Annotated[Caller, Depends(require("coupon.redeem"))]) -> Json:
    discount = vouchers.redeem_coupon(hub_of(request).store(), code, body.member_id,
                                      _lines(body.lines))
    return {"code": code, "discount_fen": discount}


@router.post("/coupons", status_code=201, summary="Send a guest a coupon")
def issue_coupon(body: CouponIssue, request: Request,
                 who: Annotated[Caller, Depends(require("coupon.issue"))]) -> Json:
    return vouchers.issue_coupon(hub_of(request).store(), body.template_id, body.member_id,
                                 reason=body.reason, issued_by=who.staff_id)


@router.get("/coupon-templates", summary="The store's coupon templates")
def list_templates(request: Request,
                   who: Annotated[Caller, Depends(require("coupon.validate"))]) -> Json:
    rows = hub_of(request).store().conn.execute(
        "SELECT * FROM coupon_templates ORDER BY created_at")
    return {"templates": [vouchers.template_record(r) for r in rows]}


@router.post("/coupon-templates", status_code=201, summary="Create a coupon template")
def create_template(body: CouponTemplate, request: Request,
                    who: Annotated[Caller, Depends(require("coupon_template.manage"))]) -> Json:
    return vouchers.create_template(hub_of(request).store(), actor=who.actor,
                                    **body.model_dump())
