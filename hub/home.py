"""The home directory: database, settings and print spool of one store (or of HQ)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .domain.clock import Clock, system_clock
from .domain.config import CONFIG_NAME, load_settings, new_settings, write_settings
from .domain.store import Store

DB_NAME = "laoke.db"
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


def ensure_home(home: Path, store_id: str | None = None) -> None:
    """Create a home with fresh settings the first time it is used."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / CONFIG_NAME).exists():
        write_settings(home, new_settings(store_id))


def open_store(home: Path, clock: Clock = system_clock) -> Store:
    """Open (creating and migrating on first use) the store whose home this is."""
    ensure_home(home)
    return Store(home / DB_NAME, load_settings(home), clock)
