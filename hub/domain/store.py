"""The store's books: one SQLite database, its settings and a clock.

A `Store` is used from one thread; each thread or process opens its own. Writes go through
`write()`, which takes SQLite's write lock up front (BEGIN IMMEDIATE) so that a balance read
inside it cannot change before the ledger entry that depends on it is written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import __version__
from . import database
from .clock import Clock, system_clock, to_iso
from .config import Settings, overlay
from .errors import ConfigError, SchemaTooNew
from .ids import new_id
from .schema import STEPS, build_migrations, local_day, local_hour, spaced_chars


def dumps(value: Any) -> str:
    """Compact JSON that keeps Chinese readable in the database and on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)



Row = database.Row  # a row as the store reads it: by name or by position


def wrong_store(path: Path, owner: str, asked: str) -> str:
    """The refusal when a home is asked to be a store other than the one it has been."""
    return (f"{path}: this database belongs to store {owner!r}, but store {asked!r} was asked "
            "for (laoke.toml's store_id, $LAOKE_STORE_ID or --store-id). A home with history is "
            f"one store for life: drop the other id to go on as {owner!r}, or give store "
            f"{asked!r} a new --home (a replacement hub: `laoke --home NEW hub restore "
            f"--from-hq --store-id {asked}`)")

class Store:
    """One open connection to a store's database, migrated and configured."""

    def __init__(self, path: Path | str, settings: Settings, clock: Clock = system_clock,
                 steps: tuple[tuple[str, str], ...] = STEPS,
                 check_same_thread: bool = True,
                 write_lock: threading.Lock | None = None, key: bytes | None = None) -> None:
        self.path = Path(path)
        self.key = key  # the home's database key; None for a plain file
        # Shared by the connections of one process: writers queue on it and wake at once,
        # instead of polling SQLite's lock with its busy handler's growing sleeps.
        self.write_lock = write_lock
        self.settings = settings
        self.clock = clock
        conn = database.connect(
            self.path, key, isolation_level=None,
            timeout=settings.storage.busy_timeout_ms / 1000, check_same_thread=check_same_thread,
        )
        conn.row_factory = database.Row
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        try:
            self._configure()
            self._migrate(steps)
        except BaseException:
            conn.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def _configure(self) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {self.settings.storage.busy_timeout_ms}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {self.settings.storage.synchronous.upper()}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        # Erasure must not leave a guest's old name in free pages.
        self.conn.execute("PRAGMA secure_delete = ON")
        # The member search index calls this from its triggers on every write.
        self.conn.create_function("laoke_chars", 1, spaced_chars, deterministic=True)
        # The report rollups' trigger files each order line under the store's local day.
        self.conn.create_function("laoke_day", 1, local_day(self.settings.timezone),
                                  deterministic=True)
        self.conn.create_function("laoke_hour", 1, local_hour(self.settings.timezone),
                                  deterministic=True)

    def _migrate(self, steps: tuple[tuple[str, str], ...]) -> None:
        migrations = build_migrations(steps)
        known = [name for name, _ in steps]
        with self.write():
            applied = [m.name for m in migrations.applied(self.db)]
            unknown = [name for name in applied if name not in known]
            if unknown:
                raise SchemaTooNew(
                    f"{self.path}: the database has schema {unknown[-1]}, newer than this "
                    f"laoke {__version__} knows (up to {known[-1]}); upgrade laoke to open it"
                )
            migrations.apply(self.db)
            chain = self.meta("hq_settings")
            if chain:  # what HQ set for the whole chain, over the file's values
                overlay(self.settings, json.loads(chain))
            owner = self.meta("store_id")
            if owner is None:
                self.set_meta("store_id", self.settings.store_id)
            elif owner != self.settings.store_id:
                raise ConfigError(wrong_store(self.path, owner, self.settings.store_id))

    def has_history(self) -> bool:
        """Whether this store has ever written anything for HQ: from then on its id is for life,
        because every event, id and ledger entry already carries it."""
        return bool(self.scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox' AND seq > 0) "
            "OR EXISTS (SELECT 1 FROM members)"))

    def adopt_store_id(self, store_id: str) -> None:
        """Make a store with no history another store's, as `hub run --store-id` does to a
        home a first command created with a generated id."""
        if self.has_history():
            raise ConfigError(wrong_store(self.path, self.store_id, store_id))
        with self.write():
            self.set_meta("store_id", store_id)
        self.settings.store_id = store_id

    def schema_version(self) -> str:
        applied = build_migrations().applied(self.db)
        return applied[-1].name if applied else ""

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- basics ------------------------------------------------------------------------------

    @property
    def store_id(self) -> str:
        return self.settings.store_id

    def now(self) -> datetime:
        return self.clock()

    def now_iso(self) -> str:
        return to_iso(self.clock())

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM hub_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO hub_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row | None:
        row: Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def totals(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row:
        """The one row an aggregate query (COUNT, SUM, ... with no GROUP BY) always gives."""
        row = self.one(sql, params)
        if row is None:
            raise RuntimeError(f"an aggregate query gave no row: {sql}")
        return row

    def scalar(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Store]:
        """One atomic change; nested calls become savepoints of the outer one."""
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        with self.write_lock or nullcontext():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def emit(self, type_: str, data: dict[str, Any]) -> int:
        """Queue an event for HQ inside the current change; returns its per-store seq."""
        if not self.conn.in_transaction:
            raise RuntimeError("outbox events are written only inside Store.write()")
        cursor = self.conn.execute(
            "INSERT INTO outbox (id, store_id, type, ts, data) VALUES (?, ?, ?, ?, ?)",
            (new_id(), self.store_id, type_, self.now_iso(), dumps(data)),
        )
        return int(cursor.lastrowid or 0)

    def audit(self, actor: str, action: str, subject: str | None = None,
              detail: dict[str, Any] | None = None) -> None:
        """Record a sensitive read or action; inside a change it commits with it."""
        self.conn.execute(
            "INSERT INTO audit_log (id, at, actor, action, subject, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), self.now_iso(), actor, action, subject, dumps(detail or {})),
        )
