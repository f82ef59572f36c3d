"""`laoke demo`: a generated store, a hub, a virtual printer and a simulated card reader
with the console on top; quitting stops all of it."""

import asyncio
import os
import subprocess
import sys
import threading
import time

from textual.widgets import DataTable

from hub.demo import demo_hub
from kiosk.client import HubClient
from kiosk.console import ConsoleApp
from tests.support.hubproc import ROOT


def test_the_demo_runs_the_whole_store_stops_cleanly_and_prints_the_day_with_no_terminal(
        tmp_path):
    home = tmp_path / "demo"
    before = threading.active_count()
    lines: list[str] = []
    with demo_hub(home, echo=lines.append, read_every=0.3) as running:
        assert "building the demo store" in lines[0]
        client = HubClient(running.url, running.token)
        health = client.health()
        assert health["readers"][0]["connected"] and health["printers"][0]["url"] == "virtual:"
        assert health["sync"]["broker"] is None, "no network, broker or hardware needed"

        async def console():
            app = ConsoleApp(client, language="en")
            async with app.run_test(size=(120, 40)) as pilot:
                table = app.query_one("#checked-in", DataTable)
                deadline = time.monotonic() + 10
                while not any("A8" in map(str, table.get_row(k)) for k in table.rows):
                    assert time.monotonic() < deadline, "no simulated card read arrived"
                    await pilot.pause(0.1)
                await pilot.press("ctrl+q")

        asyncio.run(console())
        client.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threading.active_count() <= before, "quitting stops the hub, reader and printer"
    with demo_hub(home, echo=lines.append, read_every=60):  # a second start reuses the store
        assert not any("building" in line for line in lines[1:])

    # `laoke demo` with no terminal (a script, a pipe) prints the day instead of the console;
    # on the same home, as a user's next run is (building it is the test above, and the
    # terminal one's in test_terminal_apps.py)
    result = subprocess.run([sys.executable, "-m", "hub", "--home", str(home), "demo"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "今天 today" in result.stdout and "会员 members 2000" in result.stdout
    assert "building" not in result.stdout


def test_demo_refuses_a_real_stores_home(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_HOME": str(tmp_path / "real")}
    subprocess.run([sys.executable, "-m", "hub", "member", "add", "--name", "王芳", "--phone",
                    "13800138000"], check=True, env=env, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "hub", "demo"], capture_output=True,
                            text=True, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "holds a real store" in result.stderr
