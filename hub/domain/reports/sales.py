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
    staff_id: str
    id: str  # the same as staff_id, as the report said before the contract named it
    name: str
    role: str
    covers: int
    tables: int
    returning_guests: int
    returning_share: float | None
    orders: int
    revenue_fen: int
    average_ticket_fen: int
    signups: int
    topups_fen: int
    coupons_issued: int
    members_only_sold: int
    feedback_count: int
    rating_avg: float | None
    good_rate: float | None


class Staff(TypedDict):
    staff: list[StaffFigures]


class ChannelFigures(TypedDict):
    """One channel; delivery once per platform (`platform` is None for the others), with what
    the delivery platform kept (`platform_fee_fen`) and charged, and what the group-buy
    platform kept of the vouchers its orders took (`voucher_commission_fen`), and the vouchers
    the platform refused that the owner settled as a loss (`voucher_loss_fen`: the bill they
    covered was never paid): `net_fen`, the takings less all three, is the shop's."""

    channel: str
    platform: str | None
    orders: int
    revenue_fen: int
    platform_fee_fen: int
    delivery_fee_fen: int
    voucher_commission_fen: int
    voucher_loss_fen: int
    net_fen: int


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
    orders = store.scalar("SELECT COUNT(*) FROM counted_orders WHERE created_at >= ? "
                          "AND created_at < ?", (period.lo, period.hi))
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
    """Per staff member, from what their shifts and PINs put on the books: covers and tables
    seated (with the returning guests among them), orders and takings with the average
    ticket, members signed up, stored value sold, coupons handed out, members-only dishes
    sold (dishes the menu marks so now), and the guests' ratings of their orders.
    `good_rate` is ratings of 4 or 5 over all rated orders (None with none rated)."""
    span = (period.lo, period.hi)
    served = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT v.staff_id, SUM(v.party_size), COUNT(*), SUM(v.member_id IS NOT NULL AND "
        "EXISTS (SELECT 1 FROM visits p WHERE p.member_id = v.member_id "
        "  AND p.visited_at < v.visited_at)) "
        "FROM visits v WHERE v.visited_at >= ? AND v.visited_at < ? GROUP BY v.staff_id", span)}
    signups = _per_staff(store, "SELECT signed_up_by, COUNT(*) FROM members WHERE created_at "
                         ">= ? AND created_at < ? GROUP BY signed_up_by", span)
    sold = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT staff_id, COUNT(*), SUM(total_fen - discount_fen - refunded_fen) "
        "FROM counted_orders WHERE created_at >= ? AND created_at < ? GROUP BY staff_id", span)}
    topups = _per_staff(store, "SELECT staff_id, SUM(amount_fen) FROM stored_value_ledger "
                        "WHERE kind = 'topup' AND created_at >= ? AND created_at < ? "
                        "GROUP BY staff_id", span)
    coupons = _per_staff(store, "SELECT issued_by, COUNT(*) FROM coupons WHERE issued_at >= ? "
                         "AND issued_at < ? GROUP BY issued_by", span)
    exclusive = _per_staff(store, "SELECT o.staff_id, SUM(l.qty) FROM counted_orders o JOIN "
                           "order_lines l ON l.order_id = o.id JOIN menu_dishes d "
                           "ON d.code = l.code AND d.members_only = 1 WHERE o.created_at >= ? "
                           "AND o.created_at < ? GROUP BY o.staff_id", span)
    rated = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT f.staff_id, COUNT(*), SUM(f.rating), SUM(f.rating >= 4) FROM feedback f "
        "JOIN counted_orders o ON o.id = f.order_id WHERE o.created_at >= ? AND o.created_at < ? "
        "GROUP BY f.staff_id", span)}
    people: list[StaffFigures] = []
    for row in store.conn.execute("SELECT id, name, role FROM staff ORDER BY name"):
        covers, tables, back = served.get(row["id"], (0, 0, 0))
        orders, revenue = sold.get(row["id"], (0, 0))
        count, total, good = rated.get(row["id"], (0, 0, 0))
        people.append(StaffFigures(
            staff_id=row["id"], id=row["id"], name=row["name"], role=row["role"],
            covers=covers, tables=tables, returning_guests=back,
            returning_share=round(back / tables, 4) if tables else None,
            orders=orders, revenue_fen=revenue,
            average_ticket_fen=revenue // orders if orders else 0,
            signups=signups.get(row["id"], 0), topups_fen=topups.get(row["id"], 0),
            coupons_issued=coupons.get(row["id"], 0),
            members_only_sold=exclusive.get(row["id"], 0), feedback_count=count,
            rating_avg=round(total / count, 2) if count else None,
            good_rate=round(good / count, 4) if count else None))
    return Staff(staff=people)


def _per_staff(store: Store, sql: str, span: tuple[str, str]) -> dict[str, int]:
    """One figure per staff member from a `SELECT staff, figure ... GROUP BY staff` query."""
    return {r[0]: r[1] for r in store.conn.execute(sql, span) if r[0] is not None}


def channels(store: Store, period: Period) -> Channels:
    """Orders and takings by channel, and what the shop keeps of them (the platforms'
    commissions out: the one place takings are netted); a platform's order it cancelled or
    refunded is not counted (the order stays in the books, marked)."""
    rows = store.conn.execute(
        "SELECT o.channel, d.platform, COUNT(*) AS orders, "
        "SUM(o.total_fen - o.discount_fen - o.refunded_fen) AS revenue_fen, "
        "COALESCE(SUM(d.commission_fen), 0) AS platform_fee_fen, "
        "COALESCE(SUM(d.delivery_fee_fen), 0) AS delivery_fee_fen, "
        "COALESCE(SUM(v.commission_fen), 0) AS voucher_commission_fen, "
        "COALESCE(SUM(v.loss_fen), 0) AS voucher_loss_fen "
        "FROM counted_orders o LEFT JOIN delivery_orders d ON d.order_id = o.id "
        "LEFT JOIN (SELECT order_id, "
        "SUM(CASE WHEN state = 'consumed' THEN commission_fen END) AS commission_fen, "
        "SUM(CASE WHEN resolution = 'loss' THEN tender_fen END) AS loss_fen "
        "FROM group_vouchers WHERE state IN ('consumed', 'refused') GROUP BY order_id) v "
        "ON v.order_id = o.id "
        "WHERE o.created_at >= ? AND o.created_at < ? "
        "GROUP BY o.channel, d.platform ORDER BY orders DESC, o.channel, d.platform",
        (period.lo, period.hi))
    return {"channels": [ChannelFigures(
        channel=r["channel"], platform=r["platform"], orders=r["orders"],
        revenue_fen=r["revenue_fen"], platform_fee_fen=r["platform_fee_fen"],
        delivery_fee_fen=r["delivery_fee_fen"],
        voucher_commission_fen=r["voucher_commission_fen"],
        voucher_loss_fen=r["voucher_loss_fen"],
        net_fen=r["revenue_fen"] - r["platform_fee_fen"] - r["voucher_commission_fen"] -
        r["voucher_loss_fen"])
        for r in rows]}


def summary(store: Store, period: Period) -> Summary:
    """Average ticket, money held for guests, points owed, coupons used."""
    orders, revenue = store.totals(
        "SELECT COUNT(*), COALESCE(SUM(total_fen - discount_fen - refunded_fen), 0) "
        "FROM counted_orders WHERE created_at >= ? AND created_at < ?", (period.lo, period.hi))
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
