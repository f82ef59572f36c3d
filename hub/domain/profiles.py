"""What a waiter needs to see about a guest at a glance, in one read."""

from __future__ import annotations

from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from .coupons import member_coupons
from .members import SPICE_LEVELS, MemberView, member_row, member_view
from .store import Store, dumps

# Every order that is the guest's, whatever the channel: under their member id, which a
# platform's order carries once they claimed it or its platform user is joined to them
# (delivery.OWNER), and one that counts (`counted_orders`: not one a platform cancelled or
# refunded). Named parameter :member.
GUEST_ORDERS = "SELECT o.id FROM counted_orders o WHERE o.member_id = :member"


class ChannelCount(TypedDict):
    channel: str
    platform: str | None  # for delivery: meituan or eleme
    orders: int


def channel_mix(store: Store, member_id: str) -> list[ChannelCount]:
    """How the guest comes to the shop: their orders by channel, delivery by platform, the
    most used first."""
    return [ChannelCount(channel=r[0], platform=r[1], orders=r[2]) for r in store.conn.execute(
        "SELECT o.channel, d.platform, COUNT(*) FROM orders o LEFT JOIN delivery_orders d "
        f"ON d.order_id = o.id WHERE o.id IN ({GUEST_ORDERS}) GROUP BY o.channel, d.platform "
        "ORDER BY COUNT(*) DESC, o.channel, d.platform", {"member": member_id})]


class FavouriteDish(TypedDict):
    dish: str
    qty: int


class MemberProfile(MemberView):
    """What the tablets and the console show of a guest (the API's member answer)."""

    spice_label: str
    last_visit_at: str | None
    visits: int
    favourite_dishes: list[FavouriteDish]
    usable_coupons: list[dict[str, Any]]
    birthday_today: bool
    channel_mix: list[ChannelCount]


def favourite_dishes(store: Store, member_id: str, limit: int = 3) -> list[FavouriteDish]:
    """The dishes the guest ordered most, at the table and from the delivery platforms alike
    (plain rice is everyone's, so not a favourite)."""
    return [FavouriteDish(dish=r[0], qty=r[1]) for r in store.conn.execute(
        "SELECT l.dish, SUM(l.qty) AS qty FROM order_lines l "
        f"WHERE l.order_id IN ({GUEST_ORDERS}) AND l.dish <> '米饭' "
        "GROUP BY l.dish ORDER BY qty DESC, l.dish LIMIT :limit",
        {"member": member_id, "limit": limit})]


def member_profile(store: Store, member_id: str, masked: bool = False) -> MemberProfile:
    """The member with last visit, favourite dishes (at the table and from the delivery
    platforms alike), how they come (channel mix), usable coupons and a birthday flag."""
    view = member_view(store, member_row(store, member_id), masked)
    last = store.totals("SELECT MAX(at) AS at, SUM(n) AS n FROM ("
                        " SELECT MAX(visited_at) AS at, COUNT(*) AS n FROM visits"
                        " WHERE member_id = ?"
                        " UNION ALL"
                        " SELECT MAX(created_at), 0 FROM orders WHERE member_id = ?"
                        " AND visit_id IS NULL AND id NOT IN (SELECT order_id FROM"
                        " delivery_orders))",  # a platform's order is no time in the shop
                        (member_id, member_id))
    today = store.now().astimezone(ZoneInfo(store.settings.timezone)).strftime("%m-%d")
    return MemberProfile(
        **view, spice_label=SPICE_LEVELS.get(view["spice_level"] or "", ""),
        last_visit_at=last["at"], visits=last["n"] or 0,
        favourite_dishes=favourite_dishes(store, member_id),
        usable_coupons=member_coupons(store, member_id, usable_only=True),
        birthday_today=(view["birthday"] or "")[5:] == today,
        channel_mix=channel_mix(store, member_id))


class OrderLine(TypedDict):
    dish: str
    qty: int


class HistoryOrder(TypedDict):
    """One of the guest's orders as their history shows it, at the table or from a platform:
    what was eaten and paid, never who the platform says ordered it."""

    id: str
    store_id: str
    visit_id: str | None
    channel: str
    platform: str | None  # for delivery: meituan or eleme
    state: str  # placed, or (a platform's order) cancelled or refunded
    total_fen: int
    discount_fen: int
    refunded_fen: int  # what the platform paid back of an order it did not end (part refunds)
    points_earned: int
    points_redeemed: int
    stored_value_paid_fen: int
    coupon_code: str | None
    created_at: str
    lines: list[OrderLine]


class GuestHistory(TypedDict):
    visits: list[dict[str, Any]]
    orders: list[HistoryOrder]


def guest_history(store: Store, member_id: str, limit: int = 50) -> GuestHistory:
    """The guest's last visits and orders, the newest first: the delivery orders that are
    theirs (delivery.OWNER) next to the till's, each with its platform, state and dishes."""
    member_row(store, member_id)
    visits = [dict(r) for r in store.conn.execute(
        "SELECT * FROM visits WHERE member_id = ? ORDER BY visited_at DESC LIMIT ?",
        (member_id, limit))]
    rows = store.conn.execute(
        "SELECT o.*, d.platform, COALESCE(d.state, 'placed') AS state, (SELECT "
        "COALESCE(SUM(r.amount_fen), 0) FROM delivery_refunds r WHERE r.order_id = o.id) "
        "AS refunded_fen FROM orders o "
        "LEFT JOIN delivery_orders d ON d.order_id = o.id WHERE o.member_id = ? "
        "ORDER BY o.created_at DESC LIMIT ?", (member_id, limit)).fetchall()
    lines: dict[str, list[OrderLine]] = {}
    for order_id, dish, qty in store.conn.execute(
            "SELECT order_id, dish, qty FROM order_lines WHERE order_id IN (SELECT value FROM "
            "json_each(?)) ORDER BY order_id, line_no", (dumps([r["id"] for r in rows]),)):
        lines.setdefault(order_id, []).append(OrderLine(dish=dish, qty=qty))
    return GuestHistory(visits=visits, orders=[HistoryOrder(
        id=r["id"], store_id=r["store_id"], visit_id=r["visit_id"], channel=r["channel"],
        platform=r["platform"], state=r["state"], total_fen=r["total_fen"],
        discount_fen=r["discount_fen"], refunded_fen=r["refunded_fen"],
        points_earned=r["points_earned"],
        points_redeemed=r["points_redeemed"], stored_value_paid_fen=r["stored_value_paid_fen"],
        coupon_code=r["coupon_code"], created_at=r["created_at"],
        lines=lines.get(r["id"], [])) for r in rows])


class GuestCard(TypedDict):
    """A guest on the live stream (`member.created`, `checkin.created`, a card read): what
    the floor and kitchen must know, no phone, no balances."""

    id: str
    name: str | None
    tier: str
    tier_name: str
    spice_level: str | None
    spice_label: str
    avoid: list[str]
    allergies: list[str]
    notes: str
    seat_preference: str
    vip: bool
    birthday_today: bool
    last_visit_at: str | None
    favourite_dishes: list[FavouriteDish]


def guest_card(profile: MemberProfile) -> GuestCard:
    return GuestCard(
        id=profile["id"], name=profile["name"], tier=profile["tier"],
        tier_name=profile["tier_name"], spice_level=profile["spice_level"],
        spice_label=profile["spice_label"], avoid=profile["avoid"],
        allergies=profile["allergies"], notes=profile["notes"],
        seat_preference=profile["seat_preference"], vip=profile["vip"],
        birthday_today=profile["birthday_today"], last_visit_at=profile["last_visit_at"],
        favourite_dishes=profile["favourite_dishes"])


def checkin_card(visit: dict[str, Any], member_card: GuestCard | None,
                 source: str) -> dict[str, Any]:
    """The `checkin.created` event: the table and, for a member, what the kitchen must know."""
    return {"visit_id": visit["id"], "table": visit["table_no"],
            "party_size": visit["party_size"], "member": member_card, "source": source,
            "staff_notes": visit.get("staff_notes", [])}
