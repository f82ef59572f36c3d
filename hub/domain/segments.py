"""Who to win back: guests grouped by rules over visits and birthdays, sized before acting."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from .clock import to_iso
from .errors import InvalidInput
from .ledgers import whole_number
from .store import Store

DEFAULT_LAPSED_DAYS = 90
DEFAULT_BIRTHDAY_DAYS = 7


def local_today(store: Store) -> date:
    return store.now().astimezone(ZoneInfo(store.settings.timezone)).date()


def lapsed(store: Store, days: int = DEFAULT_LAPSED_DAYS) -> list[str]:
    """Guests seen at least once (a visit or an order), but not in the last `days` days."""
    days = whole_number(days, "days", 1, 3650)
    cutoff = to_iso(store.now() - timedelta(days=days))
    rows = store.conn.execute(
        "SELECT s.member_id FROM ("
        "  SELECT member_id, MAX(visited_at) AS seen FROM visits "
        "  WHERE member_id IS NOT NULL GROUP BY member_id"
        "  UNION ALL"
        "  SELECT member_id, MAX(created_at) FROM orders "
        "  WHERE member_id IS NOT NULL GROUP BY member_id"
        ") s JOIN members m ON m.id = s.member_id AND m.erased_at IS NULL "
        "GROUP BY s.member_id HAVING MAX(s.seen) < ? ORDER BY MAX(s.seen) DESC", (cutoff,))
    return [r[0] for r in rows]


def birthday_days(today: date, days: int) -> list[str]:
    """MM-DD strings of the next `days` days from today; Feb 29 guests celebrate on Feb 28
    in years without one."""
    wanted: list[str] = []
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        wanted.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and (day + timedelta(days=1)).month == 3:
            wanted.append("02-29")
    return wanted


def birthdays(store: Store, days: int = DEFAULT_BIRTHDAY_DAYS) -> list[str]:
    """Guests whose birthday falls today or within the next `days` days (store time)."""
    days = whole_number(days, "days", 0, 366)
    wanted = birthday_days(local_today(store), days)
    marks = ", ".join("?" for _ in wanted)
    rows = store.conn.execute(
        f"SELECT id FROM members WHERE substr(birthday, 6) IN ({marks}) "
        "AND erased_at IS NULL ORDER BY substr(birthday, 6), id", wanted)
    return [r[0] for r in rows]


SEGMENTS = {"lapsed": (lapsed, DEFAULT_LAPSED_DAYS), "birthday": (birthdays, DEFAULT_BIRTHDAY_DAYS)}


def segment(store: Store, name: str, days: int | None = None) -> list[str]:
    if name not in SEGMENTS:
        raise InvalidInput(f"unknown segment {name!r}; known: {', '.join(SEGMENTS)}")
    rule, default_days = SEGMENTS[name]
    return rule(store, default_days if days is None else days)
