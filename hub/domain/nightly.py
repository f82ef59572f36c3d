"""Closing the books for the day: points that ran out expire, tiers follow the rolling window.

The night of a store-local day ends at `CLOSE_HOUR` the next morning (restaurants close
late); the hub's scheduler closes that day's books once, at the first tick after. A hub that
was off for nights closes the books once when it comes back: expiry and the window are
computed from now, so one run catches up on every missed night. The run and the record of
the day it closed are one transaction, so a crash never closes a day twice.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from .ledgers import expire_points
from .store import Store
from .tiers import refresh_all_tiers

CLOSE_HOUR = 4  # store-local: after the last table, before the first breakfast
CLOSED_KEY = "books_closed_day"  # hub_meta: the last store-local day whose books closed


def last_night(store: Store) -> str:
    """The store-local day whose night ended last (yesterday from CLOSE_HOUR on)."""
    local = store.now().astimezone(ZoneInfo(store.settings.timezone))
    return ((local - timedelta(hours=CLOSE_HOUR)).date() - timedelta(days=1)).isoformat()


def close_books(store: Store) -> dict[str, int | str] | None:
    """Close the books of the last night if nobody has; what it did, or None."""
    day = last_night(store)
    if (store.meta(CLOSED_KEY) or "") >= day:
        return None  # the common case, every tick: no write lock taken
    with store.write():
        if (store.meta(CLOSED_KEY) or "") >= day:
            return None
        expired = expire_points(store)
        moved = refresh_all_tiers(store)
        store.set_meta(CLOSED_KEY, day)
    return {"day": day, "points_expired": expired, "tiers_changed": moved}
