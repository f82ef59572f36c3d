"""Processes laoke starts for itself (the bench's hub and console runs).

A store's Pi has LAOKE_STORE_ID and friends set in its shell for the store's own home. A child
working on another home, such as the bench's cached store, must not inherit them: the bench's
hub once refused to start against a cache of another store id, and the bench threw its error
away. So a child gets the environment it needs, and its output is kept for the error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from .domain.config import ENV_PREFIX

SOURCE_ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict[str, str]:
    """This environment less laoke's setting overrides, with laoke importable from source."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT),
                                                      env.get("PYTHONPATH")]))
    return env


def start_laoke(args: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`laoke ARGS` in a child process writing its output to `log` (see `output_of`)."""
    return subprocess.Popen([sys.executable, "-m", "hub", *args], env=child_env(),
                            stdout=log, stderr=subprocess.STDOUT)


def output_of(log: IO[bytes], limit: int = 4000) -> str:
    """The end of what a child wrote, for an error that says why it failed."""
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:].strip()
