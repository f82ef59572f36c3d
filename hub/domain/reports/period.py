"""A report's days: the store's local days, and the UTC bounds the database is asked in.

Times in the database are UTC, so each query shifts them by the store's UTC offset (China
keeps one all year; a zone with summer time is shifted by its offset at the start of the
range).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from ..clock import parse_day, to_iso
from ..errors import InvalidInput
from ..store import Store


def parse_range(start: str | None, end: str | None,
                names: tuple[str, str] = ("from", "to")) -> tuple[date | None, date | None]:
    """A report's first and last day as typed (YYYY-MM-DD, or none), or InvalidInput naming
    the one that is wrong as the caller calls it (`--from` on the command line)."""
    try:
        return (parse_day(start, names[0]) if start else None,
                parse_day(end, names[1]) if end else None)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


# Functional syntax: `from` is a keyword.
Days = TypedDict("Days", {"from": str, "to": str})


class Period:
    """[start, end] in local days, with the UTC bounds and offset the SQL needs."""

    def __init__(self, store: Store, start: date | None, end: date | None) -> None:
        tz = ZoneInfo(store.settings.timezone)
        today = store.now().astimezone(tz).date()
        self.end = end or today
        self.start = start or self.end - timedelta(days=29)
        if self.start > self.end:
            raise InvalidInput("the report's start is after its end")
        begin = datetime.combine(self.start, time(0), tzinfo=tz)
        finish = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz)
        self.lo, self.hi = to_iso(begin.astimezone(UTC)), to_iso(finish.astimezone(UTC))
        offset = begin.utcoffset() or timedelta(0)
        self.shift = f"{int(offset.total_seconds() // 60):+d} minutes"

    def days(self) -> tuple[str, str]:
        """The local days, for tables keyed by day."""
        return self.start.isoformat(), self.end.isoformat()

    def json(self) -> Days:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}
