"""The weather a store's forecast learns from and looks ahead with, behind one interface.

A weather source (Open-Meteo in `hub/weather.py`, a stand-in in the tests) answers daily
temperature and precipitation for days past and days ahead; what it answered is cached in the
home (`weather_days`), so the forecast reads the weather without the network, and a store
with no source configured (or none reachable) simply has no rows: its forecast says it runs
without weather and is the model it always was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from .errors import LaokeError
from .store import Store

HISTORY_DAYS = 400  # what the forecast's history reads (reports/forecast.py), and a bit more
AHEAD_DAYS = 8      # tomorrow and the week after today


class WeatherUnavailable(LaokeError):
    """The source could not be asked or answered nonsense; the cache is left as it was."""

    code = "weather_unavailable"
    kind = "unavailable"


@dataclass(frozen=True)
class DayWeather:
    day: date
    temperature_max_c: float
    temperature_min_c: float
    precipitation_mm: float

    @property
    def temperature_c(self) -> float:
        """The day's mean as the model reads it: the middle of its range."""
        return (self.temperature_max_c + self.temperature_min_c) / 2


class WeatherSource(Protocol):
    """Daily weather at the store's place, in the store's time zone."""

    name: str

    def forecast(self, days: int) -> list[DayWeather]:
        """Today and the `days` - 1 days after it."""
        ...

    def history(self, start: date, end: date) -> list[DayWeather]:
        """What the weather was from `start` to `end`, both included."""
        ...


@dataclass(frozen=True)
class Refreshed:
    observed: int
    forecast: int
    source: str


def save(store: Store, days: Iterable[DayWeather], kind: str, source: str) -> int:
    """Cache days; an observed day replaces its forecast, a forecast never an observed day."""
    rows = [(d.day.isoformat(), d.temperature_max_c, d.temperature_min_c, d.precipitation_mm,
             kind, source, store.now_iso()) for d in days]
    for row in rows:
        if row[3] < 0 or row[1] < row[2]:
            raise WeatherUnavailable(f"the weather source answered an impossible day: {row[0]}")
    guard = "" if kind == "observed" else " WHERE weather_days.kind = 'forecast'"
    with store.write():
        store.conn.executemany(
            "INSERT INTO weather_days (day, temperature_max_c, temperature_min_c, "
            "precipitation_mm, kind, source, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (day) DO UPDATE SET temperature_max_c = excluded.temperature_max_c, "
            "temperature_min_c = excluded.temperature_min_c, "
            "precipitation_mm = excluded.precipitation_mm, kind = excluded.kind, "
            "source = excluded.source, fetched_at = excluded.fetched_at" + guard, rows)
    return len(rows)


def load(store: Store, start: date, end: date) -> dict[date, DayWeather]:
    """The cached days from `start` to `end`, both included."""
    return {date.fromisoformat(day): DayWeather(date.fromisoformat(day), high, low, rain)
            for day, high, low, rain in store.conn.execute(
                "SELECT day, temperature_max_c, temperature_min_c, precipitation_mm "
                "FROM weather_days WHERE day >= ? AND day <= ?",
                (start.isoformat(), end.isoformat()))}


def refresh(store: Store, source: WeatherSource, today: date) -> Refreshed:
    """Fill the history the forecast reads (only the days not yet observed) and replace the
    days ahead. The archive lags a few days behind; the forecast covers those."""
    first = today - timedelta(days=HISTORY_DAYS)
    have = {date.fromisoformat(r[0]) for r in store.conn.execute(
        "SELECT day FROM weather_days WHERE kind = 'observed' AND day >= ?",
        (first.isoformat(),))}
    missing = [first + timedelta(days=n) for n in range(HISTORY_DAYS)
               if first + timedelta(days=n) not in have]
    observed = 0
    if missing:
        days = [d for d in source.history(missing[0], missing[-1]) if d.day not in have]
        observed = save(store, days, "observed", source.name)
    ahead = source.forecast(AHEAD_DAYS)
    # Today and the days the archive has not reached yet are forecasts until observed.
    return Refreshed(observed=observed, forecast=save(store, ahead, "forecast", source.name),
                     source=source.name)
