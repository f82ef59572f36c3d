"""A network namespace with a LAN of its own, so the hub can run on its real defaults.

The store's daemon listens on 0.0.0.0:8420 and announces itself with mDNS on every interface.
On the test machine that would send multicast out of its real network card, which is why most
tests narrow discovery to loopback. Inside a fresh namespace holding only loopback and a veth
pair on 192.0.2.0/24 (a documentation range), the hub runs exactly as systemd starts it, and
none of its traffic leaves the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from typing import Any

from tests.support.hubproc import ROOT

LAN_ADDRESS = "192.0.2.10"
SETUP = ("ip link set lo up && ip link add lan0 type veth peer name lan1 && "
         f"ip addr add {LAN_ADDRESS}/24 dev lan0 && ip link set lan0 up && ip link set lan1 up")


def _unshare() -> list[str]:
    # root makes the namespace directly; anyone else through a user namespace of their own
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--net", "sh", "-c", SETUP + ' && exec "$0" "$@"']


@cache
def why_no_namespace() -> str | None:
    """None where this machine can make the namespace, else why not (for a skip)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run([*_unshare(), "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"no network namespace here: {probe.stderr}"


def run_in_lan(scenario: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Run tests.support.lan_probe inside a new namespace on `scenario`; return what it found."""
    result = subprocess.run(
        [*_unshare(), sys.executable, "-m", "tests.support.lan_probe", json.dumps(scenario)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, f"probe failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])
