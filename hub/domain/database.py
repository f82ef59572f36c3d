"""The one way laoke opens a store's database file: SQLCipher, with the home's key or none.

A home's database is encrypted at rest (AES-256 pages with an HMAC each, SQLCipher 4's
defaults), so a copied SD card or a lost backup stick gives away no guest. The key is 32
random bytes kept in a file apart from the data (`hub/home.py`), handed to SQLCipher raw:
it is not a passphrase, so no key derivation runs and opening a connection costs what it
costs for plain SQLite. Without a key the same library opens plain SQLite files, which is
what a home made before encryption, and a test's scratch store, have.

`sqlcipher3` is the standard `sqlite3` module's source built against SQLCipher, without
type information; its classes are typed here as the standard module's, which they mirror
call for call. Its errors are its own classes, so everything that catches a database error
catches these.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlcipher3 import dbapi2

from .errors import ConfigError

if TYPE_CHECKING:
    from sqlite3 import (
        Connection,
        DatabaseError,
        Error,
        IntegrityError,
        OperationalError,
        ProgrammingError,
        Row,
    )
else:
    from sqlcipher3.dbapi2 import (
        Connection,
        DatabaseError,
        Error,
        IntegrityError,
        OperationalError,
        ProgrammingError,
        Row,
    )

__all__ = ["Connection", "DatabaseError", "Error", "IntegrityError", "KeyRefused",
           "OperationalError", "ProgrammingError", "Row", "connect", "export", "is_plain"]

KEY_BYTES = 32
PLAIN_HEADER = b"SQLite format 3\x00"  # a plain SQLite file starts so; an encrypted one never


class KeyRefused(ConfigError):
    """The database does not open with the key it was given (or with none)."""

    code = "database_key_refused"


def is_plain(path: Path) -> bool:
    """Whether the file is an unencrypted SQLite database (an empty or missing file is not)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(PLAIN_HEADER)) == PLAIN_HEADER
    except FileNotFoundError:
        return False


def key_pragma(key: bytes) -> str:
    """The key as SQLCipher takes a raw 256-bit key: no passphrase, no derivation."""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"a database key is {KEY_BYTES} bytes, not {len(key)}")
    return f"\"x'{key.hex()}'\""


def connect(path: Path | str, key: bytes | None, *, readonly: bool = False,
            **options: Any) -> Connection:
    """Open `path` with `key` (None: a plain file) and prove the key right before returning,
    so a wrong or missing key is one clear error here, not a confusing one mid-transaction."""
    target = f"file:{path}?mode=ro" if readonly else str(path)
    conn: Connection = dbapi2.connect(target, uri=readonly, **options)
    try:
        # SQLCipher prints every refused page to stderr; the refusal below says it once.
        conn.execute("PRAGMA cipher_log_level = NONE")
        if key is not None:
            conn.execute(f"PRAGMA key = {key_pragma(key)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except DatabaseError as error:
        conn.close()
        if "not a database" not in str(error):
            raise
        raise KeyRefused(refusal(Path(path), key)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def refusal(path: Path, key: bytes | None) -> str:
    """Why a database did not open, and what to do about it."""
    if key is None:
        return (f"{path} is encrypted and no key was given: the home's key file (laoke.key) "
                "is missing, or give the key the backup was made with (--key-file)")
    if is_plain(path):
        return (f"{path} is not encrypted but the home has a key: finish moving it in with "
                "`laoke hub encrypt`")
    return f"{path} does not open with this key (a key from another home, or a damaged file)"


def export(source: Path, source_key: bytes | None, target: Path, key: bytes | None) -> None:
    """Copy every table, index, trigger and row of `source` into a new file at `target`,
    encrypted with `key` (None: plain). Unlike SQLite's backup, this crosses between plain
    and encrypted files; the source must not change meanwhile (the hub is stopped)."""
    conn = connect(target, key, isolation_level=None)
    try:
        secret = key_pragma(source_key) if source_key is not None else "''"  # '': plain
        conn.execute(f"ATTACH DATABASE ? AS source KEY {secret}", (str(source),))
        try:
            conn.execute("SELECT count(*) FROM source.sqlite_master").fetchone()
        except DatabaseError as error:
            if "not a database" not in str(error):
                raise
            raise KeyRefused(refusal(source, source_key)) from None
        conn.execute("SELECT sqlcipher_export('main', 'source')").fetchone()
        conn.execute("DETACH DATABASE source")
    finally:
        conn.close()
