"""Ids that stay unique across every store of a chain and sort by creation time."""

from __future__ import annotations

import uuid6

# HQ's own changes (chain-wide campaigns and templates) carry this as their store: no store
# can have it, since store ids start with a letter or digit.
HQ_ORIGIN = "~hq"


def new_id() -> str:
    """A UUIDv7: time-ordered (good B-tree locality in SQLite) and random enough to never clash."""
    return str(uuid6.uuid7())
