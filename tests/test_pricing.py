"""The till's arithmetic alone (hub.domain.pricing), over every bill hypothesis can think of."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.coupons import Line
from hub.domain.errors import InsufficientBalance, InsufficientPoints, InvalidInput
from hub.domain.pricing import Offers, price

lines = st.lists(st.builds(Line, dish=st.sampled_from(["面", "宫保鸡丁", "米饭"]),
                           qty=st.integers(1, 20), unit_price_fen=st.integers(0, 50_000)),
                 min_size=1, max_size=8)
offers = st.builds(Offers, fen_per_point=st.integers(1, 10), earn_per_yuan=st.integers(0, 5),
                   tier_discount_pct=st.integers(0, 30),
                   points_multiplier_pct=st.one_of(st.none(), st.integers(100, 300)),
                   promo_discount_fen=st.integers(0, 100_000),
                   coupon_fen=st.integers(0, 100_000), boost_pct=st.integers(100, 300),
                   combo_fen=st.one_of(st.just(0), st.integers(0, 50_000)))


@given(lines, offers, st.integers(0, 20_000), st.integers(0, 500_000), st.data())
def test_a_bill_never_charges_below_zero_and_adds_up(bill_lines, offer, points, value, data):
    try:
        bill = price(bill_lines, offer, redeem_points=points,
                     points_balance=data.draw(st.integers(0, 40_000)), stored_value_fen=value,
                     stored_value_balance=data.draw(st.integers(0, 1_000_000)))
    except (InvalidInput, InsufficientPoints, InsufficientBalance):
        return
    total = sum(line.qty * line.unit_price_fen for line in bill_lines)
    assert bill.total_fen == total
    assert 0 <= bill.discount_fen <= total and bill.due_fen == total - bill.discount_fen
    assert not (bill.tier_discount_fen and bill.promo_discount_fen), "they never stack"
    assert bill.combo_discount_fen == min(offer.combo_fen, total), "combos come first"
    base = total - bill.combo_discount_fen
    assert max(bill.tier_discount_fen, bill.promo_discount_fen) == max(
        base * offer.tier_discount_pct // 100,
        offer.promo_discount_fen if offer.promo_discount_fen > base * offer.tier_discount_pct
        // 100 else 0)
    assert bill.coupon_discount_fen <= offer.coupon_fen
    assert bill.points_discount_fen == points * offer.fen_per_point
    assert bill.stored_value_fen == value <= bill.due_fen
    if offer.points_multiplier_pct is None:
        assert bill.points_earned == 0, "a walk-in earns nothing"
    else:  # earned on all that is due, stored value included: it was money once
        base = (bill.due_fen // 100) * offer.earn_per_yuan * offer.points_multiplier_pct // 100
        assert bill.points_earned == base * offer.boost_pct // 100
        assert bill.boost_extra_points == bill.points_earned - base


def test_each_refusal_names_what_is_wrong():
    bill = [Line("宫保鸡丁", 2, 4800)]
    offer = Offers(fen_per_point=1, earn_per_yuan=1, tier_discount_pct=5,
                   points_multiplier_pct=100)
    with pytest.raises(InvalidInput, match="more than the 9120 fen left"):
        price(bill, offer, redeem_points=9121, points_balance=99_999)
    with pytest.raises(InsufficientPoints, match="the balance is 10"):
        price(bill, offer, redeem_points=11, points_balance=10)
    with pytest.raises(InvalidInput, match="more than the 9120 fen left"):
        price(bill, offer, stored_value_fen=9121, stored_value_balance=99_999)
    with pytest.raises(InsufficientBalance, match="does not cover 500 fen"):
        price(bill, offer, stored_value_fen=500, stored_value_balance=499)


def test_a_member_bill_worked_by_hand():
    # 96 元 of dishes, a 5% tier, a 20 元 coupon, 1,000 points at 1 fen, 30 元 stored value
    bill = price([Line("宫保鸡丁", 2, 4800)],
                 Offers(fen_per_point=1, earn_per_yuan=1, tier_discount_pct=5,
                        points_multiplier_pct=150, coupon_fen=2000, boost_pct=200),
                 redeem_points=1000, points_balance=1000, stored_value_fen=3000,
                 stored_value_balance=5000)
    assert (bill.total_fen, bill.tier_discount_fen, bill.coupon_discount_fen,
            bill.points_discount_fen, bill.due_fen) == (9600, 480, 2000, 1000, 6120)
    # 61.20 元 due: 61 yuan x 1 point x 150% = 91, doubled by the campaign
    assert (bill.points_earned, bill.boost_extra_points) == (182, 91)
