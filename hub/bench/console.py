"""The console's figures: first search results after a keystroke (on the benchmark's
million-member hub), console start to first frame, and `laoke demo` start to console."""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input

from kiosk.client import HubClient
from kiosk.console import ConsoleApp

from ..children import child_env
from ..demo import demo_hub
from ..demo_data import generate
from ..home import open_store


async def _search_latencies(url: str, token: str, queries: list[str]) -> tuple[float,
                                                                               list[float]]:
    started = time.perf_counter()
    app = ConsoleApp(HubClient(url, token), language="zh-CN", events=False)
    timings: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        first_frame = (time.perf_counter() - started) * 1000
        await pilot.press("slash")
        search = app.query_one("#search", Input)
        table = app.query_one("#results", DataTable)
        for query in queries:
            search.value = ""
            await pilot.pause(0.05)
            before = time.perf_counter()
            search.value = query  # what one keystroke does: the search runs as you type
            while not table.row_count:
                await asyncio.sleep(0.001)
                if time.perf_counter() - before > 5:
                    raise RuntimeError(f"no results for {query!r}")
            timings.append((time.perf_counter() - before) * 1000)
    return first_frame, timings


def bench_console(url: str, token: str, phones: list[str], names: list[str],
                  log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(9)
    queries = [rng.choice(phones)[:7] for _ in range(20)] + [rng.choice(names)[:2]
                                                            for _ in range(20)]
    first_frame, timings = asyncio.run(_search_latencies(url, token, queries))
    figures = {"search_first_results_ms": round(statistics.median(timings), 1),
               "search_first_results_p99_ms": round(max(timings), 1),
               "console_first_frame_ms": round(first_frame, 1)}
    log(f"console: first search results {figures['search_first_results_ms']} ms after a "
        f"keystroke (worst of {len(timings)}: {figures['search_first_results_p99_ms']} ms), "
        f"first frame {figures['console_first_frame_ms']} ms after start")
    return figures


def demo_to_console(home: str) -> None:
    """Run by the benchmark in a fresh process: `laoke demo` up to its first console frame."""

    async def open_console(url: str, token: str) -> None:
        app = ConsoleApp(HubClient(url, token), language="zh-CN", events=False)
        async with app.run_test(size=(120, 40)):
            print("console up", flush=True)

    with demo_hub(Path(home), echo=lambda _: None, read_every=60) as running:
        asyncio.run(open_console(running.url, running.token))


def bench_demo_start(work: Path, log: Callable[[str], None], quick: bool = False
                     ) -> dict[str, Any]:
    """`laoke demo` start to console, in a new process (imports included), on a demo home
    built before (its usual state: the store is generated on the first run only). `quick`
    builds it smaller than the demo would, since building it is not what is timed."""
    home = work / "demo-home"
    if quick:
        with open_store(home) as store:
            generate(store, members=200, days=30)
    code = f"from hub.bench.console import demo_to_console; demo_to_console({str(home)!r})"
    env = child_env()
    if not quick:
        subprocess.run([sys.executable, "-c", code], check=True, env=env,
                       stdout=subprocess.DEVNULL)  # the first run builds the store
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()
    seconds = time.perf_counter() - started
    child.wait(30)
    log(f"laoke demo: start to console {seconds:.2f} s (new process, store already built)")
    return {"demo_start_s": round(seconds, 2)}
