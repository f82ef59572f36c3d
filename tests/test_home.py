"""A home is one store: the id it is born with (flag or environment) is the one in its file,
a home with no history takes the id `hub run --store-id` asks for, and one with history
refuses another id, saying how to go on."""

from __future__ import annotations

import os
import subprocess
import sys

from hub.domain.config import load_settings
from tests.support.hubproc import ROOT, RunningHub


def laoke(home, *args, **env):
    return subprocess.run([sys.executable, "-m", "hub", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_a_store_id_from_the_environment_is_the_one_the_new_home_keeps(tmp_path):
    home = tmp_path / "home"
    first = laoke(home, "member", "find", "x", LAOKE_STORE_ID="S001")
    assert first.returncode == 0, first.stderr
    assert load_settings(home, environ={}).store_id == "S001"
    again = laoke(home, "member", "find", "x")  # without the variable: the same store
    assert again.returncode == 0, again.stderr


def test_a_bad_store_id_from_the_environment_is_named_and_makes_no_home(tmp_path):
    result = laoke(tmp_path / "home", "member", "find", "x", LAOKE_STORE_ID="shop 9")
    assert result.returncode == 2
    assert "LAOKE_STORE_ID: 'shop 9' is not a store id" in result.stderr
    assert not (tmp_path / "home").exists()


def test_hub_run_store_id_on_a_new_home_and_on_one_with_no_history(tmp_path):
    fresh = RunningHub(tmp_path / "fresh", "--store-id", "shop-1").start()
    try:
        assert fresh.client().get("/health").json()["store_id"] == "shop-1"
    finally:
        fresh.stop()
    assert load_settings(tmp_path / "fresh", environ={}).store_id == "shop-1"

    early = tmp_path / "early"  # a first look created it with a generated id
    assert laoke(early, "member", "find", "x").returncode == 0
    assert load_settings(early, environ={}).store_id.startswith("store-")
    hub = RunningHub(early, "--store-id", "shop-2").start()
    try:
        assert hub.client().get("/health").json()["store_id"] == "shop-2"
    finally:
        hub.stop()
    assert load_settings(early, environ={}).store_id == "shop-2"
    assert laoke(early, "member", "find", "x").returncode == 0


def test_a_home_with_history_refuses_another_store_id_and_says_how_to_go_on(tmp_path):
    home = tmp_path / "home"
    added = laoke(home, "member", "add", "--name", "王芳", "--phone", "13800138000",
                  LAOKE_STORE_ID="shop-1")
    assert added.returncode == 0, added.stderr
    for result in (laoke(home, "hub", "run", "--store-id", "shop-2", "--no-discovery"),
                   laoke(home, "member", "find", "x", LAOKE_STORE_ID="shop-2")):
        assert result.returncode == 2
        assert "belongs to store 'shop-1'" in result.stderr
        assert "one store for life" in result.stderr and "--home" in result.stderr
    assert load_settings(home, environ={}).store_id == "shop-1"
    assert "王芳" in laoke(home, "member", "find", "8000").stdout
