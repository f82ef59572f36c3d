"""Copies of a store's database: backups to a folder (a USB stick), a home restored from
one, and a plain home encrypted.

A store with no HQ has nothing else to rebuild from. The copy is SQLite's online backup,
so the hub keeps serving while it is made; it is written aside, checked with
`integrity_check`, flushed to the disk and only then given its name, so a file named like a
backup is always a whole, sound database. The newest `keep` backups stay; older ones go.
A backup is encrypted with the home's key, and the key never goes with it: a lost stick
gives nothing away, and restoring it on another hub needs the key kept apart (`--key-file`).
"""

from __future__ import annotations

import os
from contextlib import closing
from datetime import UTC
from pathlib import Path
from typing import Any

from .domain import database
from .domain.config import Settings
from .domain.errors import InvalidInput
from .domain.nightly import last_night
from .domain.store import Store
from .home import DB_NAME, KEY_NAME, home_key, make_key

BACKED_UP_KEY = "backup_day"  # hub_meta: the last store-local night backed up


def backup_name(store_id: str, stamp: str) -> str:
    return f"laoke-{store_id}-{stamp}.db"


def verify(path: Path, key: bytes | None) -> None:
    """A sound SQLite database of laoke's under `key`, or InvalidInput saying what is
    wrong (database.KeyRefused when the key is not this file's)."""
    try:
        with closing(database.connect(path, key, readonly=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
            if [tuple(r) for r in result] != [("ok",)]:
                raise InvalidInput(f"{path} is damaged: {result[0][0]}")
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'hub_meta'"
                            ).fetchone() is None:
                raise InvalidInput(f"{path} is not a laoke database")
    except database.DatabaseError as error:
        raise InvalidInput(f"{path} is not a database: {error}") from None


def backup(store: Store, folder: Path, keep: int) -> Path:
    """Copy the store's database into `folder`; returns the new backup's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = store.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / backup_name(store.store_id, stamp)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with closing(database.connect(store.path, store.key)) as source, \
            closing(database.connect(partial, store.key)) as copy:
        source.backup(copy)  # one step: a consistent snapshot, even while the hub writes
        copy.execute("PRAGMA journal_mode = DELETE")  # one file: no -wal or -shm beside it
    verify(partial, store.key)
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


def restore_backup(home: Path, settings: Settings, file: Path,
                   backup_key: bytes | None = None) -> dict[str, str]:
    """Make `file` the home's database again, encrypted with the home's key (a new home's
    new one). `backup_key` is the key the backup was made with, when it is not this home's
    (the old hub's key, kept apart); a plain backup (from before encryption) needs none.
    The hub must be stopped (the caller holds the home's lock). A store in a chain is
    rebuilt from HQ instead: its books since the backup are there, and a backup would number
    new events as HQ already has them."""
    if settings.broker.url:
        raise InvalidInput("this store is in a chain: rebuild it from HQ (laoke hub restore "
                           "--from-hq), which has its books up to the last event")
    key = home_key(home)
    # A backup from before encryption is plain; any other opens with its hub's key.
    source_key = None if database.is_plain(file) else backup_key or key
    try:
        verify(file, source_key)
    except database.KeyRefused as refused:
        if backup_key is not None:
            raise
        raise database.KeyRefused(f"{refused.message}; a backup made on another hub opens "
                                  "with that hub's key: --key-file ITS_laoke.key") from None
    aside = _aside(home, ".restoring")
    database.export(file, source_key, aside, key)
    with Store(aside, settings, key=key) as restored:  # the right store, migrated
        restored.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    verify(aside, key)
    _move_in(home, aside)
    return {"store_id": settings.store_id, "restored_from": str(file)}


def encrypt_home(home: Path, settings: Settings) -> dict[str, Any]:
    """Encrypt a home's plain database (one from before encryption) with a new key: the key
    is on the disk first, the database is copied aside encrypted, checked table by table
    against the plain one, and moved in whole. A run cut short leaves the plain database in
    place and the key kept, and running it again finishes it. The hub must be stopped."""
    plain = home / DB_NAME
    key_file = home / KEY_NAME
    if not database.is_plain(plain):
        if key_file.exists():
            raise InvalidInput(f"{plain} is encrypted already (its key: {key_file})")
        raise InvalidInput(f"{plain} is not a plain laoke database")
    key = make_key(key_file)  # on the disk before any byte is encrypted with it
    with Store(plain, settings, key=None) as store:  # migrated, its WAL folded in
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = _contents(store.conn)
    aside = _aside(home, ".encrypting")
    database.export(plain, None, aside, key)
    verify(aside, key)
    with closing(database.connect(aside, key, readonly=True)) as copy:
        after = _contents(copy)
    if after != before:
        aside.unlink()
        raise InvalidInput(f"the encrypted copy of {plain} does not match it; nothing changed")
    _move_in(home, aside)
    tables = {name: count for name, count in before.items() if ":" not in name}
    return {"database": str(plain), "key_file": str(key_file), "tables": len(tables),
            "rows": sum(tables.values())}


def _contents(conn: database.Connection) -> dict[str, int]:
    """Each table's row count and each AUTOINCREMENT's last value: what an encrypted copy
    must have the same of."""
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]
    found = {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
             for name in names}
    for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence"):
        found["sqlite_sequence:" + name] = int(seq)
    return found


def _aside(home: Path, suffix: str) -> Path:
    """A fresh file in the home to build a database in, with nothing of a run cut short."""
    aside = home / (DB_NAME + suffix)
    for leftover in home.glob(aside.name + "*"):
        leftover.unlink()
    return aside


def _move_in(home: Path, aside: Path) -> None:
    install_database(home, aside)
    for leftover in home.glob(aside.name + "-*"):
        leftover.unlink()
