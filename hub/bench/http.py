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
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..children import output_of, start_laoke
from ..domain.config import ReaderSettings, Settings, write_settings
from ..domain.devices import add_device
from ..domain.store import Store
from ..ports import free_port
from ..readers.simulator import SimulatedReader
from .console import bench_console
from .web import bench_tablet

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


def _card_reads(port: int, token: str, reader: SimulatedReader,
                cards: list[str]) -> list[float]:
    """Milliseconds from the last byte of each RDM6300 frame on the wire to its `card.read`
    event on the hub's stream, as a tablet receives it."""
    arrived: dict[str, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"GET /api/v1/events?access_token={token} HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\n\r\n".encode())
            stream = sock.makefile("rb")
            for raw in stream:
                if raw.startswith(b": connected"):
                    ready.set()
                if raw.startswith(b"data: "):
                    event = json.loads(raw[6:])
                    if event["type"] == "card.read":
                        arrived[event["data"]["number"]] = time.perf_counter()
                        if len(arrived) == len(cards):
                            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    sent: dict[str, float] = {}
    for number in cards:
        reader.read(number)
        sent[number] = time.perf_counter()
        time.sleep(0.02)
    listener.join(10)
    return [(arrived[n] - sent[n]) * 1000 for n in cards if n in arrived]


def bench_checkin_http(source: Path, settings: Settings, work: Path,
                       log: Callable[[str], None], rush_seconds: float = 10.0,
                       saturation_seconds: float = 5.0) -> dict[str, Any]:
    home = work / "http-home"
    home.mkdir()
    shutil.copyfile(source, home / "laoke.db")
    reader = SimulatedReader()
    reader_settings = settings.model_copy(deep=True)
    reader_settings.readers = [ReaderSettings(url=reader.path, protocol="rdm6300",
                                              station="door")]
    reader_settings.api.tls = False  # the figures are of serving itself, without TLS
    write_settings(home, reader_settings)
    with Store(home / "laoke.db", settings) as store:
        _, token = add_device(store, "bench tablet", "waiter", actor="bench")
        phones = [r[0][3:] for r in store.conn.execute(
            "SELECT phone FROM members ORDER BY random() LIMIT 5000")]
        cards = [r[0] for r in store.conn.execute(
            "SELECT number FROM member_cards ORDER BY random() LIMIT 200")]
        names = [r[0] for r in store.conn.execute(
            "SELECT name FROM members ORDER BY random() LIMIT 200")]
        owner_token = add_device(store, "bench console", "manager", actor="bench")[1]
    port = free_port()
    hub_log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the hub stops
    # zeroconf off: the bench measures serving, and sends nothing onto the machine's LAN
    hub = start_laoke(["--home", str(home), "hub", "run", "--host", "127.0.0.1", "--port",
                       str(port), "--no-discovery"], hub_log)
    try:
        _wait_up(hub, port, hub_log)
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
        reads = _card_reads(port, token, reader, cards)
        if len(reads) != len(cards):
            raise RuntimeError(f"only {len(reads)} of {len(cards)} card reads reached the stream")
        figures["card_read_p50_ms"] = round(statistics.median(reads), 2)
        figures["card_read_p99_ms"] = round(sorted(reads)[int(len(reads) * 0.99)], 2)
        figures.update(bench_console(f"http://127.0.0.1:{port}", owner_token, phones, names,
                                     log))
        figures.update(bench_tablet(f"http://127.0.0.1:{port}", token, phones, log))
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(30)
        hub_log.close()
        reader.close()
    log(f"check-in over HTTP, {TABLETS} tablets at 1/s each: p50 "
        f"{figures['checkin_http_p50_ms']} ms, p99 {figures['checkin_http_p99_ms']} ms; "
        f"saturated: {figures['http_requests_per_s']} requests/s "
        f"(p99 {figures['checkin_http_saturated_p99_ms']} ms); hub memory "
        f"{figures['hub_rss_mb']} MB at rest, {figures['hub_rss_load_mb']} MB peak")
    log(f"card read, last byte on the serial line to the event on the stream: p50 "
        f"{figures['card_read_p50_ms']} ms, p99 {figures['card_read_p99_ms']} ms "
        f"over {len(cards)} cards")
    return figures


def _wait_up(hub: subprocess.Popen[bytes], port: int, log: IO[bytes],
             timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and hub.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the bench's hub did not start:\n{output_of(log)}")
