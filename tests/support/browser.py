"""Debian's headless Chromium driven by Playwright, for the tablet, kiosk, order and display
pages; screenshots at tablet size go to test-artifacts/."""

import shutil
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from hub.bench.web import FLAGS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TABLET = {"width": 1024, "height": 768}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: ./scripts/bootstrap installs it")
    with playwright_api.sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    # The tablet has the store's CA installed (the hub's /trust page); Chromium here gets no
    # CA store of ours, so it is told to take the hub's certificate as such a tablet would.
    context = browser.new_context(viewport=TABLET, locale="zh-CN", ignore_https_errors=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
