"""Why guests stopped coming, from the calls that asked them: reasons counted by month."""

from __future__ import annotations

from typing import TypedDict

from ..calls import REASONS
from ..store import Store
from .period import Period


class ChurnMonth(TypedDict):
    month: str  # YYYY-MM, the store's local month
    calls: int
    reasons: dict[str, int]  # every reason, zero included


class Churn(TypedDict):
    churn: list[ChurnMonth]
    reasons: dict[str, int]


def churn(store: Store, period: Period) -> Churn:
    """Every call logged in the period, by its local month and reason (a guest called twice
    counts twice: each call says what was heard then)."""
    months: dict[str, ChurnMonth] = {}
    totals = dict.fromkeys(REASONS, 0)
    for month, reason, count in store.conn.execute(
            "SELECT strftime('%Y-%m', called_at, ?) AS month, reason, COUNT(*) FROM calls "
            "WHERE called_at >= ? AND called_at < ? GROUP BY month, reason ORDER BY month",
            (period.shift, period.lo, period.hi)):
        row = months.setdefault(month, ChurnMonth(month=month, calls=0,
                                                  reasons=dict.fromkeys(REASONS, 0)))
        row["calls"] += count
        row["reasons"][reason] = count
        totals[reason] += count
    return {"churn": list(months.values()), "reasons": totals}
