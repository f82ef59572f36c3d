"""One hub per home: the running hub holds a lock file, so commands know whether it runs."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .domain.errors import InvalidInput

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


@contextmanager
def hub_stopped(home: Path) -> Iterator[None]:
    """For a command that replaces the home's database (a restore, encryption): no hub may
    run on it meanwhile, and none can start until the command is done."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        lock = hold(home)
    except HubAlreadyRunning as error:
        raise InvalidInput(f"{error}: stop it first") from None
    try:
        yield
    finally:
        lock.close()


def announce(handle: IO[str], url: str) -> None:
    """Say in the lock where the running hub serves this machine, for `laoke console`: the
    port may come from a flag the home's file does not know."""
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n{url}\n")
    handle.flush()


def running_hub_url(home: Path) -> str | None:
    """The URL a hub running for this home announced, or None when none runs."""
    if not hub_running(home):
        return None
    lines = (home / LOCK_NAME).read_text().splitlines()
    return lines[1] if len(lines) > 1 else None


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
