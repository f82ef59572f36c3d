"""A bill's arithmetic, apart from the database, so the till's rules can be tested alone.

Checkout gathers what the rules need (the guest's tier, the best member-day price, what the
coupon is worth, the points boost, the balances asked for) and writes what `price` returns;
nothing here reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .coupons import Line
from .errors import InsufficientBalance, InsufficientPoints, InvalidInput


@dataclass(frozen=True)
class Offers:
    """What this guest gets on this bill; a walk-in has no tier and earns no points."""

    fen_per_point: int
    earn_per_yuan: int
    tier_discount_pct: int = 0
    points_multiplier_pct: int | None = None  # None: not a member, no points
    promo_discount_fen: int = 0  # the best member-day price on this bill
    combo_fen: int = 0  # combos on the bill (these together, this much off), before all else
    coupon_fen: int = 0  # what the coupon takes off, before the cap by what is left
    boost_pct: int = 100  # a points campaign's multiplier


@dataclass(frozen=True)
class Bill:
    total_fen: int
    combo_discount_fen: int
    tier_discount_fen: int
    promo_discount_fen: int
    coupon_discount_fen: int
    points_discount_fen: int
    stored_value_fen: int
    points_earned: int  # boost included
    boost_extra_points: int

    @property
    def discount_fen(self) -> int:
        return (self.combo_discount_fen + self.tier_discount_fen + self.promo_discount_fen
                + self.coupon_discount_fen + self.points_discount_fen)

    @property
    def due_fen(self) -> int:
        return self.total_fen - self.discount_fen


def total_of(lines: Sequence[Line]) -> int:
    """The sum of the lines before any discount: what the guest ordered."""
    return sum(line.qty * line.unit_price_fen for line in lines)


def price(lines: Sequence[Line], offers: Offers, *, redeem_points: int = 0,
          points_balance: int = 0, stored_value_fen: int = 0,
          stored_value_balance: int = 0) -> Bill:
    """The bill: discounts in the till's order (combos, tier or member-day price, coupon,
    points), then stored value, then the points earned on what is due."""
    total = total_of(lines)
    combo_discount = min(offers.combo_fen, total)
    base = total - combo_discount
    tier_discount = base * offers.tier_discount_pct // 100
    # A member-day price replaces the tier discount when it is worth more: they never stack.
    promo_discount = offers.promo_discount_fen if offers.promo_discount_fen > tier_discount \
        else 0
    if promo_discount:
        tier_discount = 0
    left = base - tier_discount - promo_discount

    coupon_discount = min(offers.coupon_fen, left)
    left -= coupon_discount

    points_discount = redeem_points * offers.fen_per_point
    if points_discount > left:
        raise InvalidInput(f"{redeem_points} points are worth {points_discount} fen, more "
                           f"than the {left} fen left to pay")
    if redeem_points > points_balance:
        raise InsufficientPoints(
            f"cannot redeem {redeem_points} points: the balance is {points_balance}")
    left -= points_discount

    if stored_value_fen > left:
        raise InvalidInput(f"stored value {stored_value_fen} fen is more than the "
                           f"{left} fen left to pay")
    if stored_value_fen > stored_value_balance:
        raise InsufficientBalance(
            f"stored value {stored_value_balance} fen does not cover {stored_value_fen} fen")

    earned = boost_extra = 0
    if offers.points_multiplier_pct is not None:
        earned = (left // 100) * offers.earn_per_yuan * offers.points_multiplier_pct // 100
        boost_extra = earned * offers.boost_pct // 100 - earned
        earned += boost_extra
    return Bill(total_fen=total, combo_discount_fen=combo_discount,
                tier_discount_fen=tier_discount,
                promo_discount_fen=promo_discount, coupon_discount_fen=coupon_discount,
                points_discount_fen=points_discount, stored_value_fen=stored_value_fen,
                points_earned=earned, boost_extra_points=boost_extra)
