"""`laoke demo`: the whole store on embedded defaults, in one process, with no hardware.

A generated store (built once), the hub on a loopback port, the built-in virtual printer, and
a simulated RDM6300 card reader on a pseudo-terminal that reads a guest's card every few
seconds and seats them at table A8. Then the staff console opens; quitting it stops it all.
Without a terminal (or with --summary) it prints the day's figures instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .daemon import build
from .demo_data import generate
from .domain.dashboard import DayFigures, change_pct, day_summary
from .domain.errors import InvalidInput
from .domain.money import yuan
from .home import open_store
from .hublock import announce, hold
from .ports import free_port
from .readers.simulator import CardSimulator
from .runtime import Hub

DEMO_MEMBERS = 2000
DEMO_DAYS = 365
READ_EVERY_S = 12.0


@dataclass
class DemoHub:
    url: str
    token: str
    hub: Hub


def prepare(home: Path, echo: Callable[[str], None]) -> None:
    """A demo home with its generated store; refuses a real store's home."""
    with open_store(home) as store:
        has_members = store.scalar("SELECT EXISTS (SELECT 1 FROM members)")
        if has_members and store.meta("demo") is None:
            raise InvalidInput(f"{home} holds a real store; laoke demo needs an empty or demo "
                               "home (pass --home DIR)")
        if not has_members:
            echo(f"building the demo store in {home} …")
            summary = generate(store, members=DEMO_MEMBERS, days=DEMO_DAYS)
            echo(f"  {summary.members} members, {summary.orders} orders over {summary.days} "
                 "days")


@contextmanager
def demo_hub(home: Path, echo: Callable[[str], None] = print,
             read_every: float = READ_EVERY_S) -> Iterator[DemoHub]:
    prepare(home, echo)
    lock = hold(home)
    port = free_port()
    # The simulator runs once the hub exists; it uses the hub's own per-thread connections.
    cards = CardSimulator(lambda: hub.store(), read_every)
    # Loopback only, zeroconf off: nothing of the demo crosses a LAN, so it serves plain HTTP
    # whatever its home would serve as a store.
    overrides: dict[str, Any] = {
        "api": {"host": "127.0.0.1", "port": port, "tls": False},
        "discovery": {"enabled": False},
        "readers": [{"url": cards.path, "protocol": "rdm6300", "station": "A8",
                     "checkin": True}]}
    hub, app = build(home, overrides)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    serving = threading.Thread(target=server.run, name="demo hub", daemon=True)
    serving.start()
    simulating = threading.Thread(target=cards.run, name="demo card reader", daemon=True)
    simulating.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not serving.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo hub did not start")
            time.sleep(0.02)
        announce(lock, f"http://127.0.0.1:{port}")
        yield DemoHub(f"http://127.0.0.1:{port}", hub.console_token(), hub)
    finally:
        cards.stop.set()
        server.should_exit = True
        serving.join(timeout=15)
        hub.close()
        cards.close()
        lock.close()


def _line(label: str, figures: DayFigures, before: DayFigures) -> list[str]:
    share = (figures.returning_orders * 100 // figures.member_orders) if figures.member_orders \
        else 0
    return [
        f"{label}  {figures.day.isoformat()}",
        f"  客数 covers          {figures.covers:6d}   ({change_pct(figures.covers, before.covers)}"
        " vs same weekday last week)",
        f"  订单 orders          {figures.orders:6d}",
        f"  营收 revenue      {yuan(figures.revenue_fen, ' 元', width=9)} "
        f"({change_pct(figures.revenue_fen, before.revenue_fen)})",
        f"  回头客 returning       {share:3d}%  of member orders",
        f"  新会员 new members   {figures.new_members:6d}",
        "  热销 top dishes      " + "、".join(f"{d}×{q}" for d, q in figures.top_dishes),
    ]


def print_summary(home: Path, echo: Callable[[str], None]) -> None:
    with open_store(home) as store:
        day = day_summary(store)
        echo(f"老客 laoke demo — {store.settings.store_name} ({store.store_id})")
        for text in _line("今天 today", day.today, day.same_day_last_week):
            echo(text)
        echo(f"  会员 members {day.members}   流失 lapsed 90d {day.lapsed_90}   "
             f"近7天生日 birthdays 7d {day.birthdays_7}")


def run_demo(home: Path, echo: Callable[[str], None] = print, interactive: bool = True) -> None:
    if not interactive:
        prepare(home, echo)
        print_summary(home, echo)
        return
    from kiosk.client import HubClient
    from kiosk.console import ConsoleApp

    with demo_hub(home, echo) as running:
        client = HubClient(running.url, running.token)
        try:
            ConsoleApp(client, timezone=running.hub.settings.timezone).run()
        finally:
            client.close()
