"""The `laoke` command as a user runs it: a real process, a real home folder."""

import json
import os
import subprocess
import sys

import pytest


def laoke(home, *args, check=True):
    env = {**os.environ, "LAOKE_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True,
                            text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_version():
    from hub import __version__

    result = subprocess.run([sys.executable, "-m", "hub", "--version"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and __version__ in result.stdout


def test_add_find_show(tmp_path):
    member_id = laoke(tmp_path, "member", "add", "--name", "王芳", "--phone", "138 0013 8000",
                      "--birthday", "1990-05-01", "--allergy", "对虾", "--allergy", "花生",
                      "--note", "微辣, 不放花椒", "--marketing-consent").stdout.strip()
    found = json.loads(laoke(tmp_path, "member", "find", "+86 138-0013-8000", "--json").stdout)
    assert [m["id"] for m in found["members"]] == [member_id]
    assert json.loads(laoke(tmp_path, "member", "find", "8000", "--json").stdout)["members"]
    shown = json.loads(laoke(tmp_path, "member", "show", "8613800138000", "--json").stdout)
    for key in ("id", "name", "phone", "birthday", "allergies", "notes", "tier",
                "points_balance", "stored_value_fen", "marketing_consent", "created_at",
                "home_store"):
        assert key in shown
    assert shown["phone"] == "+8613800138000"
    assert shown["allergies"] == ["对虾", "花生"]
    assert shown["marketing_consent"] is True
    text = laoke(tmp_path, "member", "show", member_id).stdout
    assert "王芳" in text and "对虾" in text
    as_json = json.loads(laoke(tmp_path, "member", "add", "--name", "李四", "--phone",
                               "13900139000", "--json").stdout)
    assert as_json["name"] == "李四" and as_json["stored_value_fen"] == 0


@pytest.mark.parametrize("args, message", [
    (["member", "add", "--name", "王芳", "--phone", "12345"], "not a valid phone number"),
    (["member", "add", "--name", "王芳", "--phone", "13800138000", "--birthday", "1990-02-30"],
     "birthday"),
    (["member", "add", "--name", "王芳"], "--phone"),
    (["member", "add", "--name", "李四", "--phone", "+86 138-0013-8000"], "already belongs"),
    (["member", "show"], "Missing argument"),
    (["export", "--out", "x", "--format", "pdf"], "pdf"),
    (["segment", "lapsed", "--days", "-1"], "-1"),
    (["segment", "rules", "--rules", "{nope"], "--rules is not valid JSON"),
    (["segment", "rules", "--rules", '{"tier": "gold"}'], "audience: tier: unknown rule"),
    (["campaign", "create", '{"name": "x", "control_pct": 99}'], "control_pct"),
    (["no-such-command"], "No such command"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    laoke(tmp_path, "member", "add", "--name", "王芳", "--phone", "13800138000")
    before = json.loads(laoke(tmp_path, "member", "find", "王", "--json").stdout)
    result = laoke(tmp_path, *args, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("laoke: ") and message in lines[0]
    assert json.loads(laoke(tmp_path, "member", "find", "王", "--json").stdout) == before


def test_unknown_member_exits_1(tmp_path):
    result = laoke(tmp_path, "member", "show", "13700000000", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("laoke: no member")


def test_bad_config_is_one_line(tmp_path):
    (tmp_path / "laoke.toml").write_text("store_id = 'x'\n[chain]\nkey = 'short'\n")
    result = laoke(tmp_path, "member", "find", "x", check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "chain.key" in result.stderr


def test_home_flag_beats_environment(tmp_path):
    other = tmp_path / "other"
    laoke(tmp_path / "env", "--home", str(other), "member", "add", "--name", "张伟", "--phone",
          "13900139000")
    assert (other / "laoke.db").exists() and not (tmp_path / "env" / "laoke.db").exists()


def test_segments(tmp_path):
    laoke(tmp_path, "demo-data", "--members", "300", "--days", "200")
    lapsed = json.loads(laoke(tmp_path, "segment", "lapsed", "--json").stdout)
    assert lapsed["count"] == len(lapsed["member_ids"]) > 0
    birthday = json.loads(laoke(tmp_path, "segment", "birthday", "--days", "30",
                                "--json").stdout)
    assert birthday["count"] > 0
    gold = json.loads(laoke(tmp_path, "segment", "rules", "--rules",
                            '{"frequency_min": 5, "taste": "微辣"}', "--json").stdout)
    assert 0 < gold["count"] < 300


def test_campaign_commands(tmp_path):
    laoke(tmp_path, "demo-data", "--members", "200", "--days", "200")
    listed = json.loads(laoke(tmp_path, "campaign", "list", "--json").stdout)["campaigns"]
    win_back = next(c for c in listed if c["kind"] == "win_back")
    assert not win_back["active"]
    laoke(tmp_path, "campaign", "set", win_back["id"], '{"active": true, "channels": []}')
    run = json.loads(laoke(tmp_path, "campaign", "run", win_back["id"]).stdout)
    assert run["new"] == run["treated"] + run["control"] > 0
    results = json.loads(laoke(tmp_path, "campaign", "results", win_back["id"], "--json").stdout)
    assert results["arms"]["treated"]["coupons_issued"] == run["treated"]
    assert "lift" in laoke(tmp_path, "campaign", "results", win_back["id"]).stdout or \
        run["control"] == 0


def test_every_command_has_help():
    import click

    from hub.cli import cli

    def walk(command, path):
        assert command.help, f"`laoke {' '.join(path)}` has no help text"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
