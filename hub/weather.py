"""Open-Meteo as the store's weather source, and the hub's worker that keeps the cache fresh.

Open-Meteo's forecast and archive APIs are asked in their JSON form with the standard
library: `openmeteo-requests` speaks FlatBuffers and would bring three more packages
(openmeteo-sdk, flatbuffers, niquests) onto the Pi for a handful of numbers a day. Every way
the answer can go wrong (no network, an HTTP error with Open-Meteo's `reason`, a missing
variable, nulls) becomes one `WeatherUnavailable`; days the archive has not reached yet
(nulls) are left out, not guessed.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from .domain.config import WeatherSettings
from .domain.store import Store
from .domain.weather import DayWeather, Refreshed, WeatherUnavailable, refresh
from .workers import ThreadWorker

log = logging.getLogger(__name__)
DAILY = ("temperature_2m_max", "temperature_2m_min", "precipitation_sum")


class OpenMeteo:
    """Daily weather for one place from Open-Meteo's forecast and archive APIs."""

    name = "open-meteo"

    def __init__(self, settings: WeatherSettings, timezone: str) -> None:
        if settings.latitude is None or settings.longitude is None:
            raise WeatherUnavailable("weather: set [weather] latitude and longitude first")
        self.settings = settings
        self.place = {"latitude": settings.latitude, "longitude": settings.longitude,
                      "daily": ",".join(DAILY), "timezone": timezone}

    def forecast(self, days: int) -> list[DayWeather]:
        return self._daily(self.settings.forecast_url, forecast_days=days)

    def history(self, start: date, end: date) -> list[DayWeather]:
        return self._daily(self.settings.archive_url, start_date=start.isoformat(),
                           end_date=end.isoformat())

    def _daily(self, url: str, **query: Any) -> list[DayWeather]:
        address = f"{url}?{urllib.parse.urlencode({**self.place, **query})}"
        try:
            with urllib.request.urlopen(address, timeout=self.settings.timeout_s) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise WeatherUnavailable(f"weather: {url} answered {error.code}: "
                                     f"{_reason(error)}") from None
        except (OSError, ValueError) as error:
            raise WeatherUnavailable(f"weather: {url} could not be read: {error}") from None
        return parse_daily(body, url)


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read())["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return error.reason


def parse_daily(body: Any, url: str) -> list[DayWeather]:
    """The days of an Open-Meteo `daily` block that have every variable."""
    try:
        daily = body["daily"]
        columns = [daily["time"], *(daily[name] for name in DAILY)]
        if len({len(column) for column in columns}) != 1:
            raise ValueError("columns of different lengths")
        days = []
        for day, high, low, rain in zip(*columns, strict=True):
            if high is None or low is None or rain is None:
                continue  # not observed yet (the archive lags a few days)
            days.append(DayWeather(date.fromisoformat(day), float(high), float(low),
                                   max(0.0, float(rain))))
    except (KeyError, TypeError, ValueError) as error:
        raise WeatherUnavailable(f"weather: {url} answered no daily weather: {error!r}") from None
    return days


def fetch_weather(store: Store) -> Refreshed:
    """Fill the home's weather cache from the configured source."""
    source = OpenMeteo(store.settings.weather, store.settings.timezone)
    today = store.now().astimezone(ZoneInfo(store.settings.timezone)).date()
    return refresh(store, source, today)


class WeatherWorker(ThreadWorker):
    """Refreshes the cache every `refresh_hours`; a failure is the worker's last error, kept
    for /health, and the forecast goes on with what the cache holds."""

    name = "weather"

    def __init__(self, store: Callable[[], Store]) -> None:
        super().__init__()
        self.store = store  # this thread's own connection, as every worker has
        self.last: Refreshed | None = None

    def step(self, stop: threading.Event) -> float:
        store = self.store()
        self.last = fetch_weather(store)
        log.info("weather: %s", self.last)
        return store.settings.weather.refresh_hours * 3600
