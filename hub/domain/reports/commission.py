"""Commission (员工提成): what each person earned over a period under the owner's rules
(`[commission]` in laoke.toml), from the same books the staff report counts.

Takings and dishes are the person's who rang the bill up (a tablet paying at the table is
the waiter's), sign-ups the person credited with them, stored value who sold it. Every base
is shown beside what it earned, and the books' totals beside the people's, so the statement
can be checked against the export line by line: each person's base figures add up to the
store's, less what nobody was signed in for.
"""

from __future__ import annotations

from typing import Any, TypedDict

from ..store import Store
from .period import Period


class Statement(TypedDict):
    """One person's month: each base beside what it earned."""

    staff_id: str
    name: str
    role: str
    sales_fen: int
    signups: int
    stored_value_sold_fen: int
    dish_qty: int
    dish_commission_fen: int
    sales_commission_fen: int
    signup_commission_fen: int
    stored_value_commission_fen: int
    total_fen: int


class Commission(TypedDict):
    rules: dict[str, Any]
    staff: list[Statement]
    books: dict[str, int]
    total_fen: int


def commission(store: Store, period: Period) -> Commission:
    rules = store.settings.commission
    span = {"lo": period.lo, "hi": period.hi}
    people = {r["id"]: Statement(staff_id=r["id"], name=r["name"], role=r["role"], sales_fen=0,
                                 signups=0, stored_value_sold_fen=0, dish_qty=0,
                                 dish_commission_fen=0, sales_commission_fen=0,
                                 signup_commission_fen=0, stored_value_commission_fen=0,
                                 total_fen=0)
              for r in store.conn.execute("SELECT id, name, role FROM staff ORDER BY name")}
    books = {"sales_fen": 0, "signups": 0, "stored_value_sold_fen": 0}
    for staff_id, figure, value in store.conn.execute(
            "SELECT staff_id, 'sales_fen', SUM(total_fen - discount_fen - refunded_fen) "
            "FROM counted_orders "
            "WHERE created_at >= :lo AND created_at < :hi GROUP BY staff_id UNION ALL "
            "SELECT signed_up_by, 'signups', COUNT(*) FROM members "
            "WHERE created_at >= :lo AND created_at < :hi GROUP BY signed_up_by UNION ALL "
            "SELECT staff_id, 'stored_value_sold_fen', SUM(amount_fen) FROM stored_value_ledger "
            "WHERE kind = 'topup' AND created_at >= :lo AND created_at < :hi "
            "GROUP BY staff_id", span):
        books[figure] += value
        if staff_id in people:
            people[staff_id][figure] = value  # type: ignore[literal-required]
    for rule in rules.dishes:
        where = "l.code = :target" if rule.code else "d.category = :target"
        for staff_id, qty in store.conn.execute(
                "SELECT o.staff_id, SUM(l.qty) FROM counted_orders o JOIN order_lines l "
                "ON l.order_id = o.id LEFT JOIN menu_dishes d ON d.code = l.code "
                f"WHERE {where} AND o.created_at >= :lo AND o.created_at < :hi "
                "AND o.staff_id IS NOT NULL GROUP BY o.staff_id",
                {**span, "target": rule.code or rule.category}):
            if staff_id in people:
                people[staff_id]["dish_qty"] += qty
                people[staff_id]["dish_commission_fen"] += qty * rule.amount_fen
    statement: list[Statement] = []
    for person in people.values():
        person["sales_commission_fen"] = person["sales_fen"] * rules.sales_bp // 10_000
        person["signup_commission_fen"] = person["signups"] * rules.signup_fen
        person["stored_value_commission_fen"] = (person["stored_value_sold_fen"]
                                                 * rules.stored_value_bp // 10_000)
        person["total_fen"] = (person["sales_commission_fen"] + person["signup_commission_fen"]
                               + person["stored_value_commission_fen"]
                               + person["dish_commission_fen"])
        statement.append(person)
    return Commission(rules=rules.model_dump(), staff=statement, books=books,
                      total_fen=sum(p["total_fen"] for p in statement))
