"""The till on a real hub: a waiter's tap on "send" to the kitchen tickets queued, and the
menu of a big restaurant (500 dishes) loaded, over HTTP and on the tablet's order page."""

from __future__ import annotations

import json
import signal
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..children import start_laoke
from ..domain.config import new_settings, write_settings
from ..domain.menu import import_menu
from ..domain.store import Store
from ..domain.tables import save_table
from ..ports import free_port
from .http import _wait_up
from .web import tablet_page

DISHES = 500
TAPS = 100
STATIONS = ("热菜间", "凉菜间", "面点间", "吧台")


def _menu() -> list[dict[str, Any]]:
    return [{"code": f"D{n:03d}", "name": f"招牌菜{n}号", "category": f"分类{n % 12}",
             "price_fen": 1000 + n * 10, "station": STATIONS[n % len(STATIONS)]}
            for n in range(1, DISHES + 1)]


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _p99(samples: list[float]) -> float:
    return round(sorted(samples)[int(len(samples) * 0.99) - 1], 2)


def _order_page(url: str, token: str, log: Callable[[str], None]) -> dict[str, Any]:
    loads = []
    with tablet_page(token, log, "order page") as page:
        if page is None:
            return {}
        for attempt in range(6):
            page.goto(f"{url}/order")
            page.wait_for_selector("[data-table=T1]")
            started = time.perf_counter()
            page.click("[data-table=T1]")
            page.wait_for_function(f"document.querySelectorAll('#dishes .tile').length === "
                                   f"{DISHES}")
            if attempt:  # the first load fills the browser's cache, as a tablet's has
                loads.append((time.perf_counter() - started) * 1000)
    return {"order_page_menu_ms": round(statistics.median(loads), 1),
            "order_page_menu_max_ms": round(max(loads), 1)}


def bench_till(work: Path, log: Callable[[str], None]) -> dict[str, Any]:
    home = work / "till-home"
    home.mkdir()
    settings = new_settings("bench-till")
    settings.api.tls = False  # the figures are of the till itself, without TLS
    write_settings(home, settings)
    with Store(home / "laoke.db", settings) as store:
        import_menu(store, _menu(), actor="bench")
        save_table(store, "T1", seats=8, actor="bench")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output:
        # zeroconf off: the bench measures serving, and sends nothing onto the machine's LAN
        hub = start_laoke(["--home", str(home), "hub", "run", "--host", "127.0.0.1", "--port",
                           str(port), "--no-discovery"], output)
        try:
            _wait_up(hub, port, output)
            token = (home / "console.token").read_text().strip()
            menus = []
            for _ in range(20):
                started = time.perf_counter()
                assert len(_call(f"{url}/api/v1/menu", token)["dishes"]) == DISHES
                menus.append((time.perf_counter() - started) * 1000)
            tab = _call(f"{url}/api/v1/tabs", token, "POST", {"table": "T1", "party_size": 4})
            taps = []
            for n in range(TAPS):
                started = time.perf_counter()
                sent = _call(f"{url}/api/v1/tabs/{tab['id']}/items", token, "POST",
                             {"lines": [{"code": f"D{n % DISHES + 1:03d}", "qty": 1}]})
                taps.append((time.perf_counter() - started) * 1000)
                assert sent["print_jobs"], "a ticket for every round"
            figures: dict[str, Any] = {
                "menu_http_ms": round(statistics.median(menus), 2),
                "order_to_ticket_queued_p50_ms": round(statistics.median(taps), 2),
                "order_to_ticket_queued_p99_ms": _p99(taps)}
            figures.update(_order_page(url, token, log))
        finally:
            hub.send_signal(signal.SIGTERM)
            hub.wait(30)
    log(f"till: send to the kitchen, tap to ticket queued p50 "
        f"{figures['order_to_ticket_queued_p50_ms']} ms, p99 "
        f"{figures['order_to_ticket_queued_p99_ms']} ms over {TAPS} rounds; menu of {DISHES} "
        f"dishes over HTTP {figures['menu_http_ms']} ms"
        + (f", on the order page {figures['order_page_menu_ms']} ms"
           if "order_page_menu_ms" in figures else ""))
    return figures
