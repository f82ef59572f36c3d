"""When guests come, how many at a table, what they order, and how full the room is, by
weekday x daypart: the till's own traffic (orders, their lines, the visits and tabs behind
them), not check-ins alone.

A daypart is a stretch of the store-local day named as a restaurant names it (午市, 晚市…);
the late part wraps past midnight, so a 01:00 sale is late trade of that calendar day and
every hour belongs to exactly one part.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TypedDict

from ..errors import InvalidInput
from ..schema import STAY_MINUTES
from ..store import Store
from .guests import WEEKDAYS
from .period import Period

# (code, local start minute, local end minute) stretches; a part may have several stretches.
DAYPART_SPANS = (("late", 0, 300), ("breakfast", 300, 660), ("lunch", 660, 840),
                 ("afternoon", 840, 1020), ("dinner", 1020, 1260), ("late", 1260, 1440))
DAYPARTS = list(dict.fromkeys(code for code, _, _ in DAYPART_SPANS))
HOUR_PART = [next(DAYPARTS.index(code) for code, lo, hi in DAYPART_SPANS
                  if lo <= hour * 60 < hi) for hour in range(24)]
PART_MINUTES = [sum(hi - lo for code, lo, hi in DAYPART_SPANS if code == part)
                for part in DAYPARTS]
# A visit whose end the books do not know (checked in, never billed at the table) is taken to
# stay this long; one open longer than the cap was left open, not eaten through.
DEFAULT_STAY, MAX_STAY = (timedelta(minutes=m) for m in STAY_MINUTES)
TOP_PER_CELL = 5


class DishCell(TypedDict):
    weekday: str
    daypart: str
    dish: str
    qty: int
    share: float  # of the quantity sold in that weekday x daypart (in the category)


class DishMix(TypedDict):
    category: str | None
    weekdays: list[str]
    dayparts: list[str]
    qty: list[list[int]]  # a row per weekday, Monday first; a column per daypart
    mix: list[DishCell]


class PartyCell(TypedDict):
    weekday: str
    daypart: str
    party_size: int
    parties: int
    share: float  # of the parties seated in that weekday x daypart


class PartySizes(TypedDict):
    weekdays: list[str]
    dayparts: list[str]
    average_party: list[list[float]]
    sizes: list[PartyCell]


class DaypartOccupancy(TypedDict):
    daypart: str
    seat_hours_used: float
    seat_hours_available: float
    occupancy: float


class Occupancy(TypedDict):
    weekdays: list[str]
    dayparts: list[str]
    seats: int
    occupancy: list[list[float]]  # seat-hours used / available, weekday x daypart
    by_daypart: list[DaypartOccupancy]
    visits: int
    stays_estimated: int  # visits whose end was not on the books: DEFAULT_STAY each


def _grid() -> list[list[int]]:
    return [[0] * len(DAYPARTS) for _ in WEEKDAYS]


def _cell_rows(store: Store, period: Period, sql: str) -> list[tuple[int, int, int, int]]:
    """(Monday-first weekday, daypart, key, figure) from a query grouped by local %w and %H
    first; SQL groups by the hour, Python folds the hours into dayparts."""
    folded: dict[tuple[int, int, int], int] = defaultdict(int)
    for dow, hour, key, figure in store.conn.execute(
            sql, (period.shift, period.shift, period.lo, period.hi)):
        folded[((dow + 6) % 7, HOUR_PART[hour], key)] += figure
    return [(*cell, figure) for cell, figure in folded.items()]


def menu_categories(store: Store, wanted: str | None = None
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """Each menu dish's category by code and by name (an order line is filed by its code,
    else its dish name); InvalidInput if `wanted` is no category on the menu."""
    by_code, by_name = {}, {}
    for code, name, category in store.conn.execute(
            "SELECT code, name, category FROM menu_dishes"):
        by_code[code], by_name[name] = category, category
    if wanted is not None and wanted not in by_code.values():
        known = ", ".join(sorted(set(by_code.values()))) or "none"
        raise InvalidInput(f"no menu category {wanted!r}; the menu has: {known}")
    return by_code, by_name


def dish_mix(store: Store, period: Period, category: str | None = None) -> DishMix:
    """What sells in each weekday x daypart, from every order line that counts (the hourly
    rollup `dish_hours`), optionally one menu category (儿童餐, 汤…): the quantity grid and
    each cell's best sellers with their share. A line is filed under its dish's category by
    its menu code, else by its dish name, as the menu has them now."""
    by_code, by_name = menu_categories(store, category)
    qty = _grid()
    cells: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dow, hour, dish, code, sold in store.conn.execute(
            "SELECT CAST(strftime('%w', day) AS INTEGER), hour, dish, NULLIF(code, ''), "
            "SUM(qty) FROM dish_hours WHERE day BETWEEN ? AND ? GROUP BY 1, 2, 3, 4",
            period.days()):
        if category is not None and by_code.get(code, by_name.get(dish)) != category:
            continue
        day, part = (dow + 6) % 7, HOUR_PART[hour]
        qty[day][part] += sold
        cells[(day, part)][dish] += sold
    mix: list[DishCell] = []
    for (day, part), dishes in sorted(cells.items()):
        total = qty[day][part]
        for dish, sold in sorted(dishes.items(), key=lambda d: (-d[1], d[0]))[:TOP_PER_CELL]:
            mix.append(DishCell(weekday=WEEKDAYS[day], daypart=DAYPARTS[part], dish=dish,
                                qty=sold, share=round(sold / total, 4)))
    return {"category": category, "weekdays": WEEKDAYS, "dayparts": DAYPARTS, "qty": qty,
            "mix": mix}


def party_sizes(store: Store, period: Period) -> PartySizes:
    """How many sit at a table, by weekday x daypart: the average party and each size's
    share (many couples on Friday evenings: a set for two). Every seated visit counts, from
    a check-in or a table opened at the till."""
    counts: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for day, part, size, parties in _cell_rows(store, period, (
            "SELECT CAST(strftime('%w', visited_at, ?) AS INTEGER), "
            "CAST(strftime('%H', visited_at, ?) AS INTEGER), party_size, COUNT(*) "
            "FROM visits WHERE visited_at >= ? AND visited_at < ? GROUP BY 1, 2, 3")):
        counts[(day, part)][size] += parties
    average = [[0.0] * len(DAYPARTS) for _ in WEEKDAYS]
    sizes: list[PartyCell] = []
    for (day, part), by_size in sorted(counts.items()):
        parties = sum(by_size.values())
        average[day][part] = round(sum(s * n for s, n in by_size.items()) / parties, 2)
        sizes.extend(PartyCell(weekday=WEEKDAYS[day], daypart=DAYPARTS[part], party_size=size,
                               parties=n, share=round(n / parties, 4))
                     for size, n in sorted(by_size.items()))
    return {"weekdays": WEEKDAYS, "dayparts": DAYPARTS, "average_party": average,
            "sizes": sizes}


def occupancy(store: Store, period: Period) -> Occupancy:
    """上座率 by weekday x daypart: seat-hours used (each party's size times its stay) over
    seat-hours available (the layout's seats times the daypart's hours on each day of the
    period). A stay runs from the visit to its tab's close, else to its bill, else
    DEFAULT_STAY; no stay counts longer than MAX_STAY; a stay past the period's end counts up
    to it. The triggers keep each visit's stay (`visit_stays`) and the seat-minutes of every
    local hour (`stay_hours`, by the visit's day), so a year reads a few thousand rows. The
    layout is today's."""
    seats = store.scalar("SELECT COALESCE(SUM(seats), 0) FROM dining_tables")
    first, last = period.days()
    minutes = [[0] * len(DAYPARTS) for _ in WEEKDAYS]
    for dow, hour, used in store.conn.execute(
            "SELECT CAST(strftime('%w', day) AS INTEGER), hour, SUM(seat_minutes) "
            "FROM stay_hours WHERE visit_day BETWEEN ? AND ? AND day <= ? GROUP BY 1, 2",
            (first, last, last)):
        minutes[(dow + 6) % 7][HOUR_PART[hour]] += used
    visits, estimated = store.totals(
        "SELECT COUNT(*), COALESCE(SUM(estimated), 0) FROM visit_stays "
        "WHERE day BETWEEN ? AND ?", (first, last))
    used = [[m / 60 for m in row] for row in minutes]
    days_of = [0] * 7
    for n in range((period.end - period.start).days + 1):
        days_of[(period.start + timedelta(days=n)).weekday()] += 1
    available = [[seats * days_of[day] * minutes / 60 for minutes in PART_MINUTES]
                 for day in range(7)]
    by_daypart = []
    for part, code in enumerate(DAYPARTS):
        spent = sum(used[day][part] for day in range(7))
        there = sum(available[day][part] for day in range(7))
        by_daypart.append(DaypartOccupancy(
            daypart=code, seat_hours_used=round(spent, 1), seat_hours_available=round(there, 1),
            occupancy=round(spent / there, 4) if there else 0.0))
    return {"weekdays": WEEKDAYS, "dayparts": DAYPARTS, "seats": seats,
            "occupancy": [[round(u / a, 4) if a else 0.0 for u, a in zip(row, room, strict=True)]
                          for row, room in zip(used, available, strict=True)],
            "by_daypart": by_daypart, "visits": visits, "stays_estimated": estimated}
