"""What a bill lacks: orders with a dish of one menu category and none of another (a main
dish and no soup), the combo that would fill the gap, and how many would take it.

Expected uptake is estimated from the store's own guests, not assumed: of the member orders
that had X without Y, the share placed by a guest who, on another order in the same period,
took X with Y. Those guests are known to want both; a combo offered to them is the likeliest
to sell. Walk-ins cannot be told apart, so the same share is applied to every X-without-Y
order for `expected_orders`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TypedDict

from ..store import Store
from .period import Period
from .traffic import menu_categories

TOP_GAPS = 10


class Gap(TypedDict):
    category: str  # X: what the order had
    without: str  # Y: what it lacked
    orders_with: int  # orders with X
    orders_without: int  # of those, the orders with no Y
    share_without: float
    combo: list[str]  # X's dish most ordered without Y, and Y's most taken with X
    uptake: float | None  # see the module's docstring; None: no member order to learn from
    expected_orders: int


class OrderedWithout(TypedDict):
    orders: int
    gaps: list[Gap]


def ordered_without(store: Store, period: Period, category: str | None = None
                    ) -> OrderedWithout:
    """Every pair of menu categories (or those with X = `category`), the most orders with X
    and no Y first, each with its suggested combo and the expected uptake. Read from the
    baskets the order-line triggers keep (`order_baskets`, `basket_dishes`): each order's
    categories as sold, of the categories on the menu now."""
    by_code, _ = menu_categories(store, category)
    names = sorted(set(by_code.values()))
    bit = {name: 1 << n for n, name in enumerate(names)}
    masks: dict[str, int] = {}

    def mask_of(categories: str) -> int:
        if categories not in masks:
            masks[categories] = sum(bit.get(name, 0) for name in categories.strip("|").split("|"))
        return masks[categories]

    orders: Counter[int] = Counter()
    per_member: dict[str, Counter[int]] = defaultdict(Counter)
    # Read as it lies in the index: grouping in SQL would sort a year of orders first.
    for categories, member in store.conn.execute(
            "SELECT categories, member_id FROM order_baskets WHERE day BETWEEN ? AND ?",
            period.days()):
        mask = mask_of(categories)
        if mask:
            orders[mask] += 1
            if member is not None:
                per_member[member][mask] += 1
    dishes: dict[int, Counter[tuple[int, str]]] = defaultdict(Counter)
    for categories, filed, dish, count in store.conn.execute(
            "SELECT categories, category, dish, SUM(orders) FROM basket_dishes WHERE day "
            "BETWEEN ? AND ? GROUP BY categories, category, dish", period.days()):
        if mask_of(categories) and filed in bit:
            dishes[mask_of(categories)][(bit[filed], dish)] += count
    # Guests alike count alike: each member's orders by (the pairs of categories they ever
    # took together, as bits of `pairs`, the order's mask), so a pair walks those few keys.
    pairs = [(bit[x], bit[y]) for x in names if category in (None, x) for y in names if y != x]
    together: dict[int, int] = {}
    guests: Counter[tuple[int, int]] = Counter()
    for counts in per_member.values():
        both = 0
        for mask in counts:
            if mask not in together:
                together[mask] = sum(1 << n for n, (xb, yb) in enumerate(pairs)
                                     if mask & xb and mask & yb)
            both |= together[mask]
        for mask, count in counts.items():
            guests[(both, mask)] += count
    gaps = [_gap(x, y, bit[x], bit[y], 1 << n, orders, guests, dishes)
            for n, (x, y) in enumerate((x, y) for x in names if category in (None, x)
                                       for y in names if y != x)]
    gaps = [g for g in gaps if g["orders_without"]]
    gaps.sort(key=lambda g: (-g["orders_without"], g["category"], g["without"]))
    return {"orders": sum(orders.values()), "gaps": gaps[:TOP_GAPS]}


def _gap(x: str, y: str, xb: int, yb: int, pair: int, orders: Counter[int],
         guests: Counter[tuple[int, int]], dishes: dict[int, Counter[tuple[int, str]]]
         ) -> Gap:
    with_x = sum(n for mask, n in orders.items() if mask & xb)
    without = sum(n for mask, n in orders.items() if mask & xb and not mask & yb)
    member_gaps = likely = 0
    for (both, mask), n in guests.items():
        if mask & xb and not mask & yb:
            member_gaps += n
            if both & pair:
                likely += n
    uptake = likely / member_gaps if member_gaps else None
    return Gap(category=x, without=y, orders_with=with_x, orders_without=without,
               share_without=round(without / with_x, 4) if with_x else 0.0,
               combo=[_top(dishes, xb, lambda m: bool(m & xb and not m & yb)),
                      _top(dishes, yb, lambda m: bool(m & xb and m & yb))
                      or _top(dishes, yb, lambda m: True)],
               uptake=round(uptake, 4) if uptake is not None else None,
               expected_orders=round(without * uptake) if uptake else 0)


def _top(dishes: dict[int, Counter[tuple[int, str]]], line_bit: int,
         among: Callable[[int], bool]) -> str:
    """The dish of the category `line_bit` on the most orders whose mask `among` accepts
    (with X and Y, or else any order: Y never taken with X still has its best seller)."""
    counts: Counter[str] = Counter()
    for mask, sold in dishes.items():
        if among(mask):
            for (bit, dish), n in sold.items():
                if bit == line_bit:
                    counts[dish] += n
    return min(counts, key=lambda d: (-counts[d], d)) if counts else ""
