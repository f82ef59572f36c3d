"""Time as the domain sees it: always timezone-aware, stored as UTC ISO-8601 text.

Every component takes a `Clock` so tests can hand it a fixed or stepping time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Millisecond UTC text: sorts as time in SQLite and reads the same at HQ."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the domain only handles aware times")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_day(text: str, what: str = "date") -> date:
    """A YYYY-MM-DD date from outside, or ValueError naming what was wrong."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be YYYY-MM-DD, got {text!r}") from None


def day_bounds(timezone: str, day: date) -> tuple[str, str]:
    """A local day of the store as the UTC ISO range [start, end) its rows are stamped in."""
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    return to_iso(start), to_iso(start + timedelta(days=1))
