"""Backups of a store's database to a folder (a USB stick), and a home restored from one.

A store with no HQ has nothing else to rebuild from. The copy is SQLite's online backup,
so the hub keeps serving while it is made; it is written aside, checked with
`integrity_check`, flushed to the disk and only then given its name, so a file named like a
backup is always a whole, sound database. The newest `keep` backups stay; older ones go.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC
from pathlib import Path

from .domain.config import Settings
from .domain.errors import InvalidInput
from .domain.nightly import last_night
from .domain.store import Store
from .home import DB_NAME

BACKED_UP_KEY = "backup_day"  # hub_meta: the last store-local night backed up


def backup_name(store_id: str, stamp: str) -> str:
    return f"laoke-{store_id}-{stamp}.db"


def verify(path: Path) -> None:
    """A sound SQLite database of laoke's, or InvalidInput saying what is wrong."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
            if [tuple(r) for r in result] != [("ok",)]:
                raise InvalidInput(f"{path} is damaged: {result[0][0]}")
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'hub_meta'"
                            ).fetchone() is None:
                raise InvalidInput(f"{path} is not a laoke database")
    except sqlite3.DatabaseError as error:
        raise InvalidInput(f"{path} is not a database: {error}") from None


def backup(store: Store, folder: Path, keep: int) -> Path:
    """Copy the store's database into `folder`; returns the new backup's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = store.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / backup_name(store.store_id, stamp)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(store.path) as source, sqlite3.connect(partial) as copy:
        source.backup(copy)  # one step: a consistent snapshot, even while the hub writes
    verify(partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(target)
    for old in sorted(folder.glob(backup_name(store.store_id, "[0-9]*T*Z")))[:-keep]:
        old.unlink()
    return target


def nightly_backup(store: Store) -> Path | None:
    """The scheduler's backup: once a night when `[backup] dir` is set; else None."""
    settings = store.settings.backup
    if not settings.dir:
        return None
    day = last_night(store)
    if (store.meta(BACKED_UP_KEY) or "") >= day:
        return None
    made = backup(store, Path(settings.dir), settings.keep)
    with store.write():
        store.set_meta(BACKED_UP_KEY, day)
    return made


def install_database(home: Path, built: Path) -> None:
    """Move a database built or copied aside into the home, whole: the old WAL and shared
    memory go first, so nothing of the old database is read into the new one."""
    for suffix in ("-wal", "-shm"):
        (home / (DB_NAME + suffix)).unlink(missing_ok=True)
    built.replace(home / DB_NAME)


def restore_backup(home: Path, settings: Settings, file: Path) -> dict[str, str]:
    """Make `file` the home's database again. The hub must be stopped (the caller holds the
    home's lock). A store in a chain is rebuilt from HQ instead: its books since the backup
    are there, and a backup would number new events as HQ already has them."""
    if settings.broker.url:
        raise InvalidInput("this store is in a chain: rebuild it from HQ (laoke hub restore "
                           "--from-hq), which has its books up to the last event")
    verify(file)
    aside = home / (DB_NAME + ".restoring")
    aside.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as source, \
            sqlite3.connect(aside) as copy:
        source.backup(copy)
    with Store(aside, settings) as restored:  # the right store, migrated to this version
        restored.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    verify(aside)
    install_database(home, aside)
    for leftover in home.glob(aside.name + "-*"):
        leftover.unlink()
    return {"store_id": settings.store_id, "restored_from": str(file)}
