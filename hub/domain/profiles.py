"""What a waiter needs to see about a guest at a glance, in one read."""

from __future__ import annotations

from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from .coupons import member_coupons
from .members import SPICE_LEVELS, MemberView, member_row, member_view
from .store import Store

# Every order that is the guest's, by channel: the till's under their member id, and the
# platforms' they claimed or whose platform user is joined to them (not one the platform
# cancelled or refunded). Named parameter :member.
GUEST_ORDERS = (
    "SELECT id FROM counted_orders WHERE member_id = :member UNION "
    "SELECT d.order_id FROM delivery_orders d LEFT JOIN platform_identities i "
    "ON i.platform = d.platform AND i.platform_user_id = d.platform_user_id "
    "WHERE COALESCE(d.member_id, i.member_id) = :member AND d.state = 'placed'")


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
                        " AND visit_id IS NULL)", (member_id, member_id))
    today = store.now().astimezone(ZoneInfo(store.settings.timezone)).strftime("%m-%d")
    return MemberProfile(
        **view, spice_label=SPICE_LEVELS.get(view["spice_level"] or "", ""),
        last_visit_at=last["at"], visits=last["n"] or 0,
        favourite_dishes=favourite_dishes(store, member_id),
        usable_coupons=member_coupons(store, member_id, usable_only=True),
        birthday_today=(view["birthday"] or "")[5:] == today,
        channel_mix=channel_mix(store, member_id))


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
