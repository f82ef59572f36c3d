"""The rota (员工排班): who is planned when, against how many people the forecast says each
hour needs, and the hours people actually worked (their shifts).

Staff needed in an hour is the forecast's covers that hour over `[shifts] covers_per_waiter`,
rounded up; the gap is needed minus planned (above 0 short-handed, below 0 overstaffed).
Actual hours merge a person's shifts, so one signed in on a tablet and the console at once
counts the time once.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .clock import day_bounds, from_iso, to_iso
from .errors import InvalidInput, NotFound
from .ids import new_id
from .reports.forecast import History
from .staff import get_staff
from .store import Store

HHMM_LEN = 5


def _hhmm(text: str, what: str) -> str:
    try:
        parsed = time.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} must be HH:MM, got {text!r}") from None
    if len(text) != HHMM_LEN:
        raise InvalidInput(f"{what} must be HH:MM, got {text!r}")
    return parsed.strftime("%H:%M")


def plan(store: Store, staff_id: str, day: date, starts: str, ends: str,
         actor: str = "system") -> dict[str, Any]:
    """Put a person on the rota for `day` from `starts` to `ends` (local, same day)."""
    first, last = _hhmm(starts, "start"), _hhmm(ends, "end")
    if last <= first:
        raise InvalidInput("a planned shift ends after it starts, on the same day")
    row = {"id": new_id(), "staff_id": staff_id, "day": day.isoformat(), "starts": first,
           "ends": last, "created_at": store.now_iso()}
    with store.write():
        get_staff(store, staff_id)
        store.db.table("rota").insert(row)
        store.audit(actor, "rota.plan", row["id"], {k: row[k] for k in ("staff_id", "day",
                                                                        "starts", "ends")})
    return row


def unplan(store: Store, planned_id: str, actor: str = "system") -> None:
    with store.write():
        if store.conn.execute("DELETE FROM rota WHERE id = ?", (planned_id,)).rowcount == 0:
            raise NotFound(f"no planned shift {planned_id!r}")
        store.audit(actor, "rota.unplan", planned_id)


def _hours_planned(starts: str, ends: str) -> range:
    """The hours of the day a planned shift touches (09:30-14:00: 9 to 13)."""
    first = int(starts[:2])
    last = int(ends[:2]) - (1 if ends[3:] == "00" else 0)
    return range(first, last + 1)


def _worked(store: Store, lo: str, hi: str) -> dict[str, float]:
    """Hours each person was signed in within [lo, hi), overlapping shifts counted once."""
    now = store.now()
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for staff_id, opened, closed in store.conn.execute(
            "SELECT staff_id, opened_at, closed_at FROM shifts WHERE opened_at < ? AND "
            "COALESCE(closed_at, ?) > ? ORDER BY opened_at", (hi, to_iso(now), lo)):
        start = max(from_iso(opened), from_iso(lo))
        end = min(from_iso(closed) if closed else now, from_iso(hi))
        if end > start:
            spans.setdefault(staff_id, []).append((start, end))
    worked = {}
    for staff_id, intervals in spans.items():
        total, reach = timedelta(), datetime.min.replace(tzinfo=UTC)
        for start, end in intervals:
            start = max(start, reach)
            if end > start:
                total += end - start
                reach = end
        worked[staff_id] = round(total.total_seconds() / 3600, 2)
    return worked


def week(store: Store, monday: date) -> dict[str, Any]:
    """The week from `monday`: per day and hour the forecast covers, staff needed, planned
    and the gap; per person the hours planned and worked."""
    if monday.weekday() != 0:
        raise InvalidInput(f"a rota week starts on a Monday; {monday} is not one")
    zone = ZoneInfo(store.settings.timezone)
    today = store.now().astimezone(zone).date()
    ratio = store.settings.shifts.covers_per_waiter
    days = [monday + timedelta(days=n) for n in range(7)]
    history = History(store, today)
    rows = store.conn.execute(
        "SELECT r.*, s.name FROM rota r JOIN staff s ON s.id = r.staff_id WHERE r.day "
        "BETWEEN ? AND ? ORDER BY r.day, r.starts", (days[0].isoformat(),
                                                    days[-1].isoformat())).fetchall()
    planned_hours: dict[str, float] = {}
    out_days = []
    for day in days:
        covers = history.hours(day, history.forecast_day(day, min(day, today)))
        planned: dict[int, list[str]] = {}
        for row in rows:
            if row["day"] != day.isoformat():
                continue
            for hour in _hours_planned(row["starts"], row["ends"]):
                planned.setdefault(hour, []).append(row["name"])
        hours = []
        short: list[int] = []
        over: list[int] = []
        for hour in sorted(set(covers) | set(planned)):
            needed = math.ceil(covers.get(hour, 0) / ratio)
            people = planned.get(hour, [])
            gap = needed - len(people)
            hours.append({"hour": hour, "forecast_covers": covers.get(hour, 0.0),
                          "needed": needed, "planned": len(people), "staff": people,
                          "gap": gap})
            if gap:
                (short if gap > 0 else over).append(hour)
        out_days.append({"date": day.isoformat(), "hours": hours, "short_hours": short,
                         "over_hours": over})
    for row in rows:
        length = (datetime.combine(date.min, time.fromisoformat(row["ends"]))
                  - datetime.combine(date.min, time.fromisoformat(row["starts"])))
        planned_hours[row["staff_id"]] = planned_hours.get(row["staff_id"], 0) \
            + length.total_seconds() / 3600
    lo, _ = day_bounds(store.settings.timezone, days[0])
    _, hi = day_bounds(store.settings.timezone, days[-1])
    worked = _worked(store, lo, hi)
    staff = [{"staff_id": r["id"], "name": r["name"],
              "planned_hours": round(planned_hours.get(r["id"], 0.0), 2),
              "actual_hours": worked.get(r["id"], 0.0)}
             for r in store.conn.execute("SELECT id, name FROM staff WHERE active = 1 "
                                         "ORDER BY name")]
    return {"week": monday.isoformat(), "covers_per_waiter": ratio, "days": out_days,
            "plan": [dict(r) for r in rows], "staff": staff}
