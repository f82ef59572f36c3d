"""A home's database read behind the hub's back, as a test checks its rows: with the home's
key, since homes are encrypted (the standard sqlite3 module cannot open them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.domain import database
from hub.home import DB_NAME, home_key


@contextmanager
def read_db(path: Path, key: bytes | None) -> Iterator[database.Connection]:
    """A read-only connection to one database file (a home's, a backup), closed after."""
    conn = database.connect(path, key, readonly=True)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def home_db(home: Path) -> Iterator[database.Connection]:
    """The home's own database, read-only, with the home's key."""
    with read_db(home / DB_NAME, home_key(home)) as conn:
        yield conn
