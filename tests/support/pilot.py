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
