import json

import pytest

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line, create_template, issue_coupon
from hub.domain.errors import (
    CouponUsed,
    IdempotencyConflict,
    InsufficientBalance,
    InsufficientPoints,
    InvalidInput,
    MemberNotFound,
)
from hub.domain.ledgers import top_up
from hub.domain.members import get_member
from hub.domain.staff import add_staff
from hub.domain.visits import check_in

BILL = [Line("宫保鸡丁", 2, 4800), Line("米饭", 2, 300)]  # 10,200 fen


def counts(store):
    return {t: store.scalar(f"SELECT COUNT(*) FROM {t}") for t in (
        "orders", "order_lines", "points_ledger", "stored_value_ledger", "coupon_redemptions",
        "outbox")}


def test_a_full_checkout(store, guest):
    top_up(store, guest["id"], 10_000)
    checkout(store, CheckoutRequest("first", [Line("酸菜鱼", 2, 9800)], member_id=guest["id"]))
    template = create_template(store, "满100减20", "amount_off", amount_fen=2000,
                               min_spend_fen=10000)
    code = issue_coupon(store, template["id"], guest["id"])["code"]
    cashier = add_staff(store, "收银 王芳", "cashier", "1111")
    visit = check_in(store, guest["id"], "A5", 2, staff_id=cashier["id"])
    result = checkout(store, CheckoutRequest(
        "second", BILL, member_id=guest["id"], coupon_code=code, redeem_points=100,
        stored_value_fen=5000, visit_id=visit["id"], staff_id=cashier["id"]))
    assert result["total_fen"] == 10_200
    assert result["coupon_discount_fen"] == 2000
    assert result["points_discount_fen"] == 1000  # 100 points x 10 fen
    assert result["discount_fen"] == 3000
    assert result["due_fen"] == 7200
    assert result["points_earned"] == 72
    assert result["points_balance"] == 196 - 100 + 72
    assert result["stored_value_fen"] == 5000
    events = [r[0] for r in store.conn.execute(
        "SELECT type FROM outbox WHERE data LIKE ? ORDER BY seq", (f"%{result['order_id']}%",))]
    assert events == ["order.created", "coupon.redeemed", "points.entry",
                      "stored_value.entry", "points.entry"]
    order = json.loads(store.scalar("SELECT data FROM outbox WHERE type = 'order.created' "
                                    "ORDER BY seq DESC LIMIT 1"))
    assert [line["dish"] for line in order["lines"]] == ["宫保鸡丁", "米饭"]
    assert "request_hash" not in order


def test_a_walk_in_checkout_needs_no_member(store):
    result = checkout(store, CheckoutRequest("walk-in", BILL, channel="takeaway"))
    assert result["member_id"] is None and result["points_earned"] == 0


def test_a_retry_never_charges_twice(store, guest):
    top_up(store, guest["id"], 20_000)
    request = CheckoutRequest("tablet-42", BILL, member_id=guest["id"], stored_value_fen=10_200)
    first = checkout(store, request)
    before = counts(store)
    again = checkout(store, request)
    assert again["order_id"] == first["order_id"] and again["replayed"] is True
    assert counts(store) == before
    assert get_member(store, guest["id"])["stored_value_fen"] == 9_800
    with pytest.raises(IdempotencyConflict):
        checkout(store, CheckoutRequest("tablet-42", BILL[:1], member_id=guest["id"]))


def test_tiers_rise_with_rolling_spend_and_give_their_benefits(store, guest, clock):
    big = [Line("包桌", 1, 250_000)]
    first = checkout(store, CheckoutRequest("a", big, member_id=guest["id"]))
    assert first["points_earned"] == 2500 and first["tier"] == "silver"
    second = checkout(store, CheckoutRequest("b", big, member_id=guest["id"]))
    assert second["points_earned"] == 3000, "silver earns 120%"
    assert second["tier"] == "gold"
    third = checkout(store, CheckoutRequest("c", [Line("酸菜鱼", 1, 10_000)],
                                            member_id=guest["id"]))
    assert third["tier_discount_fen"] == 500, "gold gets 5% off"
    assert third["points_earned"] == 95 * 150 // 100
    clock.advance(days=400)
    from hub.domain.tiers import refresh_all_tiers

    assert refresh_all_tiers(store) == 1
    assert get_member(store, guest["id"])["tier"] == "member"


@pytest.mark.parametrize("request_kwargs, error", [
    ({"lines": []}, InvalidInput),
    ({"lines": [Line("", 1, 100)]}, InvalidInput),
    ({"lines": [Line("面", 0, 100)]}, InvalidInput),
    ({"lines": [Line("面", 1, -1)]}, InvalidInput),
    ({"lines": [Line("面", 1, 1.5)]}, InvalidInput),
    ({"channel": "drone"}, InvalidInput),
    ({"idempotency_key": ""}, InvalidInput),
    ({"redeem_points": 10_000}, InvalidInput),
    ({"redeem_points": 50}, InsufficientPoints),
    ({"stored_value_fen": 100}, InsufficientBalance),
    ({"stored_value_fen": 20_000}, InvalidInput),
    ({"member_id": "ghost"}, MemberNotFound),
    ({"member_id": None, "stored_value_fen": 100}, InvalidInput),
    ({"coupon_code": "AAAAAAAAAAAAAAAAAA"}, Exception),
])
def test_a_refused_checkout_writes_nothing(store, guest, request_kwargs, error):
    base = {"idempotency_key": "k", "lines": BILL, "member_id": guest["id"]} | request_kwargs
    before = counts(store)
    with pytest.raises(error):
        checkout(store, CheckoutRequest(**base))
    assert counts(store) == before


def test_a_used_coupon_fails_the_whole_checkout(store, guest):
    template = create_template(store, "减5", "amount_off", amount_fen=500)
    code = issue_coupon(store, template["id"], guest["id"])["code"]
    checkout(store, CheckoutRequest("one", BILL, member_id=guest["id"], coupon_code=code))
    before = counts(store)
    with pytest.raises(CouponUsed):
        checkout(store, CheckoutRequest("two", BILL, member_id=guest["id"], coupon_code=code))
    assert counts(store) == before


def test_the_tier_that_prices_a_bill_is_todays_not_a_stale_one(store, guest, clock):
    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line

    def pay(key, price):
        return checkout(store, CheckoutRequest(key, [Line("包桌", 1, price)],
                                               member_id=guest["id"]))

    pay("big", 600_000)  # gold: 5% off from the next bill
    assert pay("next", 10_000)["tier_discount_fen"] == 500
    clock.advance(days=400)  # the big bill has left the rolling year; no night ran since
    assert store.scalar("SELECT tier FROM members WHERE id = ?", (guest["id"],)) == "gold"
    assert pay("late", 10_000)["tier_discount_fen"] == 0
