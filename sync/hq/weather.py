"""HQ's weather relay: the stores whose weather comes from HQ (`[weather] source = "hq"`)
ask for their place's days over the sync link, and HQ asks Open-Meteo for them, with the
hub's own client (hub/weather.py), once per place and question while the answer is fresh.

A store in a chain may have its link to HQ and nothing else on the internet, and a thousand
stores in thirty cities are thirty places: asking once for each is kinder to the service
and to its quota. Places are cached at two decimals of a degree (about a kilometre, well
inside the service's grid). The relay has its own thread, so a slow weather service never
holds up the events HQ applies; a question it cannot answer is answered with why.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.weather import WeatherUnavailable
from hub.weather import OpenMeteoClient
from hub.workers import ThreadWorker

FRESH_S = 3600.0  # how long an answer serves every store that asks the same
MAX_FORECAST_DAYS = 16  # Open-Meteo's
MAX_HISTORY_DAYS = 800  # twice what a store's forecast reads

Reply = Callable[[dict[str, Any]], None]


def question(payload: bytes) -> dict[str, Any]:
    """The Open-Meteo query a store's request stands for, its place rounded; ValueError
    saying what is wrong with it."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    place: dict[str, Any] = {}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not -limit <= value <= limit:
            raise ValueError(f"{name} must be a number from -{limit} to {limit}")
        place[name] = round(float(value), 2)
    zone = body.get("timezone")
    try:
        ZoneInfo(zone if isinstance(zone, str) and zone else "-")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {zone!r} is not a time zone") from None
    place["timezone"] = zone
    days = body.get("forecast_days")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or \
                not 1 <= days <= MAX_FORECAST_DAYS:
            raise ValueError(f"forecast_days must be 1 to {MAX_FORECAST_DAYS}")
        return {**place, "forecast_days": days}
    try:
        start = date.fromisoformat(body["start_date"])
        end = date.fromisoformat(body["end_date"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("ask forecast_days, or start_date and end_date (YYYY-MM-DD)") from None
    if not 0 <= (end - start).days < MAX_HISTORY_DAYS:
        raise ValueError(f"start_date to end_date must be 1 to {MAX_HISTORY_DAYS} days")
    return {**place, "start_date": start.isoformat(), "end_date": end.isoformat()}


class WeatherRelay(ThreadWorker):
    """Answers the stores' weather questions in turn, from the cache or from Open-Meteo."""

    name = "weather relay"

    def __init__(self, client: OpenMeteoClient, fresh_s: float = FRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.client = client
        self.fresh_s = fresh_s
        self.clock = clock
        self.cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.asks: queue.Queue[tuple[bytes, Reply]] = queue.Queue()
        self.fetched = 0  # questions Open-Meteo was asked; the rest came from the cache

    def ask(self, payload: bytes, reply: Reply) -> None:
        """A store's question (the receiver's thread): answered through `reply` in turn."""
        self.asks.put((payload, reply))
        self.wake.set()

    def step(self, stop: threading.Event) -> float:
        try:
            payload, reply = self.asks.get(timeout=0.2)
        except queue.Empty:
            return 0.0
        reply(self.answer(payload))
        return 0.0

    def answer(self, payload: bytes) -> dict[str, Any]:
        """Open-Meteo's `daily` block for the question, or {"error": why}."""
        try:
            query = question(payload)
        except ValueError as error:
            return {"error": f"a bad weather question: {error}"}
        key = json.dumps(query, sort_keys=True)
        now = self.clock()
        cached = self.cache.get(key)
        if cached is not None and now - cached[0] < self.fresh_s:
            return {"daily": cached[1]["daily"]}
        try:
            body = self.client.daily(query)
        except WeatherUnavailable as error:
            return {"error": str(error)}
        self.fetched += 1
        self.cache = {k: v for k, v in self.cache.items() if now - v[0] < self.fresh_s}
        self.cache[key] = (now, body)
        return {"daily": body["daily"]}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "fetched": self.fetched, "cached": len(self.cache)}
