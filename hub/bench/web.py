"""The tablet page in Debian's headless Chromium against the benchmark's hub: page load to
interactive, and the tap on "find" to the guest card on screen."""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_or_none(log: Callable[[str], None], what: str) -> str | None:
    """Debian's Chromium where it and playwright are here; else say the figure is skipped."""
    chromium = shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401 - only whether it is installed
    except ImportError:
        chromium = None
    if chromium is None:
        log(f"{what}: skipped (needs Debian's chromium and playwright; "
            "./scripts/bootstrap --test installs both)")
    return chromium


@contextmanager
def tablet_page(token: str, log: Callable[[str], None], what: str) -> Iterator[Any]:
    """A tablet-sized page in Debian's Chromium, paired with `token`; None where Chromium or
    playwright is not here (the figure is skipped, and said so)."""
    chromium = chromium_or_none(log, what)
    if chromium is None:
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1024, "height": 768})
        context.add_init_script(f"localStorage.setItem('laoke.token', {token!r})")
        try:
            yield context.new_page()
        finally:
            browser.close()


def bench_tablet(url: str, token: str, phones: list[str],
                 log: Callable[[str], None]) -> dict[str, Any]:
    loads: list[float] = []
    taps: list[float] = []
    with tablet_page(token, log, "tablet page") as page:
        if page is None:
            return {}
        for attempt in range(6):
            started = time.perf_counter()
            page.goto(f"{url}/tablet")
            page.wait_for_selector("#work:not([hidden])")
            if attempt:  # the first load fills the browser's cache, as a tablet's has
                loads.append((time.perf_counter() - started) * 1000)
        for phone in phones[:20]:
            page.fill("input[name=q]", phone)
            started = time.perf_counter()
            page.press("input[name=q]", "Enter")
            page.wait_for_function(
                f"document.getElementById('guest-phone')?.textContent.endsWith({phone[-4:]!r})")
            taps.append((time.perf_counter() - started) * 1000)
    figures = {"tablet_load_ms": round(statistics.median(loads), 1),
               "tablet_load_max_ms": round(max(loads), 1),
               "tablet_lookup_ms": round(statistics.median(taps), 1),
               "tablet_lookup_max_ms": round(max(taps), 1)}
    log(f"tablet page: load to interactive {figures['tablet_load_ms']} ms (worst "
        f"{figures['tablet_load_max_ms']} ms); find to guest card {figures['tablet_lookup_ms']}"
        f" ms (worst of {len(taps)}: {figures['tablet_lookup_max_ms']} ms)")
    return figures
