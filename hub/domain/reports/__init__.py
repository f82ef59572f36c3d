"""The owner's reports over any date range: what sells, when guests come, who comes back.

Each report is a query over a `Period` of the store's local days (`period.py`), named in
`hub/domain/report_names.py` so the command line and the console can offer them without
loading any query. Each query answers a named shape (`sales.Dishes`, `guests.Lapsed`, ...);
`Report` is what every edge shows: the name and days, then the figures of that one report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, NotRequired, TypedDict

from ..errors import InvalidInput
from ..report_names import REPORT_NAMES
from ..store import Store
from . import baskets, boxes, churn, commission, forecast, guests, returns, sales, traffic
from .period import Days, Period, parse_range

Answer = (sales.Dishes | sales.Pairings | sales.Staff | sales.Channels | sales.Summary
          | sales.Coupons | guests.Hours | guests.Repurchase | guests.RepurchaseYoy
          | guests.Cohorts | guests.Rfm | guests.ChannelShift | guests.GuestChannels
          | guests.Lapsed | guests.Birthdays | forecast.Forecast | commission.Commission
          | traffic.DishMix | traffic.PartySizes | traffic.Occupancy
          | baskets.OrderedWithout | returns.CampaignRoi | churn.Churn | boxes.Boxes)
Query = Callable[[Store, Period], Answer]


class Report(TypedDict):
    """A report's name and days, then its answer's keys: only the asked report's are there.
    mypy holds every answer to these keys (`report` unpacks each into a Report)."""

    report: str
    period: Days
    dishes: NotRequired[list[sales.DishSales]]
    orders: NotRequired[int]
    pairs: NotRequired[list[sales.Pairing]]
    staff: NotRequired[list[sales.StaffFigures] | list[commission.Statement]]
    channels: NotRequired[list[sales.ChannelFigures]]
    revenue_fen: NotRequired[int]
    average_ticket_fen: NotRequired[int]
    stored_value_float_fen: NotRequired[int]
    points_liability: NotRequired[int]
    points_liability_fen: NotRequired[int]
    coupons_issued: NotRequired[int]
    coupons_redeemed: NotRequired[int]
    templates: NotRequired[list[sales.TemplateUse]]
    weekdays: NotRequired[list[str]]
    covers: NotRequired[list[list[int]]]
    months: NotRequired[list[guests.MonthReturn]]
    cohorts: NotRequired[list[guests.Cohort]]
    members: NotRequired[int]
    groups: NotRequired[dict[str, int]]
    count: NotRequired[int]
    bands: NotRequired[dict[str, int]]
    guests: NotRequired[list[guests.GuestRow]]
    tomorrow: NotRequired[forecast.ForecastDay]
    next_week: NotRequired[list[forecast.ForecastDay]]
    backtest: NotRequired[forecast.Backtest]
    weather: NotRequired[forecast.WeatherUse]
    season: NotRequired[forecast.SeasonUse]
    rules: NotRequired[dict[str, Any]]
    books: NotRequired[dict[str, int]]
    total_fen: NotRequired[int]
    churn: NotRequired[list[churn.ChurnMonth]]
    reasons: NotRequired[dict[str, int]]
    boxes: NotRequired[int]
    takings_fen: NotRequired[int]
    prizes: NotRequired[list[boxes.PrizeCount]]
    category: NotRequired[str | None]
    dayparts: NotRequired[list[str]]
    qty: NotRequired[list[list[int]]]
    mix: NotRequired[list[traffic.DishCell]]
    average_party: NotRequired[list[list[float]]]
    sizes: NotRequired[list[traffic.PartyCell]]
    seats: NotRequired[int]
    occupancy: NotRequired[list[list[float]]]
    by_daypart: NotRequired[list[traffic.DaypartOccupancy]]
    visits: NotRequired[int]
    stays_estimated: NotRequired[int]
    compared: NotRequired[list[guests.MonthOnYear]]
    this_year: NotRequired[guests.MonthReturn]
    last_year: NotRequired[guests.MonthReturn]
    change_pct: NotRequired[float | None]
    gaps: NotRequired[list[baskets.Gap]]
    cost_per_message_fen: NotRequired[int]
    campaigns: NotRequired[list[returns.CampaignReturn]]
    earlier: NotRequired[Days]
    moved: NotRequired[list[guests.MovedGuest]]
    mixes: NotRequired[dict[str, int]]
    by_guest: NotRequired[list[guests.GuestMix]]


_QUERIES: dict[str, Query] = {query.__name__: query for query in (
    sales.dishes, sales.pairings, sales.staff, sales.channels, sales.summary, sales.coupons,
    guests.hours, guests.repurchase, guests.repurchase_yoy, guests.cohorts, guests.rfm,
    guests.lapsed, guests.birthdays, forecast.forecast, commission.commission, traffic.dish_mix,
    traffic.party_sizes, traffic.occupancy, baskets.ordered_without,
    returns.campaign_roi, churn.churn, boxes.boxes, guests.channel_shift,
    guests.guest_channels)}
# Reports that one menu category narrows (`category`): the mix of one, the gaps after one.
BY_CATEGORY: dict[str, Callable[[Store, Period, str], Answer]] = {
    "dish_mix": traffic.dish_mix, "ordered_without": baskets.ordered_without}
# In the names' order; a name with no query fails here, at import, not when it is asked for.
REPORTS: dict[str, Query] = {name: _QUERIES[name] for name in REPORT_NAMES}

__all__ = ["REPORTS", "Answer", "Period", "Report", "parse_range", "report"]


def report(store: Store, name: str, start: date | None = None, end: date | None = None,
           weather: float | None = None, category: str | None = None) -> Report:
    """`category` narrows the reports of BY_CATEGORY to one menu category; the others
    refuse it."""
    if name not in REPORTS:
        raise InvalidInput(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
    period = Period(store, start, end)
    if category is not None:
        if name not in BY_CATEGORY:
            raise InvalidInput(f"a category goes with the {' and '.join(BY_CATEGORY)} "
                               "reports only")
        return {"report": name, "period": period.json(),
                **BY_CATEGORY[name](store, period, category)}
    if weather is None:
        return {"report": name, "period": period.json(), **REPORTS[name](store, period)}
    if name != "forecast":
        raise InvalidInput("weather goes with the forecast only")
    if not 0.1 <= weather <= 3:
        raise InvalidInput("weather is a factor between 0.1 and 3 (0.85: rain ahead)")
    return {"report": name, "period": period.json(), **forecast.forecast(store, period, weather)}

