"""`laoke console` and `laoke demo` as a person starts them in a terminal: no flags beyond
--home (the demo with none at all), on a real pseudo-terminal, quit with ctrl+q."""

from __future__ import annotations

import os

from tests.support.hubproc import LAOKE, ROOT, RunningHub
from tests.support.ptyproc import PtyProcess

CTRL_Q = b"\x11"


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "zh_CN.UTF-8", **extra}


def test_console_with_no_flags_opens_on_this_homes_running_hub(tmp_path):
    # the hub serves on a port its home's file does not name: the console must still find it
    hub = RunningHub(tmp_path / "home").start()
    console = PtyProcess([str(LAOKE), "--home", str(hub.home), "console"], env())
    try:
        console.expect("看板")
        console.send(CTRL_Q)
        assert console.wait() == 0, console.text()[-2000:]
    finally:
        console.close()
        hub.stop()


def test_demo_with_no_flags_builds_its_store_and_opens_the_console(tmp_path):
    data = tmp_path / "data"  # where the platform keeps a user's data: the demo's own folder
    demo = PtyProcess([str(LAOKE), "demo"], env(XDG_DATA_HOME=str(data)))
    try:
        demo.expect("building the demo store", timeout=30)
        demo.expect("看板", timeout=180)
        demo.send(CTRL_Q)
        assert demo.wait() == 0, demo.text()[-2000:]
    finally:
        demo.close()
    assert (data / "laoke-demo" / "laoke.db").exists()
