"""One hub per home: the running hub holds a lock file, so commands know whether it runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_NAME = "hub.lock"


class HubAlreadyRunning(RuntimeError):
    pass


def hold(home: Path) -> IO[str]:
    """Take the home's hub lock for the life of this process (the OS frees it on any exit)."""
    handle = open(home / LOCK_NAME, "a+")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise HubAlreadyRunning(f"a hub is already running for {home}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def hub_running(home: Path) -> bool:
    path = home / LOCK_NAME
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
