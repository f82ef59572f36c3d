"""Checkout: the till's one operation, all of it in one transaction or none of it.

Order and lines, tier discount, coupon, points redeemed and earned, stored value paid, the
guest's new tier and every outbox event commit together. An idempotency key makes a retry
(a tablet that lost its connection) answer the first order instead of charging twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypedDict

from .authority import OFFLINE, POINTS, STORED_VALUE, ChainLink, ask_hq, spend_note
from .boosts import Boost, best_boost, use_boost
from .campaigns import after_payment, member_day_price, record_use
from .coupons import Line, check_coupon, record_redemption
from .errors import IdempotencyConflict, InvalidInput, MemberErased, NotFound
from .groupbuy import Taken, record_taken, voucher_code
from .ids import new_id
from .ledgers import (
    MAX_TOPUP_FEN,
    add_points_entry,
    add_stored_value_entry,
    earn_expiry,
    whole_number,
)
from .members import member_row, points_balance, stored_value_balance
from .menu import MenuLine, combo_discount, priced_lines
from .pricing import Offers, price, total_of
from .staff import get_staff
from .store import Row, Store, dumps
from .tables import close_tab
from .tiers import refresh_tier
from .visits import check_in

CHANNELS = ("dine_in", "takeaway", "delivery")
COUNTER = "柜台"  # where a party paid at the counter sat, for the covers reports
MAX_LINES = 200
MAX_LINE_FEN = 10_000_000


TENDERS = ("cash", "wechat", "alipay", "card", "voucher")


@dataclass(frozen=True)
class Tender:
    """How part of the bill was paid; laoke records it and processes no payment. Cash may
    say what the guest handed over, for the change on the receipt."""

    method: str
    amount_fen: int
    received_fen: int | None = None
    code: str | None = None  # a group-buy voucher's code (groupbuy.py)


class PricedLine(TypedDict):
    code: str | None
    dish: str
    qty: int
    unit_price_fen: int


class PaidTender(TypedDict):
    method: str
    amount_fen: int
    received_fen: int | None


class CheckoutResult(TypedDict):
    """What a checkout answers (shared/SPEC.md fixes its core), the same on a retry."""

    order_id: str
    member_id: str | None
    total_fen: int
    discount_fen: int
    combo_discount_fen: int
    tier_discount_fen: int
    promo_discount_fen: int
    coupon_discount_fen: int
    points_discount_fen: int
    due_fen: int
    stored_value_paid_fen: int
    points_earned: int
    points_redeemed: int
    coupon_code: str | None
    points_balance: int
    stored_value_fen: int
    tier: str | None
    created_at: str
    lines: list[PricedLine]
    tenders: list[PaidTender]
    replayed: bool


@dataclass(frozen=True)
class CheckoutRequest:
    idempotency_key: str
    lines: Sequence[Line | MenuLine]
    member_id: str | None = None
    redeem_points: int = 0
    coupon_code: str | None = None
    stored_value_fen: int = 0
    channel: str = "dine_in"
    visit_id: str | None = None
    staff_id: str | None = None
    # In a chain: "hq:HOLD" when HQ approved the stored-value spend (the points
    # redemption), "slice" when HQ could not be asked (see authority.py, `authorise`); None
    # for a store on its own.
    stored_value_auth: str | None = None
    points_auth: str | None = None
    # How the rest of the bill (after stored value) was paid; none given: all of it in cash.
    tenders: Sequence[Tender] | None = None
    tab_id: str | None = None  # the table's open order this pays, closed with it
    # A dine-in bill with no visit yet (the console's till): the party it seats, so every
    # report that counts covers counts it; at `table`, else the counter.
    party_size: int | None = None
    table: str | None = None
    # The voucher tenders' codes as the hub took them from the platform (hub/groupbuy.py):
    # the platform's answer, not part of what the till asked.
    vouchers: Sequence[Taken] = ()


def _validate(req: CheckoutRequest) -> None:
    key = req.idempotency_key
    if not isinstance(key, str) or not key.strip() or len(key) > 128:
        raise InvalidInput("a checkout needs an idempotency key of 1 to 128 characters")
    if not req.lines or len(req.lines) > MAX_LINES:
        raise InvalidInput(f"a checkout needs 1 to {MAX_LINES} lines")
    for number, line in enumerate(req.lines, 1):
        if isinstance(line, MenuLine):
            if not isinstance(line.code, str) or not line.code.strip() or len(line.code) > 32:
                raise InvalidInput(f"line {number}: code must be a menu code")
            if len(line.choices) > 100:
                raise InvalidInput(f"line {number}: at most 100 choices")
        elif not isinstance(line.dish, str) or not line.dish.strip() or len(line.dish) > 60:
            raise InvalidInput(f"line {number}: dish must be a name of 1 to 60 characters")
        else:
            whole_number(line.unit_price_fen, f"line {number}: unit_price_fen", 0,
                         MAX_LINE_FEN)
        whole_number(line.qty, f"line {number}: qty", 1, 999)
    for number, tender in enumerate(req.tenders or (), 1):
        if tender.method not in TENDERS:
            raise InvalidInput(f"tender {number}: method must be one of {', '.join(TENDERS)}")
        whole_number(tender.amount_fen, f"tender {number}: amount_fen", 0, MAX_LINE_FEN)
        if tender.received_fen is not None:
            whole_number(tender.received_fen, f"tender {number}: received_fen",
                         tender.amount_fen, MAX_LINE_FEN)
            if tender.method != "cash":
                raise InvalidInput(f"tender {number}: only cash is handed over with change")
        if tender.code is not None and tender.method != "voucher":
            raise InvalidInput(f"tender {number}: only a voucher carries a code")
    codes = [voucher_code(t.code) for t in req.tenders or () if t.code is not None]
    if len(set(codes)) != len(codes):
        raise InvalidInput("a voucher code is given once per checkout")
    whole_number(req.redeem_points, "redeem_points", 0)
    whole_number(req.stored_value_fen, "stored_value_fen", 0, MAX_TOPUP_FEN)
    if req.channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}")
    if req.member_id is None and (req.redeem_points or req.stored_value_fen):
        raise InvalidInput("points and stored value need a member")


def _request_hash(req: CheckoutRequest) -> str:
    body = asdict(req)
    body.pop("idempotency_key")
    body.pop("stored_value_auth")  # a retry may be approved anew; it is the same checkout
    body.pop("points_auth")
    body.pop("vouchers")
    # What checkouts before the menu and tenders sent hashes as it did then.
    body["lines"] = [{k: v for k, v in line.items() if not (k == "code" and v is None)}
                     for line in body["lines"]]
    for tender in body["tenders"] or ():
        if tender["code"] is None:
            tender.pop("code")
    for key in ("tenders", "tab_id", "party_size", "table"):
        if body[key] is None:
            body.pop(key)
    return hashlib.sha256(dumps(body).encode()).hexdigest()


def _result(store: Store, order: dict[str, Any], replayed: bool) -> CheckoutResult:
    member_id = order["member_id"]
    return {
        "order_id": order["id"],
        "member_id": member_id,
        "total_fen": order["total_fen"],
        "discount_fen": order["discount_fen"],
        "combo_discount_fen": order["combo_discount_fen"],
        "tier_discount_fen": order["tier_discount_fen"],
        "promo_discount_fen": order["promo_discount_fen"],
        "coupon_discount_fen": order["coupon_discount_fen"],
        "points_discount_fen": order["points_discount_fen"],
        "due_fen": order["total_fen"] - order["discount_fen"],
        "stored_value_paid_fen": order["stored_value_paid_fen"],
        "points_earned": order["points_earned"],
        "points_redeemed": order["points_redeemed"],
        "coupon_code": order["coupon_code"],
        "points_balance": points_balance(store, member_id) if member_id else 0,
        "stored_value_fen": stored_value_balance(store, member_id) if member_id else 0,
        "tier": member_row(store, member_id)["tier"] if member_id else None,
        "created_at": order["created_at"],
        "lines": [PricedLine(code=row["code"], dish=row["dish"], qty=row["qty"],
                             unit_price_fen=row["unit_price_fen"])
                  for row in store.conn.execute(
                      "SELECT code, dish, qty, unit_price_fen FROM order_lines "
                      "WHERE order_id = ? ORDER BY line_no", (order["id"],))],
        "tenders": [PaidTender(method=row["method"], amount_fen=row["amount_fen"],
                               received_fen=row["received_fen"])
                    for row in store.conn.execute(
                        "SELECT method, amount_fen, received_fen FROM order_tenders "
                        "WHERE order_id = ? ORDER BY line_no", (order["id"],))],
        "replayed": replayed,
    }


def _priced(store: Store, lines: Sequence[Line | MenuLine], member: Row | None,
            taken: bool) -> list[Line]:
    """The bill's lines with every menu line priced from the menu for this guest; `taken`: a
    table's, whose dishes were taken (portions drawn) as they were ordered."""
    priced: list[Line] = []
    ordered: dict[str, int] = {}
    for line in lines:
        found = priced_lines(store, line, member, ordered, taken) \
            if isinstance(line, MenuLine) else [line]
        for one in found:
            if one.code:
                ordered[one.code] = ordered.get(one.code, 0) + one.qty
        priced += found
    return priced


def _tenders(req: CheckoutRequest, due_fen: int) -> list[Tender]:
    """How the bill was paid: tenders and stored value make up exactly what is due."""
    rest = due_fen - req.stored_value_fen
    if req.tenders is None:
        return [Tender("cash", rest)] if rest else []
    given = sum(tender.amount_fen for tender in req.tenders)
    if given != rest:
        raise InvalidInput(f"the tenders add up to {given} fen, but {rest} fen is due after "
                           "stored value")
    return list(req.tenders)


def checkout(store: Store, req: CheckoutRequest) -> CheckoutResult:
    _validate(req)
    request_hash = _request_hash(req)
    with store.write():
        existing = store.one("SELECT * FROM orders WHERE idempotency_key = ?",
                             (req.idempotency_key,))
        if existing is not None:
            if existing["request_hash"] != request_hash:
                raise IdempotencyConflict(
                    "this idempotency key was already used for a different checkout")
            return _result(store, dict(existing), replayed=True)
        return _charge(store, req, request_hash)


class _Quoted(Exception):
    """Carries a trial checkout's answer out of the transaction it rolls back."""

    def __init__(self, result: CheckoutResult) -> None:
        super().__init__("quoted")
        self.result = result


def quote(store: Store, req: CheckoutRequest) -> CheckoutResult:
    """What this checkout would charge, and whatever would refuse it, without charging
    anything: the checkout itself, rolled back (the guest's display, HQ's approval asked only
    for a checkout that can go through)."""
    _validate(req)
    try:
        with store.write():
            raise _Quoted(_charge(store, replace(req, idempotency_key=f"quote:{new_id()}"),
                                  "quote"))
    except _Quoted as quoted:
        return quoted.result


def authorise(link: ChainLink | None, store: Store, req: CheckoutRequest) -> CheckoutRequest:
    """The checkout with the chain's word on its stored-value spend and points redemption.

    A store with no broker is on its own (no authorisation). A retry of a checkout already
    made needs none: the first one stands. The whole checkout is quoted first, so whatever
    would refuse it (stored value above the bill, a used coupon, too few points here)
    refuses it before HQ promises anything. HQ's refusal is final; when HQ cannot be asked,
    the store's slice decides (`slice`)."""
    spends = [(asset, amount) for asset, amount in
              ((STORED_VALUE, req.stored_value_fen), (POINTS, req.redeem_points)) if amount]
    if not spends or req.member_id is None or not store.settings.broker.url:
        return req
    if store.one("SELECT 1 FROM orders WHERE idempotency_key = ?", (req.idempotency_key,)):
        return req
    auth: dict[str, str] = {}
    if link is None or not link.reachable():
        auth = {asset.name: OFFLINE for asset, _amount in spends}
    else:
        quote(store, replace(req, stored_value_auth=None, points_auth=None))
        for asset, amount in spends:  # HQ silent on the first: the slice for the second too
            auth[asset.name] = OFFLINE if OFFLINE in auth.values() else ask_hq(
                link, store, asset, req.member_id, amount, req.idempotency_key)
    return replace(req, stored_value_auth=auth.get(STORED_VALUE.name),
                   points_auth=auth.get(POINTS.name))


def write_order(store: Store, order: dict[str, Any], bill_lines: Sequence[Line],
                tenders: Sequence[Tender]) -> None:
    """Write an order with its lines and tenders and tell HQ, inside the caller's change: the
    till's checkout and a delivery platform's order (delivery.py) land the same way, so every
    report and HQ read them alike."""
    order_id = order["id"]
    store.conn.execute(  # the order's keys are its columns
        f"INSERT INTO orders ({', '.join(order)}) VALUES ({', '.join(':' + k for k in order)})",
        order)
    lines = [{"line_no": n, "dish": line.dish.strip(), "qty": line.qty,
              "unit_price_fen": line.unit_price_fen, "code": line.code}
             for n, line in enumerate(bill_lines, 1)]
    store.conn.executemany(
        "INSERT INTO order_lines (order_id, line_no, dish, qty, unit_price_fen, code) "
        "VALUES (:order_id, :line_no, :dish, :qty, :unit_price_fen, :code)",
        [{**line, "order_id": order_id} for line in lines])
    paid = [{"line_no": n, "method": tender.method, "amount_fen": tender.amount_fen,
             "received_fen": tender.received_fen} for n, tender in enumerate(tenders, 1)]
    store.conn.executemany(
        "INSERT INTO order_tenders (order_id, line_no, method, amount_fen, received_fen) "
        "VALUES (:order_id, :line_no, :method, :amount_fen, :received_fen)",
        [{**tender, "order_id": order_id} for tender in paid])
    public = {k: v for k, v in order.items() if k != "request_hash"}
    store.emit("order.created", {**public, "lines": lines, "tenders": paid})


def _charge(store: Store, req: CheckoutRequest, request_hash: str) -> CheckoutResult:
    settings = store.settings
    member = member_row(store, req.member_id) if req.member_id else None
    if member is not None and member["erased_at"]:
        raise MemberErased(f"member {req.member_id} was erased")
    if member is not None and refresh_tier(store, member["id"]) != member["tier"]:
        # the tier the rolling year gives today prices the bill, not one a night left stale
        member = member_row(store, member["id"])
    if req.staff_id is not None:
        get_staff(store, req.staff_id)
    if req.visit_id is not None and store.one(
            "SELECT 1 FROM visits WHERE id = ?", (req.visit_id,)) is None:
        raise NotFound(f"no visit {req.visit_id!r}")
    if req.party_size is not None and req.visit_id is None and req.channel == "dine_in":
        req = replace(req, visit_id=check_in(store, req.member_id, req.table or COUNTER,
                                             req.party_size, req.staff_id)["id"])

    bill_lines = _priced(store, req.lines, member, taken=req.tab_id is not None)
    tier = settings.tier(member["tier"]) if member is not None else None
    promo_campaign, promo_discount = member_day_price(store, member, bill_lines)
    coupon_code, coupon_fen = None, 0
    if req.coupon_code:
        coupon, coupon_fen = check_coupon(store, req.coupon_code, req.member_id, bill_lines,
                                          total_of(bill_lines))
        coupon_code = coupon["code"]
    boost = best_boost(store, member["id"], [line.dish for line in bill_lines]) \
        if member is not None else Boost()
    member_id = req.member_id or ""
    bill = price(bill_lines, Offers(
        fen_per_point=settings.points.fen_per_point, earn_per_yuan=settings.points.earn_per_yuan,
        tier_discount_pct=tier.discount_pct if tier else 0,
        points_multiplier_pct=tier.points_multiplier_pct if tier else None,
        promo_discount_fen=promo_discount, coupon_fen=coupon_fen, boost_pct=boost.pct,
        combo_fen=combo_discount(store, bill_lines)),
        redeem_points=req.redeem_points,
        points_balance=points_balance(store, member_id) if req.redeem_points else 0,
        stored_value_fen=req.stored_value_fen,
        stored_value_balance=stored_value_balance(store, member_id)
        if req.stored_value_fen else 0)
    if not bill.promo_discount_fen:
        promo_campaign = None
    tenders = _tenders(req, bill.due_fen)

    order_id = new_id()
    order = {
        "id": order_id, "store_id": store.store_id, "member_id": req.member_id,
        "visit_id": req.visit_id, "channel": req.channel, "total_fen": bill.total_fen,
        "combo_discount_fen": bill.combo_discount_fen,
        "tier_discount_fen": bill.tier_discount_fen,
        "promo_discount_fen": bill.promo_discount_fen,
        "coupon_discount_fen": bill.coupon_discount_fen,
        "points_discount_fen": bill.points_discount_fen,
        "discount_fen": bill.discount_fen,
        "stored_value_paid_fen": req.stored_value_fen, "points_earned": bill.points_earned,
        "points_redeemed": req.redeem_points, "coupon_code": coupon_code,
        "tier": tier.code if tier else None, "staff_id": req.staff_id,
        "idempotency_key": req.idempotency_key, "request_hash": request_hash,
        "created_at": store.now_iso(),
    }
    write_order(store, order, bill_lines, tenders)
    if req.tab_id is not None:
        close_tab(store, req.tab_id, order_id)
    record_taken(store, order_id, [(t.code, t.amount_fen) for t in tenders if t.code],
                 req.vouchers)

    if coupon_code:
        record_redemption(store, coupon_code, order_id=order_id, member_id=req.member_id,
                          discount_fen=bill.coupon_discount_fen)
    if member is not None:
        if req.redeem_points:
            add_points_entry(store, member["id"], -req.redeem_points, "redeem",
                             order_id=order_id, staff_id=req.staff_id,
                             note=spend_note(store, member["id"], req.redeem_points,
                                             req.points_auth, POINTS))
        if req.stored_value_fen:
            note = spend_note(store, member["id"], req.stored_value_fen, req.stored_value_auth)
            add_stored_value_entry(store, member["id"], -req.stored_value_fen, "spend",
                                   order_id=order_id, staff_id=req.staff_id, note=note)
        if bill.points_earned:
            add_points_entry(store, member["id"], bill.points_earned, "earn", order_id=order_id,
                             staff_id=req.staff_id, expires_at=earn_expiry(store))
        if promo_campaign:
            record_use(store, promo_campaign, order_id, member["id"],
                       discount_fen=bill.promo_discount_fen)
        use_boost(store, boost, order_id, member["id"], bill.boost_extra_points)
        after_payment(store, member, order_id, member["tier"],
                      refresh_tier(store, member["id"]))
    return _result(store, order, replayed=False)
