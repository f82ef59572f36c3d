"""What sells and what it brings in: dishes and the ones ordered together, channels, the
money held and owed, coupons, and each staff member's covers and takings."""

from __future__ import annotations

from typing import TypedDict

from ..store import Store
from .period import Period


class DishSales(TypedDict):
    dish: str
    qty: int
    revenue_fen: int


class Dishes(TypedDict):
    dishes: list[DishSales]


class Pairing(TypedDict):
    dish_a: str
    dish_b: str
    orders: int
    support: float
    confidence_a_b: float
    confidence_b_a: float
    lift: float


class Pairings(TypedDict):
    orders: int
    pairs: list[Pairing]


class StaffFigures(TypedDict):
    id: str
    name: str
    role: str
    covers: int
    returning_guests: int
    orders: int
    revenue_fen: int
    average_ticket_fen: int
    signups: int


class Staff(TypedDict):
    staff: list[StaffFigures]


class ChannelFigures(TypedDict):
    channel: str
    orders: int
    revenue_fen: int


class Channels(TypedDict):
    channels: list[ChannelFigures]


class Summary(TypedDict):
    orders: int
    revenue_fen: int
    average_ticket_fen: int
    stored_value_float_fen: int
    points_liability: int
    points_liability_fen: int
    coupons_issued: int
    coupons_redeemed: int


class TemplateUse(TypedDict):
    template: str
    issued: int
    redeemed: int
    discount_fen: int
    rate: float


class Coupons(TypedDict):
    templates: list[TemplateUse]


def dishes(store: Store, period: Period) -> Dishes:
    """Most sold first, from the per-day rollup the order-line trigger keeps."""
    rows = store.conn.execute(
        "SELECT dish, SUM(qty) AS qty, SUM(revenue_fen) AS revenue_fen "
        "FROM dish_days WHERE day BETWEEN ? AND ? GROUP BY dish "
        "ORDER BY qty DESC, revenue_fen DESC, dish", period.days())
    return {"dishes": [DishSales(dish=r["dish"], qty=r["qty"], revenue_fen=r["revenue_fen"])
                       for r in rows]}


def pairings(store: Store, period: Period, top: int = 30) -> Pairings:
    """Dishes ordered together more often than chance: how many orders had both, and the
    lift (above 1 is a real pairing; rice, ordered with everything, has about 1 and is
    left out), the most frequent first."""
    orders = store.scalar("SELECT COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ?",
                          (period.lo, period.hi))
    alone = dict(store.conn.execute(
        "SELECT dish, SUM(orders) FROM dish_days WHERE day BETWEEN ? AND ? GROUP BY dish",
        period.days()).fetchall())
    pairs: list[Pairing] = []
    for a, b, together in store.conn.execute(
            "SELECT dish_a, dish_b, SUM(orders) FROM dish_pairs WHERE day BETWEEN ? AND ? "
            "GROUP BY dish_a, dish_b", period.days()):
        lift = round(together * orders / (alone[a] * alone[b]), 3)
        if lift <= 1:
            continue
        # Confidence: of the orders with the one dish, the share that also had the other.
        pairs.append({"dish_a": a, "dish_b": b, "orders": together,
                      "support": round(together / orders, 4),
                      "confidence_a_b": round(together / alone[a], 4),
                      "confidence_b_a": round(together / alone[b], 4), "lift": lift})
    pairs.sort(key=lambda p: (-p["orders"], -p["lift"], p["dish_a"], p["dish_b"]))
    return {"orders": orders, "pairs": pairs[:top]}


def staff(store: Store, period: Period) -> Staff:
    """Per staff member: covers served, returning guests among them, orders, average ticket,
    and the members they signed up."""
    served = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT v.staff_id, SUM(v.party_size), SUM(v.member_id IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM visits p WHERE p.member_id = v.member_id "
        "  AND p.visited_at < v.visited_at)) "
        "FROM visits v WHERE v.visited_at >= ? AND v.visited_at < ? GROUP BY v.staff_id",
        (period.lo, period.hi))}
    signups = dict(store.conn.execute(
        "SELECT signed_up_by, COUNT(*) FROM members WHERE created_at >= ? AND created_at < ? "
        "AND signed_up_by IS NOT NULL GROUP BY signed_up_by", (period.lo, period.hi)).fetchall())
    sold = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT staff_id, COUNT(*), SUM(total_fen - discount_fen) FROM orders "
        "WHERE created_at >= ? AND created_at < ? GROUP BY staff_id", (period.lo, period.hi))}
    people: list[StaffFigures] = []
    for row in store.conn.execute("SELECT id, name, role FROM staff ORDER BY name"):
        covers, back = served.get(row["id"], (0, 0))
        orders, revenue = sold.get(row["id"], (0, 0))
        people.append({"id": row["id"], "name": row["name"], "role": row["role"],
                       "covers": covers, "returning_guests": back, "orders": orders,
                       "revenue_fen": revenue,
                       "average_ticket_fen": revenue // orders if orders else 0,
                       "signups": signups.get(row["id"], 0)})
    return {"staff": people}


def channels(store: Store, period: Period) -> Channels:
    rows = store.conn.execute(
        "SELECT channel, COUNT(*) AS orders, SUM(total_fen - discount_fen) AS revenue_fen "
        "FROM orders WHERE created_at >= ? AND created_at < ? GROUP BY channel "
        "ORDER BY orders DESC", (period.lo, period.hi))
    return {"channels": [ChannelFigures(channel=r["channel"], orders=r["orders"],
                                        revenue_fen=r["revenue_fen"]) for r in rows]}


def summary(store: Store, period: Period) -> Summary:
    """Average ticket, money held for guests, points owed, coupons used."""
    orders, revenue = store.totals(
        "SELECT COUNT(*), COALESCE(SUM(total_fen - discount_fen), 0) FROM orders "
        "WHERE created_at >= ? AND created_at < ?", (period.lo, period.hi))
    redeemed = store.scalar("SELECT COUNT(*) FROM coupon_redemptions WHERE redeemed_at >= ? "
                            "AND redeemed_at < ?", (period.lo, period.hi))
    issued = store.scalar("SELECT COUNT(*) FROM coupons WHERE issued_at >= ? AND issued_at < ?",
                          (period.lo, period.hi))
    points = store.scalar("SELECT COALESCE(SUM(delta), 0) FROM points_ledger")
    return {
        "orders": orders, "revenue_fen": revenue,
        "average_ticket_fen": revenue // orders if orders else 0,
        "stored_value_float_fen": store.scalar(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger"),
        "points_liability": points,
        "points_liability_fen": points * store.settings.points.fen_per_point,
        "coupons_issued": issued, "coupons_redeemed": redeemed,
    }


def coupons(store: Store, period: Period) -> Coupons:
    """Per coupon template: issued in the period, and how many of those were redeemed."""
    rows = store.conn.execute(
        "SELECT t.name AS template, COUNT(*) AS issued, COUNT(r.code) AS redeemed, "
        "COALESCE(SUM(r.discount_fen), 0) AS discount_fen FROM coupons c "
        "JOIN coupon_templates t ON t.id = c.template_id "
        "LEFT JOIN coupon_redemptions r ON r.code = c.code "
        "WHERE c.issued_at >= ? AND c.issued_at < ? GROUP BY t.id ORDER BY issued DESC, t.name",
        (period.lo, period.hi)).fetchall()
    return {"templates": [TemplateUse(template=r["template"], issued=r["issued"],
                                      redeemed=r["redeemed"], discount_fen=r["discount_fen"],
                                      rate=round(r["redeemed"] / r["issued"], 4))
                          for r in rows]}
