"""Check-in over HTTP from 50 simulated tablets against a real `laoke hub run` process.

A check-in is what a waiter's tablet does: look the guest up by phone, then seat them. Two
loads are measured: the lunch rush (every tablet checks a guest in about once a second,
latency is what matters) and saturation (every tablet as fast as it can: requests per
second). The tablets are asyncio connections in this process; the hub is its own process, so
its memory is its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .domain.config import Settings, write_settings
from .domain.devices import add_device
from .domain.store import Store

TABLETS = 50


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Tablet:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for the benchmark."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def call(self, method: str, path: str,
                   body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                f"{self.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        self.writer.write(head + data)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def check_in(self, phone: str) -> float:
        """Look the guest up by phone and seat them: what a waiter's tablet does."""
        started = time.perf_counter()
        status, body = await self.call("GET", f"/api/v1/members/lookup?phone={phone}")
        if status != 200:
            raise RuntimeError(f"lookup answered {status}")
        member_id = json.loads(body)["id"]
        status, _ = await self.call("POST", "/api/v1/checkins",
                                    {"member_id": member_id, "table": "A1", "party_size": 2})
        if status != 201:
            raise RuntimeError(f"check-in answered {status}")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.writer.close()


async def _load(port: int, token: str, phones: list[str], seconds: float,
                interval: float | None) -> tuple[list[float], int]:
    tablets = [Tablet(port, token) for _ in range(TABLETS)]
    await asyncio.gather(*(t.open() for t in tablets))
    timings: list[float] = []
    rng = random.Random(3)
    deadline = time.perf_counter() + seconds

    async def run(tablet: Tablet) -> None:
        if interval:
            await asyncio.sleep(rng.uniform(0, interval))
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            timings.append(await tablet.check_in(rng.choice(phones)))
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))

    started = time.perf_counter()
    await asyncio.gather(*(run(t) for t in tablets))
    elapsed = time.perf_counter() - started
    for tablet in tablets:
        tablet.close()
    return timings, int(len(timings) * 2 / elapsed)


def bench_checkin_http(source: Path, settings: Settings, work: Path,
                       log: Callable[[str], None], rush_seconds: float = 10.0,
                       saturation_seconds: float = 5.0) -> dict[str, Any]:
    home = work / "http-home"
    home.mkdir()
    shutil.copyfile(source, home / "laoke.db")
    write_settings(home, settings)
    with Store(home / "laoke.db", settings) as store:
        _, token = add_device(store, "bench tablet", "waiter", actor="bench")
        phones = [r[0][3:] for r in store.conn.execute(
            "SELECT phone FROM members ORDER BY random() LIMIT 5000")]
    port = _free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", "--home", str(home), "hub", "run", "--host", "127.0.0.1",
         "--port", str(port), "--no-discovery"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        _wait_up(port)
        time.sleep(1.0)
        figures: dict[str, Any] = {"hub_rss_mb": _rss_mb(hub.pid)}
        rush, _ = asyncio.run(_load(port, token, phones, rush_seconds, interval=1.0))
        figures["checkin_http_p50_ms"] = round(statistics.median(rush), 2)
        figures["checkin_http_p99_ms"] = round(sorted(rush)[int(len(rush) * 0.99)], 2)
        figures["checkin_http_rush_per_s"] = round(len(rush) / rush_seconds, 1)
        flat, rps = asyncio.run(_load(port, token, phones, saturation_seconds, interval=None))
        figures["checkin_http_saturated_p99_ms"] = round(sorted(flat)[int(len(flat) * 0.99)], 2)
        figures["http_requests_per_s"] = rps
        figures["hub_rss_load_mb"] = _rss_mb(hub.pid, "VmHWM")
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)
    log(f"check-in over HTTP, {TABLETS} tablets at 1/s each: p50 "
        f"{figures['checkin_http_p50_ms']} ms, p99 {figures['checkin_http_p99_ms']} ms; "
        f"saturated: {figures['http_requests_per_s']} requests/s "
        f"(p99 {figures['checkin_http_saturated_p99_ms']} ms); hub memory "
        f"{figures['hub_rss_mb']} MB at rest, {figures['hub_rss_load_mb']} MB peak")
    return figures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the hub did not start")
