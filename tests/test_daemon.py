"""The store's daemon started as users start it: the systemd unit's command line and the
README's, with discovery on its defaults, in a network namespace of
their own (tests.support.lan)."""

from __future__ import annotations

import shlex

import pytest

from hub.domain.config import load_settings, new_settings
from hub.home import VIRTUAL_SPOOL
from hub.tls import CA_CERT, TLS_DIR, home_certificate
from tests.support.hubproc import LAOKE, ROOT
from tests.support.lan import LAN_ADDRESS, run_in_lan, why_no_namespace

UNIT = ROOT / "config" / "systemd" / "laoke-hub.service"
DEFAULT_PORT = new_settings().api.port

needs_lan = pytest.mark.skipif(why_no_namespace() is not None,
                               reason=why_no_namespace() or "")


def unit_service() -> tuple[list[str], dict[str, str]]:
    """ExecStart and Environment of the shipped unit, split into words as systemd splits them."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = shlex.split(value)
        elif key == "Environment":
            env.update(word.split("=", 1) for word in shlex.split(value))
    return argv, env


def hubs_of(found: dict, store_id: str) -> list[dict]:
    return [h for h in found.get("hubs", []) if h["store_id"] == store_id]


def test_the_units_command_line_is_the_installed_laoke_on_its_defaults():
    argv, env = unit_service()
    assert argv == ["/opt/laoke/.venv/bin/laoke", "hub", "run"], "no test-only flags"
    assert env == {"LAOKE_HOME": "/var/lib/laoke"}
    assert LAOKE.exists(), f"{LAOKE}: the environment has no laoke entry point"


@needs_lan
def test_the_daemon_starts_as_systemd_starts_it(tmp_path):
    """Every default: HTTPS on 0.0.0.0:8420 with a certificate made at first start, plain HTTP
    for /health on the same port, zeroconf on every interface, the home from LAOKE_HOME."""
    argv, env = unit_service()
    home = tmp_path / "var-lib-laoke"
    lan = f"https://{LAN_ADDRESS}:{DEFAULT_PORT}"
    found = run_in_lan({"argv": [str(LAOKE), *argv[1:]], "env": {**env, "LAOKE_HOME": str(home)},
                        "health_url": f"http://127.0.0.1:{DEFAULT_PORT}/api/v1/health",
                        "https": [f"{lan}/api/v1/health",
                                  f"https://127.0.0.1:{DEFAULT_PORT}/api/v1/health"],
                        "ca_file": str(home / TLS_DIR / CA_CERT), "browse": True})
    assert found["ready"], found["output"]
    store_id = load_settings(home).store_id
    assert found["ready"]["status"] == "ok" and found["ready"]["store_id"] == store_id
    # a tablet that trusts the store's CA reaches the hub by its LAN address, name checked
    for url, answer in found["https"].items():
        assert answer.get("status") == 200 and answer["json"]["store_id"] == store_id, url
    certificate = home_certificate(home)
    assert certificate is not None
    # the hub announces itself on the LAN, with its pin, where `laoke console --pin` finds it
    assert [h for h in hubs_of(found, store_id)
            if h["url"] == lan and h["pin"] == certificate.pin], found["hubs"]
    assert found["exit_code"] == 0, "SIGTERM is a clean stop, as systemd expects"


@needs_lan
def test_the_readmes_hub_command_serves_health(tmp_path):
    readme = (ROOT / "README.md").read_text()
    command = ".venv/bin/laoke hub run --port 8420"
    assert command in readme
    home = tmp_path / "home"
    argv = [str(LAOKE), "--home", str(home), *shlex.split(command)[1:]]
    found = run_in_lan({"argv": argv, "health_url": f"http://127.0.0.1:{DEFAULT_PORT}/api/v1/health",
                        "browse": True})
    assert found["ready"], found["output"]
    assert hubs_of(found, load_settings(home).store_id), found["hubs"]
    assert found["exit_code"] == 0


@needs_lan
def test_the_virtual_printer_serves_on_its_defaults(tmp_path):
    """`laoke printer serve` with no flags: tcp://127.0.0.1:9100, slips in the home's spool."""
    home = tmp_path / "home"
    laoke = [str(LAOKE), "--home", str(home)]
    found = run_in_lan({"argv": [*laoke, "printer", "serve"], "port": 9100,
                        "then": [[*laoke, "printer", "test", "tcp://127.0.0.1:9100"]]})
    assert found["ready"], found["output"]
    printed = found["then"][0]
    assert printed["code"] == 0, printed["stderr"]
    slips = sorted((home / VIRTUAL_SPOOL).glob("*.txt"))
    assert slips and "测试" in slips[0].read_text(encoding="utf-8")
    assert found["exit_code"] == 0
