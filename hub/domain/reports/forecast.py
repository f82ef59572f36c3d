"""How many guests tomorrow and next week, per day and per hour, and what to prepare.

A day's forecast is a weighted average of the same weekday over the last four weeks (recent
weeks weigh more, Chinese public holidays are left out of the base), times the store's own
holiday lift when the day is a holiday. The backtest replays the last weeks, forecasting each
day only from what came before it, next to the naive "same weekday last week".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TypedDict

import holidays

from ..store import Store
from .period import Period

WEIGHTS = (4, 3, 2, 1)  # last week first
DEFAULT_HOLIDAY_LIFT = 1.3


class Prepare(TypedDict):
    dish: str
    qty: int


class ForecastDay(TypedDict):
    date: str
    weekday: str
    holiday: str | None  # the holiday's name
    covers: int
    hours: dict[int, float]  # covers by hour of day, the hours the store has had guests
    prepare: list[Prepare]


class Backtest(TypedDict):
    days: int
    mape: float
    naive_mape: float  # "same weekday last week", the forecast to beat


class Forecast(TypedDict):
    tomorrow: ForecastDay
    next_week: list[ForecastDay]
    backtest: Backtest


class History:
    """Covers by local day and by (weekday, hour), and dish quantities per cover."""

    def __init__(self, store: Store, until: date, days: int = 400) -> None:
        period = Period(store, until - timedelta(days=days), until)
        self.daily: dict[date, int] = defaultdict(int)
        self.hourly: dict[tuple[int, int], int] = defaultdict(int)
        for day, hour, covers in store.conn.execute(
                "SELECT date(visited_at, ?), CAST(strftime('%H', visited_at, ?) AS INTEGER), "
                "SUM(party_size) FROM visits WHERE visited_at >= ? AND visited_at < ? "
                "GROUP BY 1, 2", (period.shift, period.shift, period.lo, period.hi)):
            when = date.fromisoformat(day)
            self.daily[when] += covers
            self.hourly[(when.weekday(), hour)] += covers
        self.dishes = [(r[0], r[1]) for r in store.conn.execute(
            "SELECT l.dish, SUM(l.qty) FROM orders o JOIN order_lines l ON l.order_id = o.id "
            "WHERE o.created_at >= ? AND o.created_at < ? AND o.channel = 'dine_in' "
            "GROUP BY l.dish ORDER BY 2 DESC LIMIT 10",
            (Period(store, until - timedelta(days=28), until).lo, period.hi))]
        self.first = min(self.daily, default=until)
        years = range(until.year - 2, until.year + 2)
        self.holidays = holidays.country_holidays("CN", years=years)

    def covers(self, day: date) -> int:
        return self.daily.get(day, 0)

    def holiday_lift(self, before: date) -> float:
        """How much busier this store's holidays were than the same weekdays around them."""
        ratios = []
        for day in self.holidays:
            if self.first <= day < before and self.covers(day):
                usual = [self.covers(day - timedelta(weeks=w)) for w in (1, 2)]
                usual = [u for u in usual if u]
                if usual:
                    ratios.append(self.covers(day) / (sum(usual) / len(usual)))
        return sum(ratios) / len(ratios) if ratios else DEFAULT_HOLIDAY_LIFT

    def forecast_day(self, day: date, known_until: date) -> float:
        """Covers on `day`, using only days before `known_until`."""
        base, weight = 0.0, 0
        week = 1
        while len(WEIGHTS) > weight and week <= 8:
            past = day - timedelta(weeks=week)
            week += 1
            if past >= known_until or past < self.first or past in self.holidays:
                continue
            base += WEIGHTS[weight] * self.covers(past)
            weight += 1
        if not weight:
            return 0.0
        base /= sum(WEIGHTS[:weight])
        if day in self.holidays:
            base *= self.holiday_lift(known_until)
        return base

    def naive(self, day: date) -> int:
        return self.covers(day - timedelta(weeks=1))

    def hours(self, day: date, covers: float) -> dict[int, float]:
        profile = {hour: self.hourly.get((day.weekday(), hour), 0) for hour in range(24)}
        total = sum(profile.values())
        return {h: round(covers * n / total, 1) for h, n in profile.items() if n} if total else {}


def mape(pairs: Sequence[tuple[float, int]]) -> float:
    errors = [abs(predicted - actual) / actual for predicted, actual in pairs if actual]
    return round(100 * sum(errors) / len(errors), 1) if errors else 0.0


def forecast(store: Store, period: Period, weather: float = 1.0,
             backtest_days: int = 28) -> Forecast:
    """The seven days after the period's end (per day and hour, with dishes to prepare), and
    the backtest. `weather` scales the forecast (e.g. 0.85 for a rainy day ahead)."""
    today = period.end
    history = History(store, today)
    days = [today + timedelta(days=n) for n in range(1, 8)]
    covers_per_dish = sum(history.daily.get(today - timedelta(days=n), 0) for n in range(1, 29))
    ahead = []
    for day in days:
        covers = history.forecast_day(day, today) * weather  # today is not over yet
        ahead.append(ForecastDay(
            date=day.isoformat(), weekday=day.strftime("%a"),
            holiday=history.holidays.get(day), covers=round(covers),
            hours=history.hours(day, covers),
            prepare=[Prepare(dish=dish, qty=round(covers * qty / covers_per_dish))
                     for dish, qty in history.dishes] if covers_per_dish else []))
    ours, naive = [], []
    for back in range(backtest_days, 0, -1):
        day = today - timedelta(days=back)
        if day - timedelta(weeks=4) < history.first:
            continue
        actual = history.covers(day)
        ours.append((history.forecast_day(day, day), actual))
        naive.append((history.naive(day), actual))
    return {"tomorrow": ahead[0], "next_week": ahead,
            "backtest": {"days": len(ours), "mape": mape(ours), "naive_mape": mape(naive)}}
