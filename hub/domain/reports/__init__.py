"""The owner's reports over any date range: what sells, when guests come, who comes back.

Each report is a query over a `Period` of the store's local days (`period.py`), named in
`hub/domain/report_names.py` so the command line and the console can offer them without
loading any query.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from ..errors import InvalidInput
from ..report_names import REPORT_NAMES
from ..store import Store
from . import commission, forecast, guests, sales
from .period import Period, parse_range

Query = Callable[[Store, Period], dict[str, Any]]

_QUERIES: dict[str, Query] = {query.__name__: query for query in (
    sales.dishes, sales.pairings, sales.staff, sales.channels, sales.summary, sales.coupons,
    guests.hours, guests.repurchase, guests.cohorts, guests.rfm, guests.lapsed,
    guests.birthdays, forecast.forecast, commission.commission)}
# In the names' order; a name with no query fails here, at import, not when it is asked for.
REPORTS: dict[str, Query] = {name: _QUERIES[name] for name in REPORT_NAMES}

__all__ = ["REPORTS", "Period", "parse_range", "report"]


def report(store: Store, name: str, start: date | None = None, end: date | None = None,
           weather: float | None = None) -> dict[str, Any]:
    if name not in REPORTS:
        raise InvalidInput(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
    period = Period(store, start, end)
    if weather is None:
        return {"report": name, "period": period.json(), **REPORTS[name](store, period)}
    if name != "forecast":
        raise InvalidInput("weather goes with the forecast only")
    if not 0.1 <= weather <= 3:
        raise InvalidInput("weather is a factor between 0.1 and 3 (0.85: rain ahead)")
    return {"report": name, "period": period.json(), **forecast.forecast(store, period, weather)}

