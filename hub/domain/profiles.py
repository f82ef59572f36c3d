"""What a waiter needs to see about a guest at a glance, in one read."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from .coupons import member_coupons
from .members import SPICE_LEVELS, member_row, member_view
from .store import Store


def member_profile(store: Store, member_id: str, masked: bool = False) -> dict[str, Any]:
    """The member with last visit, favourite dishes, usable coupons and a birthday flag."""
    profile = member_view(store, member_row(store, member_id), masked)
    profile["spice_label"] = SPICE_LEVELS.get(profile["spice_level"] or "", "")
    last = store.totals("SELECT MAX(at) AS at, SUM(n) AS n FROM ("
                     " SELECT MAX(visited_at) AS at, COUNT(*) AS n FROM visits WHERE member_id = ?"
                     " UNION ALL"
                     " SELECT MAX(created_at), 0 FROM orders WHERE member_id = ?"
                     " AND visit_id IS NULL)", (member_id, member_id))
    profile["last_visit_at"] = last["at"]
    profile["visits"] = last["n"] or 0
    profile["favourite_dishes"] = [
        {"dish": r[0], "qty": r[1]} for r in store.conn.execute(
            "SELECT l.dish, SUM(l.qty) AS qty FROM orders o JOIN order_lines l "
            "ON l.order_id = o.id WHERE o.member_id = ? AND l.dish <> '米饭' "
            "GROUP BY l.dish ORDER BY qty DESC, l.dish LIMIT 3", (member_id,))]
    profile["usable_coupons"] = member_coupons(store, member_id, usable_only=True)
    today = store.now().astimezone(ZoneInfo(store.settings.timezone)).strftime("%m-%d")
    profile["birthday_today"] = bool(profile["birthday"]) and profile["birthday"][5:] == today
    return profile


def guest_card(profile: dict[str, Any]) -> dict[str, Any]:
    """The part of a profile that goes on the live stream: no phone, no balances."""
    keys = ("id", "name", "tier", "tier_name", "spice_level", "spice_label", "avoid",
            "allergies", "notes", "seat_preference", "vip", "birthday_today", "last_visit_at",
            "favourite_dishes")
    return {key: profile[key] for key in keys}


def checkin_card(visit: dict[str, Any], member_card: dict[str, Any] | None,
                 source: str) -> dict[str, Any]:
    """The `checkin.created` event: the table and, for a member, what the kitchen must know."""
    return {"visit_id": visit["id"], "table": visit["table_no"],
            "party_size": visit["party_size"], "member": member_card, "source": source,
            "staff_notes": visit.get("staff_notes", [])}
