"""Waiting on a Textual pilot: the console's answers come from worker threads, so a test
waits for what it expects to appear rather than for a fixed time."""

import time


async def until(pilot, check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if check():
            return
    raise AssertionError("the console did not get there in time")


async def click(pilot, selector):
    """Click a button as a person would. A Textual button ignores a press while it still shows
    the last one (0.2 s), so a test's two quick clicks would otherwise count as one."""
    button = pilot.app.screen.query_one(selector)
    await until(pilot, lambda: not button.has_class("-active"))
    assert await pilot.click(selector), f"{selector} was not under the click"
