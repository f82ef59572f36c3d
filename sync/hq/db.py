"""HQ's database on either engine: SQLite, one file in the HQ home (a small chain's default),
or PostgreSQL (a large chain's, shared by several HQ workers). The book speaks one SQL to
both; the few places the engines differ are said here and nowhere else: placeholders, the
column types of the schema, a writer's exclusive transaction, reading a JSON field, and the
errors an event that cannot apply raises.

`sqlite:///PATH` (PATH relative, or absolute with a fourth slash) and `postgresql://...` (a
libpq URL: the password is best left to `PGPASSWORD` or `~/.pgpass`) name a database."""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hub.domain.replica import UNAPPLIABLE

SQLITE, POSTGRES = "sqlite", "postgresql"
# Every HQ writer on one PostgreSQL database takes this transaction lock, as SQLite's
# BEGIN IMMEDIATE does: HQ's feed is numbered in commit order, so a store reading it never
# passes a position another writer has yet to commit.
WRITER_LOCK = 0x6C616F6B  # "laok"


def parse_url(url: str | Path) -> tuple[str, str]:
    """(engine, target): the file of a SQLite URL or path, or the PostgreSQL URL itself."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        return POSTGRES, text
    if text.startswith("sqlite://"):
        path = text.removeprefix("sqlite://")
        if not path.startswith("/") or len(path) == 1:
            raise ValueError(f"{text!r}: a SQLite URL is sqlite:///PATH")
        return SQLITE, path[1:]
    if "://" in text:
        raise ValueError(f"{text!r}: HQ's database is sqlite:///PATH or postgresql://...")
    return SQLITE, text


def without_password(url: str) -> str:
    """A URL fit to keep in a file or a log line: libpq finds the password itself."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


class HqDb(ABC):
    """A connection to HQ's database: `execute` and `executemany` with `?` placeholders,
    rows readable by index and by name, autocommit outside `begin()`...`commit()`."""

    engine = SQLITE
    unappliable: tuple[type[BaseException], ...] = (*UNAPPLIABLE, sqlite3.IntegrityError)

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """A cursor over the statement's rows."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement over many rows, in one round trip where the engine can."""

    @abstractmethod
    def begin(self) -> None:
        """A write transaction no other writer of this database runs beside."""

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    @abstractmethod
    def close(self) -> None:
        """Let go of the connection."""

    @abstractmethod
    def script(self, ddl: str) -> None:
        """Run the schema's statements, in this engine's column types."""

    @abstractmethod
    def add_column(self, table: str, column: str, kind: str) -> None:
        """A column a later version added, on a database from before it."""

    @abstractmethod
    def json_text(self, column: str, key: str) -> str:
        """SQL for the text of a top-level field of a JSON column."""

    @abstractmethod
    def contains(self, column: str) -> str:
        """SQL that holds when a BLOB column holds the text of the one parameter."""


class SqliteDb(HqDb):
    def __init__(self, path: str | Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        self.conn.close()

    def script(self, ddl: str) -> None:
        self.conn.executescript(ddl)

    def add_column(self, table: str, column: str, kind: str) -> None:
        if column not in {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def contains(self, column: str) -> str:
        return f"instr(CAST({column} AS TEXT), ?) > 0"


class Row(tuple[Any, ...]):
    """A PostgreSQL row as sqlite3.Row reads: by index, by column name, `dict(row)`."""

    names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self.names[key] if isinstance(key, str) else key)

    def keys(self) -> Iterator[str]:
        return iter(self.names)


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """`?` as psycopg's `%s` (no statement of HQ's has a `?` inside a literal)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDb(HqDb):
    engine = POSTGRES

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.types.numeric import NumericLoader

        class Whole(NumericLoader):
            """SUM over BIGINT is NUMERIC in PostgreSQL: HQ's amounts are whole fen and
            points, so a whole number reads as an int, as it does from SQLite."""

            def load(self, data: Any) -> Any:
                value = super().load(data)
                return int(value) if isinstance(value, Decimal) and \
                    value == value.to_integral_value() else value

        def rows(cursor: Any) -> Any:
            names = {c.name: n for n, c in enumerate(cursor.description or ())}
            return lambda values: Row(values, names)

        self.errors = psycopg.errors
        self.unappliable = (*UNAPPLIABLE, psycopg.errors.IntegrityError,
                            psycopg.errors.DataError)
        try:
            self.conn = psycopg.connect(url, autocommit=True, row_factory=rows)
        except psycopg.OperationalError as error:  # said once, plainly, by every edge
            said = " ".join(str(error).split())  # one line, as every error of laoke's
            raise ConnectionError(f"HQ's database {without_password(url)}: {said}") from None
        self.conn.adapters.register_loader("numeric", Whole)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not params:
            return self.conn.execute(sql.encode())  # no parameters: sent as written
        return self.conn.execute(_placeholders(sql).encode(), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            with self.conn.cursor() as cursor:
                cursor.executemany(_placeholders(sql).encode(), batch)

    def begin(self) -> None:
        self.conn.execute(b"BEGIN")
        self.conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))

    def close(self) -> None:
        self.conn.close()

    def script(self, ddl: str) -> None:
        ddl = ddl.replace("INTEGER PRIMARY KEY AUTOINCREMENT",
                          "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        ddl = re.sub(r"\bINTEGER\b", "BIGINT", ddl)  # fen, seqs and feed positions: 64 bits
        ddl = re.sub(r"\bBLOB\b", "BYTEA", ddl)
        self.begin()  # two HQ processes starting at once create the tables once
        try:
            self.conn.execute(ddl.encode())
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def add_column(self, table: str, column: str, kind: str) -> None:
        kind = {"INTEGER": "BIGINT", "BLOB": "BYTEA"}.get(kind, kind)
        self.conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
                          .encode())

    def json_text(self, column: str, key: str) -> str:
        return f"({column}::jsonb ->> '{key}')"

    def contains(self, column: str) -> str:
        return f"position(convert_to(?, 'UTF8') in {column}) > 0"


def open_db(url: str | Path) -> HqDb:
    engine, target = parse_url(url)
    if engine == POSTGRES:
        return PostgresDb(target)
    return SqliteDb(target)
