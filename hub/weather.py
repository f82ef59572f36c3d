"""The store's weather sources, and the hub's worker that keeps the cache fresh.

Open-Meteo's forecast and archive APIs are asked in their JSON form with the standard
library: `openmeteo-requests` speaks FlatBuffers and would bring three more packages
(openmeteo-sdk, flatbuffers, niquests) onto the Pi for a handful of numbers a day. Every way
the answer can go wrong (no network, an HTTP error with Open-Meteo's `reason`, a missing
variable, nulls) becomes one `WeatherUnavailable`; days the archive has not reached yet
(nulls) are left out, not guessed.

With `[weather] source = "hq"` the hub asks HQ instead, over the sync link (`HqWeather`):
HQ asks Open-Meteo with the same client (sync/hq/weather.py) and answers with Open-Meteo's
own `daily` block, which the hub reads and caches exactly as if it had fetched it.
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
from .domain.weather import DayWeather, Refreshed, WeatherSource, WeatherUnavailable, refresh
from .workers import ThreadWorker

log = logging.getLogger(__name__)
DAILY = ("temperature_2m_max", "temperature_2m_min", "precipitation_sum")
Ask = Callable[[dict[str, Any], float], "dict[str, Any] | None"]  # Publisher.ask_weather


class OpenMeteoClient:
    """Open-Meteo's forecast and archive APIs, for any place: the hub's source and HQ's
    relay both ask through it."""

    def __init__(self, forecast_url: str, archive_url: str, timeout_s: float) -> None:
        self.forecast_url = forecast_url
        self.archive_url = archive_url
        self.timeout_s = timeout_s

    def daily(self, query: dict[str, Any]) -> dict[str, Any]:
        """Open-Meteo's answer for a place (`latitude`, `longitude`, `timezone`) and either
        `forecast_days` or `start_date` and `end_date`; checked to hold daily weather."""
        url = self.forecast_url if "forecast_days" in query else self.archive_url
        address = f"{url}?{urllib.parse.urlencode({'daily': ','.join(DAILY), **query})}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise WeatherUnavailable(f"weather: {url} answered {error.code}: "
                                     f"{_reason(error)}") from None
        except (OSError, ValueError) as error:
            raise WeatherUnavailable(f"weather: {url} could not be read: {error}") from None
        parse_daily(body, url)
        return dict(body)


class OpenMeteo:
    """Daily weather for the store's place, asked of Open-Meteo by the hub itself."""

    name = "open-meteo"

    def __init__(self, settings: WeatherSettings, timezone: str) -> None:
        self.place = place_of(settings, timezone)
        self.client = OpenMeteoClient(settings.forecast_url, settings.archive_url,
                                      settings.timeout_s)

    def forecast(self, days: int) -> list[DayWeather]:
        return parse_daily(self.client.daily({**self.place, "forecast_days": days}),
                           self.client.forecast_url)

    def history(self, start: date, end: date) -> list[DayWeather]:
        return parse_daily(self.client.daily({**self.place, "start_date": start.isoformat(),
                                              "end_date": end.isoformat()}),
                           self.client.archive_url)


class HqWeather:
    """Daily weather for the store's place as HQ relays it (`[weather] source = "hq"`)."""

    name = "hq"

    def __init__(self, ask: Ask, settings: WeatherSettings, timezone: str) -> None:
        self.place = place_of(settings, timezone)
        self.ask = ask
        # HQ may have to ask Open-Meteo first, with the same timeout as the hub would.
        self.timeout_s = 2 * settings.timeout_s

    def forecast(self, days: int) -> list[DayWeather]:
        return self._daily({"forecast_days": days})

    def history(self, start: date, end: date) -> list[DayWeather]:
        return self._daily({"start_date": start.isoformat(), "end_date": end.isoformat()})

    def _daily(self, query: dict[str, Any]) -> list[DayWeather]:
        answer = self.ask({**self.place, **query}, self.timeout_s)
        if answer is None:
            raise WeatherUnavailable("weather: HQ did not answer (the weather comes from HQ, "
                                     "[weather] source = \"hq\": is the link to HQ up?)")
        if "error" in answer:
            raise WeatherUnavailable(f"weather: HQ could not get it: {answer['error']}")
        return parse_daily(answer, "HQ")


def place_of(settings: WeatherSettings, timezone: str) -> dict[str, Any]:
    if settings.latitude is None or settings.longitude is None:
        raise WeatherUnavailable("weather: set [weather] latitude and longitude first")
    return {"latitude": settings.latitude, "longitude": settings.longitude,
            "timezone": timezone}


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


def source_of(store: Store, ask: Ask | None = None) -> WeatherSource:
    """The configured source: Open-Meteo asked by the hub, or HQ asked over `ask`."""
    settings = store.settings.weather
    if settings.source == "hub":
        return OpenMeteo(settings, store.settings.timezone)
    if ask is None:
        raise WeatherUnavailable("weather: it comes from HQ ([weather] source = \"hq\"), "
                                 "which the running hub asks over its link to HQ ([broker] "
                                 "url); set source = \"hub\" to fetch it from here")
    return HqWeather(ask, settings, store.settings.timezone)


def fetch_weather(store: Store, ask: Ask | None = None) -> Refreshed:
    """Fill the home's weather cache from the configured source."""
    today = store.now().astimezone(ZoneInfo(store.settings.timezone)).date()
    return refresh(store, source_of(store, ask), today)


class WeatherWorker(ThreadWorker):
    """Refreshes the cache every `refresh_hours`; a failure is the worker's last error, kept
    for /health, and the forecast goes on with what the cache holds."""

    name = "weather"

    def __init__(self, store: Callable[[], Store], ask: Ask | None = None) -> None:
        super().__init__()
        self.store = store  # this thread's own connection, as every worker has
        self.ask = ask  # the sync link's question to HQ, when there is one
        self.last: Refreshed | None = None

    def step(self, stop: threading.Event) -> float:
        store = self.store()
        self.last = fetch_weather(store, self.ask)
        log.info("weather: %s", self.last)
        return store.settings.weather.refresh_hours * 3600
