"""The home directory: database, settings and print spool of one store (or of HQ)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import platformdirs

from .domain import database
from .domain.clock import Clock, system_clock
from .domain.config import (
    CONFIG_NAME,
    ENV_PREFIX,
    checked_store_id,
    load_settings,
    new_settings,
    write_settings,
)
from .domain.errors import ConfigError
from .domain.store import Store

DB_NAME = "laoke.db"
KEY_NAME = "laoke.key"  # the database's key: apart from the data, the owner's alone (0600)
VIRTUAL_SPOOL = "virtual-printer"  # where the built-in virtual printer keeps its slips


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """--home, else $LAOKE_HOME, else the platform's per-user data dir."""
    if home:
        return Path(home).expanduser()
    if os.environ.get("LAOKE_HOME"):
        return Path(os.environ["LAOKE_HOME"]).expanduser()
    return Path(platformdirs.user_data_dir("laoke", appauthor=False))


def resolve_demo_home(home: str | os.PathLike[str] | None) -> Path:
    """The demo's home: the one given, else its own folder, never a real store's default."""
    if home or os.environ.get("LAOKE_HOME"):
        return resolve_home(home)
    return Path(platformdirs.user_data_dir("laoke-demo", appauthor=False))


def keep_private(home: Path) -> None:
    """The home is its owner's alone (0700), and so is the database (0600): a new one is made
    0600 before SQLite opens it, and its -wal and -shm files take the same mode from it."""
    home.chmod(0o700)
    database = home / DB_NAME
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in home.glob(DB_NAME + "*"):
        path.chmod(0o600)


def write_key(path: Path, key: bytes) -> None:
    """A key file, 0600 from its first byte and on the disk before it has its name, and
    never over another: a key lost after its database was encrypted with it loses the books,
    so of two processes making a new home at once, the second finds the first one's key
    (FileExistsError) instead of replacing it."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                       "w") as out:
            out.write(key.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the key's name too is on the disk before anything uses it
    finally:
        os.close(folder)


def read_key(path: Path) -> bytes:
    """The key in a key file (this home's, or one kept with a backup), or why it is none."""
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a database key ({error})") from None
    if len(key) != database.KEY_BYTES:
        raise ConfigError(f"{path}: a database key is {2 * database.KEY_BYTES} hex digits")
    return key


def home_key(home: Path) -> bytes | None:
    """The key of the home's database. A home whose database holds nothing yet gets a new
    one, so every new home is encrypted; a home with a plain database from before has none
    until `laoke hub encrypt`."""
    path = home / KEY_NAME
    if path.exists():
        return read_key(path)
    database_file = home / DB_NAME
    if database_file.exists() and database_file.stat().st_size > 0:
        return None
    home.mkdir(parents=True, exist_ok=True)
    return make_key(path)


def make_key(path: Path) -> bytes:
    """A new random key at `path`, or the one already there."""
    with suppress(FileExistsError):  # another process made the key first: it is the one
        write_key(path, secrets.token_bytes(database.KEY_BYTES))
    return read_key(path)


def ensure_home(home: Path, store_id: str | None = None,
                environ: Mapping[str, str] | None = None) -> None:
    """Create a home the first time it is used, as the store that was asked for.

    The store id asked for (the flag, else $LAOKE_STORE_ID) is written into a new home's file,
    so the next command without it opens the same store. A home that has no history yet takes
    the id it is asked for; one with history refuses another (Store.adopt_store_id).
    """
    environ = os.environ if environ is None else environ
    wanted = store_id or environ.get(ENV_PREFIX + "STORE_ID") or None
    if wanted is not None:
        checked_store_id(wanted, "--store-id" if store_id else ENV_PREFIX + "STORE_ID")
    home.mkdir(parents=True, exist_ok=True)
    keep_private(home)
    if not (home / CONFIG_NAME).exists():
        write_settings(home, new_settings(wanted))
        return
    if wanted is None:
        return
    settings = load_settings(home, environ={})  # the file's own values
    if settings.store_id == wanted:
        return
    if (home / DB_NAME).exists():
        with Store(home / DB_NAME, settings, key=home_key(home)) as store:
            store.adopt_store_id(wanted)
    settings.store_id = wanted
    write_settings(home, settings)


def open_store(home: Path, clock: Clock = system_clock) -> Store:
    """Open (creating and migrating on first use) the store whose home this is."""
    ensure_home(home)
    return Store(home / DB_NAME, load_settings(home), clock, key=home_key(home))
