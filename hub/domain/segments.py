"""Who to win back: the named segments of `laoke segment`, each a preset of audience rules."""

from __future__ import annotations

from collections.abc import Callable

from .audience import Audience, pick
from .errors import InvalidInput
from .ledgers import whole_number
from .store import Store

DEFAULT_LAPSED_DAYS = 90
DEFAULT_BIRTHDAY_DAYS = 7
DEFAULT_SHIFT_DAYS = 30


def lapsed(store: Store, days: int = DEFAULT_LAPSED_DAYS) -> list[str]:
    """Guests seen at least once (a visit or an order), but not in the last `days` days."""
    days = whole_number(days, "days", 1, 3650)
    return [p.member_id for p in pick(store, Audience(lapsed_days=days))]


def birthdays(store: Store, days: int = DEFAULT_BIRTHDAY_DAYS) -> list[str]:
    """Guests whose birthday falls today or within the next `days` days (store time)."""
    days = whole_number(days, "days", 0, 366)
    return [p.member_id for p in pick(store, Audience(birthday_within=days))]


def moved_to_delivery(store: Store, days: int = DEFAULT_SHIFT_DAYS) -> list[str]:
    """Guests mostly at the table in the `days` days before the last `days`, mostly on
    delivery in the last `days` (the rule `moved_to_delivery_days`)."""
    days = whole_number(days, "days", 7, 365)
    return [p.member_id for p in pick(store, Audience(moved_to_delivery_days=days))]


def _preset(rule: str) -> Callable[[Store, int], list[str]]:
    def members(store: Store, _days: int) -> list[str]:
        return [p.member_id for p in pick(store, Audience.model_validate({rule: True}))]
    return members


SEGMENTS = {"lapsed": (lapsed, DEFAULT_LAPSED_DAYS),
            "birthday": (birthdays, DEFAULT_BIRTHDAY_DAYS),
            "first-visit": (_preset("first_visit_only"), 0),
            "delivery-only": (_preset("delivery_only"), 0),
            "moved-to-delivery": (moved_to_delivery, DEFAULT_SHIFT_DAYS)}


def segment(store: Store, name: str, days: int | None = None) -> list[str]:
    if name not in SEGMENTS:
        raise InvalidInput(f"unknown segment {name!r}; known: {', '.join(SEGMENTS)}")
    rule, default_days = SEGMENTS[name]
    return rule(store, default_days if days is None else days)
