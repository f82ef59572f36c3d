"""What a bill lacks: orders with a dish of one menu category and none of another (a main
dish and no soup), the combo that would fill the gap, and how many would take it.

Expected uptake is estimated from the store's own guests, not assumed: of the member orders
that had X without Y, the share placed by a guest who, on another order in the same period,
took X with Y. Those guests are known to want both; a combo offered to them is the likeliest
to sell. Walk-ins cannot be told apart, so the same share is applied to every X-without-Y
order for `expected_orders`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TypedDict

from ..store import Store
from .period import Period
from .traffic import menu_categories

TOP_GAPS = 10

# Each order line's category as a bit (from a JSON list of [code, name, bit] for the menu's
# dishes: the line's code first, its dish name else); `masks` is each order's categories.
_BASKETS = """
WITH menu AS MATERIALIZED (
  SELECT json_extract(value, '$[0]') AS code, json_extract(value, '$[1]') AS name,
         json_extract(value, '$[2]') AS bit FROM json_each(:menu)),
lines AS (SELECT l.order_id, l.dish, COALESCE(c.bit, n.bit) AS bit FROM orders o
          JOIN order_lines l ON l.order_id = o.id
          LEFT JOIN menu c ON c.code = l.code LEFT JOIN menu n ON n.name = l.dish
          WHERE o.created_at >= :lo AND o.created_at < :hi),
masks AS MATERIALIZED (SELECT order_id, SUM(DISTINCT bit) AS mask FROM lines
                       WHERE bit IS NOT NULL GROUP BY order_id)
"""


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
    and no Y first, each with its suggested combo and the expected uptake."""
    by_code, by_name = menu_categories(store, category)
    names = sorted(set(by_code.values()))
    bit = {name: 1 << n for n, name in enumerate(names)}
    menu = json.dumps([[code, None, bit[c]] for code, c in by_code.items()]
                      + [[None, name, bit[c]] for name, c in by_name.items()])
    params = {"menu": menu, "lo": period.lo, "hi": period.hi}
    orders: Counter[int] = Counter()
    per_member: dict[str, Counter[int]] = defaultdict(Counter)
    for member, mask, count in store.conn.execute(
            _BASKETS + "SELECT o.member_id, m.mask, COUNT(*) FROM masks m "
            "JOIN orders o ON o.id = m.order_id GROUP BY 1, 2", params):
        orders[mask] += count
        if member is not None:
            per_member[member][mask] += count
    dishes: dict[int, Counter[tuple[int, str]]] = defaultdict(Counter)
    for mask, dish, line_bit, count in store.conn.execute(
            _BASKETS + "SELECT m.mask, l.dish, l.bit, COUNT(DISTINCT l.order_id) FROM lines l "
            "JOIN masks m ON m.order_id = l.order_id GROUP BY 1, 2, 3", params):
        dishes[mask][(line_bit, dish)] += count
    gaps = [_gap(x, y, bit[x], bit[y], orders, per_member, dishes)
            for x in names if category in (None, x) for y in names if y != x]
    gaps = [g for g in gaps if g["orders_without"]]
    gaps.sort(key=lambda g: (-g["orders_without"], g["category"], g["without"]))
    return {"orders": sum(orders.values()), "gaps": gaps[:TOP_GAPS]}


def _gap(x: str, y: str, xb: int, yb: int, orders: Counter[int],
         per_member: dict[str, Counter[int]], dishes: dict[int, Counter[tuple[int, str]]]
         ) -> Gap:
    with_x = sum(n for mask, n in orders.items() if mask & xb)
    without = sum(n for mask, n in orders.items() if mask & xb and not mask & yb)
    member_gaps = likely = 0
    for masks in per_member.values():
        gaps = sum(n for mask, n in masks.items() if mask & xb and not mask & yb)
        member_gaps += gaps
        if gaps and any(mask & xb and mask & yb for mask in masks):
            likely += gaps
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
