"""Local stand-ins for what cannot run here: an SMS gateway (or WeChat relay) over HTTP, a
mail server's mailbox, and Open-Meteo's weather APIs."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Callable
from datetime import date, timedelta
from email import message_from_bytes, policy
from typing import ClassVar

from .httpstandin import QuietHandler, serve


class Gateway:
    """An SMS gateway: dedupes by Idempotency-Key, as real ones do; can fail on purpose."""

    def __init__(self) -> None:
        self.texts: dict[str, dict] = {}
        self.requests = 0
        self.fail_next = 0  # answer 503 without taking the message
        self.lose_answer_next = 0  # take the message, then answer 503 (a lost answer)
        self.delay_s = 0.0  # how long it takes to answer (a sender caught mid-send)
        gateway = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests += 1
                time.sleep(gateway.delay_s)
                if gateway.fail_next:
                    gateway.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                gateway.texts.setdefault(self.headers["Idempotency-Key"], body)
                if gateway.lose_answer_next:
                    gateway.lose_answer_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_json(200, {"status": "delivered"})

        self.server, base = serve(Handler)
        self.url = f"{base}/sms"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """An aiosmtpd handler: takes mail, or answers 451 (try later) while told to, or takes
    it and answers only after `slow_next_s` (longer than the client waits: a lost answer)."""

    def __init__(self) -> None:
        self.mails: list = []
        self.fail_next = 0
        self.slow_next_s = 0.0
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.fail_next:
            self.fail_next -= 1
            return "451 4.3.0 mailbox busy, try again later"
        self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        if self.slow_next_s:
            wait, self.slow_next_s = self.slow_next_s, 0.0
            await asyncio.sleep(wait)
        return "250 OK"


class OpenMeteo:
    """Open-Meteo's forecast (/v1/forecast) and archive (/v1/archive) APIs in their JSON form:
    the same query parameters, the `daily` block with `daily_units`, nulls for days the
    archive has not reached, and a 400 with {"error": true, "reason"} for a bad query."""

    DAILY: ClassVar[dict[str, str]] = {
        "temperature_2m_max": "°C", "temperature_2m_min": "°C", "precipitation_sum": "mm"}

    def __init__(self, weather: Callable[[date], tuple[float, float, float]], today: date,
                 archive_lag_days: int = 5) -> None:
        self.weather = weather  # day -> (max, min, precipitation)
        self.today = today
        self.archive_lag_days = archive_lag_days  # the days before today it has not yet
        self.queries: list[tuple[str, dict[str, str]]] = []
        self.down = False
        self.fail_next = 0  # answer the next queries as if down
        stand_in = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                stand_in.queries.append((url.path, query))
                if stand_in.down or stand_in.fail_next:
                    stand_in.fail_next = max(0, stand_in.fail_next - 1)
                    self.send_json(503, {"error": True, "reason": "Service unavailable"})
                    return
                try:
                    self.send_json(200, stand_in.answer(url.path, query))
                except ValueError as error:
                    self.send_json(400, {"error": True, "reason": str(error)})

        self.server, base = serve(Handler)
        self.forecast_url = f"{base}/v1/forecast"
        self.archive_url = f"{base}/v1/archive"

    def answer(self, path: str, query: dict[str, str]) -> dict:
        for name in ("latitude", "longitude"):
            if name not in query:
                raise ValueError(f"Parameter '{name}' is missing")
            float(query[name])
        asked = query.get("daily", "").split(",")
        unknown = [v for v in asked if v not in self.DAILY]
        if unknown:
            raise ValueError(f"Cannot initialize WeatherVariable from invalid String value "
                             f"{unknown[0]} for key daily")
        if path == "/v1/forecast":
            first = self.today
            days = [first + timedelta(days=n) for n in range(int(query.get("forecast_days", 7)))]
            last_known = days[-1]
        elif path == "/v1/archive":
            first = date.fromisoformat(query["start_date"])
            end = date.fromisoformat(query["end_date"])
            if end < first:
                raise ValueError("End-date must be larger or equals than start-date")
            days = [first + timedelta(days=n) for n in range((end - first).days + 1)]
            last_known = self.today - timedelta(days=self.archive_lag_days + 1)
        else:
            raise ValueError(f"no API at {path}")
        daily: dict[str, list] = {"time": [d.isoformat() for d in days]}
        for index, name in enumerate(self.DAILY):
            daily[name] = [self.weather(d)[index] if d <= last_known else None for d in days]
        return {"latitude": float(query["latitude"]), "longitude": float(query["longitude"]),
                "generationtime_ms": 0.1, "utc_offset_seconds": 28800,
                "timezone": query.get("timezone", "GMT"), "timezone_abbreviation": "GMT+8",
                "elevation": 44.0, "daily_units": {"time": "iso8601", **self.DAILY},
                "daily": daily}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
