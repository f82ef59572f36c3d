"""How many guests tomorrow and next week, per day and per hour, and what to prepare.

A day's forecast is a weighted average of the same weekday over the last four weeks (recent
weeks weigh more, Chinese public holidays are left out of the base), times the store's own
holiday lift when the day is a holiday. The backtest replays the last weeks, forecasting each
day only from what came before it, next to the naive "same weekday last week".

What to prepare counts every channel the kitchen cooks for (History): the dishes eaten in per
cover, times the covers; the dishes taken away or delivered per such order, times those
orders, which have a weekday model of their own.

With weather cached in the home (hub.domain.weather), the store's own response to it is
learnt from its history: how far a day's covers (and each dish's share of them) strayed from
the weekday forecast, against how much warmer and wetter that day was than the days the
forecast was built from. An effect is used only where the history shows it clearly (|t| of
at least `T_MIN`), so a store whose guests do not care about the weather keeps exactly the
forecast it had; without weather the forecast says so and is that model. The backtest then
reads the observed weather of each day (a perfect weather forecast: the figure is the
model's, not the weather service's).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypedDict

import holidays

from ..store import Store
from ..weather import DayWeather, load
from .period import Period

WEIGHTS = (4, 3, 2, 1)  # last week first
DEFAULT_HOLIDAY_LIFT = 1.3
T_MIN = 3.0  # how clear an effect must be in the history before the forecast uses it
MIN_FIT_DAYS = 40
WET_MM = 10.0  # a day this wet or wetter counts as fully wet
# Last year's season: the level of the three weeks around the same weekday 52 weeks before
# (holidays left out: they have their own lift, and the lunar ones move), against the same of
# the days a forecast is built from. It is used only where it beat the plain model, by at
# least SEASON_T standard errors, on the SEASON_CHECK_DAYS before the forecast.
YEAR = timedelta(weeks=52)
SEASON_SPAN = 10  # days either side of the day last year
SEASON_CHECK_DAYS = 91
SEASON_MIN_DAYS = 28
SEASON_T = 2.0
SHARE_DAYS = 28  # the days each dish's quantity per cover (and per order away) is read from
# The days of covers the history reads: a year back from the oldest day the season term is
# tried on (the held-out days before the backtest's), with its three weeks around.
HISTORY_DAYS = 7 * 52 + SEASON_SPAN + SEASON_CHECK_DAYS + 28 + 7
# An order counts where it stands: a platform's order it cancelled or refunded does not
# (the order stays in the books, marked on `delivery_orders`).
STANDS = "COALESCE(d.state, 'placed') = 'placed'"


class Prepare(TypedDict):
    dish: str
    qty: int


class ForecastDay(TypedDict):
    date: str
    weekday: str
    holiday: str | None  # the holiday's name
    temperature_c: float | None  # the day's mean, as forecast; None without weather
    precipitation_mm: float | None
    covers: int
    hours: dict[int, float]  # covers by hour of day, the hours the store has had guests
    prepare: list[Prepare]


class Backtest(TypedDict):
    days: int
    mape: float  # the forecast as it runs (with weather when the store has it)
    mape_without_weather: float
    mape_with_season: float  # last year's season always used (where a year exists) ...
    mape_without_season: float  # ... and never: `mape` is one of them, as it was decided
    naive_mape: float  # "same weekday last week", the forecast to beat


class Response(TypedDict):
    """Per degree warmer and for a fully wet day, in percent; 0 where none was found."""

    temperature_pct_per_c: float
    wet_day_pct: float


class DishResponse(Response):
    dish: str


class WeatherUse(TypedDict):
    used: bool
    # used, no_weather (no source configured or none reached yet), no_weather_ahead,
    # too_little_history, no_effect_found (the forecast is the weekday model)
    status: str
    days: int  # days of history with weather the effects were learnt from
    covers: Response
    dishes: list[DishResponse]  # only the dishes with an effect


class SeasonFit(TypedDict):
    used: bool
    # used, too_little_history (not a year of it yet), no_gain (the plain model does as well)
    status: str
    days: int  # the held-out days it was tried on
    gain_pct: float  # how much smaller its mean absolute log error was there, in percent


class SeasonUse(TypedDict):
    covers: SeasonFit
    away: SeasonFit  # the orders taken away or delivered


class Forecast(TypedDict):
    tomorrow: ForecastDay
    next_week: list[ForecastDay]
    backtest: Backtest
    weather: WeatherUse
    season: SeasonUse


@dataclass(frozen=True)
class Dish:
    """A dish's quantity over the last SHARE_DAYS days: eaten in, and taken away or
    delivered."""

    name: str
    dine_in: int
    away: int


def wetness(day: DayWeather) -> float:
    return min(day.precipitation_mm, WET_MM) / WET_MM


@dataclass(frozen=True)
class Effect:
    """A log-linear response to the weather: exp(temperature * dT + wet * dW)."""

    temperature: float = 0.0
    wet: float = 0.0

    def factor(self, shift: tuple[float, float] | None) -> float:
        return 1.0 if shift is None else math.exp(self.temperature * shift[0]
                                                  + self.wet * shift[1])

    def json(self) -> Response:
        return {"temperature_pct_per_c": round(100 * (math.exp(self.temperature) - 1), 1),
                "wet_day_pct": round(100 * (math.exp(self.wet) - 1), 1)}

    def __bool__(self) -> bool:
        return bool(self.temperature or self.wet)


def fit_effect(rows: Sequence[tuple[float, float, float]]) -> Effect:
    """Least squares of y on (1, dT, dW) from (y, dT, dW) rows, keeping each slope only
    where it stands at least T_MIN standard errors from zero."""
    n = len(rows)
    if n < MIN_FIT_DAYS:
        return Effect()
    xs = [(1.0, t, w) for _, t, w in rows]
    a = [[sum(x[i] * x[j] for x in xs) for j in range(3)] for i in range(3)]
    b = [sum(x[i] * y for x, (y, _, _) in zip(xs, rows, strict=True)) for i in range(3)]
    inverse = _invert(a)
    if inverse is None:
        return Effect()
    beta = [sum(inverse[i][j] * b[j] for j in range(3)) for i in range(3)]
    residual = sum((y - sum(beta[i] * x[i] for i in range(3))) ** 2
                   for x, (y, _, _) in zip(xs, rows, strict=True))
    variance = residual / (n - 3)
    kept = []
    for i in (1, 2):
        error = math.sqrt(max(variance * inverse[i][i], 0.0))
        kept.append(beta[i] if error and abs(beta[i]) >= T_MIN * error else 0.0)
    return Effect(temperature=kept[0], wet=kept[1])


def _invert(a: list[list[float]]) -> list[list[float]] | None:
    """A 3 x 3 inverse by Gauss-Jordan; None when the weather never varied."""
    size = len(a)
    m = [row[:] + [float(i == j) for j in range(size)] for i, row in enumerate(a)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-9:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        head = m[col][col]
        m[col] = [v / head for v in m[col]]
        for r in range(size):
            if r != col:
                f = m[r][col]
                m[r] = [v - f * p for v, p in zip(m[r], m[col], strict=True)]
    return [row[size:] for row in m]


class Series:
    """One daily figure (the covers; the orders taken away or delivered) and the weekday
    model over it: the same weekday of the last weeks, holidays left out of the base and
    lifted by the store's own holiday lift."""

    def __init__(self, daily: dict[date, int], first: date,
                 days_off: holidays.HolidayBase) -> None:
        self.daily = daily
        self.first = first
        self.holidays = days_off
        self.levels: dict[date, float | None] = {}

    def __call__(self, day: date) -> int:
        return self.daily.get(day, 0)

    def holiday_lift(self, before: date) -> float:
        """How much busier this store's holidays were than the same weekdays around them."""
        ratios = []
        for day in self.holidays:
            if self.first <= day < before and self(day):
                usual = [self(day - timedelta(weeks=w)) for w in (1, 2)]
                usual = [u for u in usual if u]
                if usual:
                    ratios.append(self(day) / (sum(usual) / len(usual)))
        return sum(ratios) / len(ratios) if ratios else DEFAULT_HOLIDAY_LIFT

    def base_days(self, day: date, known_until: date) -> list[tuple[date, int]]:
        """The same weekdays before `known_until` the forecast of `day` averages, weighted."""
        found: list[tuple[date, int]] = []
        week = 1
        while len(found) < len(WEIGHTS) and week <= 8:
            past = day - timedelta(weeks=week)
            week += 1
            if past >= known_until or past < self.first or past in self.holidays:
                continue
            found.append((past, WEIGHTS[len(found)]))
        return found

    def forecast_day(self, day: date, known_until: date) -> float:
        """The figure on `day`, using only days before `known_until`."""
        base = self.base_days(day, known_until)
        if not base:
            return 0.0
        figure = sum(weight * self(past) for past, weight in base) / sum(
            weight for _, weight in base)
        if day in self.holidays:
            figure *= self.holiday_lift(known_until)
        return figure

    def naive(self, day: date) -> int:
        return self(day - timedelta(weeks=1))

    def level(self, centre: date) -> float | None:
        """The mean day over the three weeks around `centre`, holidays left out; None where
        the history does not reach."""
        if centre in self.levels:
            return self.levels[centre]
        found = None
        if centre - timedelta(days=SEASON_SPAN) >= self.first:
            days = [centre + timedelta(days=n) for n in range(-SEASON_SPAN, SEASON_SPAN + 1)]
            values = [self(day) for day in days if day not in self.holidays]
            found = sum(values) / len(values) if values and sum(values) else None
        self.levels[centre] = found
        return found

    def season(self, day: date, base: Sequence[tuple[date, int]]) -> float | None:
        """How much busier last year was at `day`'s time of year than at its base days' (the
        ISO week's ratio to the base weeks', smoothed); None without a year of history."""
        then = self.level(day - YEAR)
        past = [(self.level(when - YEAR), weight) for when, weight in base]
        if then is None or not past:
            return None
        total, level = 0, 0.0
        for before, weight in past:
            if before is None:
                return None
            total += weight
            level += weight * before
        return then / (level / total)


class History:
    """Covers by local day and by (weekday, hour), the orders taken away or delivered by
    day, each dish's quantity per cover and per such order, and the weather of those days
    where the home has it cached.

    Every channel is planned for, since the kitchen cooks and the purchase list buys for all
    of them: a dish's dine-in quantity follows the covers, its takeaway and delivery quantity
    follows those orders (their own weekday model: a delivery order seats nobody, so covers
    stay covers). Only what was paid and stands counts: a platform's cancelled or refunded
    order is left out."""

    def __init__(self, store: Store, until: date, days: int = HISTORY_DAYS,
                 dish_limit: int | None = 10) -> None:
        period = Period(store, until - timedelta(days=days), until)
        span = period.days()
        daily: dict[date, int] = defaultdict(int)
        self.hourly: dict[tuple[int, int], int] = defaultdict(int)
        # The triggers' rollups (schema FORECAST_ROLLUPS, REPORT_ROLLUPS) by local day.
        for day, hour, covers in store.conn.execute(
                "SELECT day, hour, covers FROM covers_hours WHERE day BETWEEN ? AND ?", span):
            when = date.fromisoformat(day)
            daily[when] += covers
            self.hourly[(when.weekday(), hour)] += covers
        away: dict[date, int] = {date.fromisoformat(day): orders for day, orders in
                                 store.conn.execute(
            "SELECT day, orders FROM away_days WHERE day BETWEEN ? AND ?", span)}
        self.first = min([*daily, *away], default=until)
        years = range(until.year - 2, until.year + 2)
        self.holidays = holidays.country_holidays("CN", years=years)
        self.covers = Series(daily, self.first, self.holidays)
        self.away = Series(away, self.first, self.holidays)
        # The last four weeks (today is not over) give each dish's quantity per cover and
        # per order taken away, the most sold first: every line that counts from the day's
        # rollup (`dish_days` leaves out what a platform cancelled or refunded), less the lines
        # taken away or delivered (only those orders are read).
        recent = Period(store, until - timedelta(days=SHARE_DAYS), until - timedelta(days=1))
        sold = dict(store.conn.execute(
            "SELECT dish, SUM(qty) FROM dish_days WHERE day BETWEEN ? AND ? GROUP BY dish",
            recent.days()).fetchall())
        taken = dict(store.conn.execute(
            "SELECT l.dish, SUM(l.qty) FROM counted_orders o JOIN order_lines l "
            "ON l.order_id = o.id WHERE o.created_at >= ? AND o.created_at < ? "
            "AND o.channel <> 'dine_in' GROUP BY l.dish", (recent.lo, recent.hi)).fetchall())
        dishes = [Dish(name, qty - taken.get(name, 0), taken.get(name, 0))
                  for name, qty in sold.items()]
        dishes.sort(key=lambda dish: (-(dish.dine_in + dish.away), dish.name))
        self.dishes = [dish for dish in dishes if dish.dine_in + dish.away][:dish_limit]
        shares = [recent.start + timedelta(days=n) for n in range(SHARE_DAYS)]
        self.recent_covers = sum(self.covers(day) for day in shares)
        self.recent_away = sum(self.away(day) for day in shares)
        self.weather = load(store, until - timedelta(days=days), until + timedelta(days=8))
        # Each dish's sales by day (every channel, from the trigger's rollup): only the ratio
        # to covers is read, to learn how the weather moves a dish's share.
        self.dish_daily: dict[str, dict[date, int]] = defaultdict(dict)
        if self.weather and self.dishes:
            names = [dish.name for dish in self.dishes]
            for day, dish, qty in store.conn.execute(
                    "SELECT day, dish, qty FROM dish_days WHERE day >= ? AND day < ? AND dish "
                    f"IN ({', '.join('?' for _ in names)})",
                    (period.start.isoformat(), until.isoformat(), *names)):
                self.dish_daily[dish][date.fromisoformat(day)] = qty

    def holiday_lift(self, before: date) -> float:
        """The covers' holiday lift (the rota and the tests read it)."""
        return self.covers.holiday_lift(before)

    def base_days(self, day: date, known_until: date) -> list[tuple[date, int]]:
        return self.covers.base_days(day, known_until)

    def forecast_day(self, day: date, known_until: date) -> float:
        """Covers on `day`, using only days before `known_until`."""
        return self.covers.forecast_day(day, known_until)

    def prepare(self, covers: float, away: float, shares: dict[str, float]) -> list[Prepare]:
        """Each dish for a day of `covers` and `away` orders, its share moved by the weather
        as `shares` says (1 where it does not)."""
        return [Prepare(dish=dish.name, qty=round(
            ((covers * dish.dine_in / self.recent_covers if self.recent_covers else 0.0)
             + (away * dish.away / self.recent_away if self.recent_away else 0.0))
            * shares.get(dish.name, 1.0))) for dish in self.dishes]

    def shift(self, day: date, base: Sequence[tuple[date, int]]) -> tuple[float, float] | None:
        """How much warmer and wetter `day` is than the days its forecast was built from;
        None when the weather of any of them is not known."""
        seen = self.weather.get(day)
        past = [(self.weather.get(when), weight) for when, weight in base]
        if seen is None or not past:
            return None
        total, warm, wet = 0, 0.0, 0.0
        for then, weight in past:
            if then is None:
                return None
            total += weight
            warm += weight * then.temperature_c
            wet += weight * wetness(then)
        return seen.temperature_c - warm / total, wetness(seen) - wet / total

    def hours(self, day: date, covers: float) -> dict[int, float]:
        profile = {hour: self.hourly.get((day.weekday(), hour), 0) for hour in range(24)}
        total = sum(profile.values())
        return {h: round(covers * n / total, 1) for h, n in profile.items() if n} if total else {}


@dataclass(frozen=True)
class Model:
    """A series' weekday model, with last year's season where it earned its place."""

    series: Series
    season: bool = False

    def expected(self, day: date, known_until: date) -> float:
        figure = self.series.forecast_day(day, known_until)
        if self.season and figure:
            factor = self.series.season(day, self.series.base_days(day, known_until))
            if factor is not None:
                figure *= factor
        return figure


def fit_season(series: Series, known_until: date) -> SeasonFit:
    """Whether last year's season makes the days before `known_until` better forecast (each
    from what came before it) than the plain weekday model: a held-out test, since the term
    is read from last year and nothing of it is fitted to these days. It must win by
    SEASON_T standard errors of the paired differences, so a store without a season keeps
    the model it had."""
    gains = []
    for n in range(1, SEASON_CHECK_DAYS + 1):
        day = known_until - timedelta(days=n)
        actual = series(day)
        if not actual or day in series.holidays:
            continue
        base = series.base_days(day, day)
        factor = series.season(day, base)
        expected = series.forecast_day(day, day)
        if factor is None or expected <= 0:
            continue
        miss = abs(math.log(expected / actual))
        gains.append(miss - abs(math.log(expected * factor / actual)))
    if len(gains) < SEASON_MIN_DAYS:
        return {"used": False, "status": "too_little_history", "days": len(gains),
                "gain_pct": 0.0}
    mean = sum(gains) / len(gains)
    spread = math.sqrt(sum((g - mean) ** 2 for g in gains) / (len(gains) - 1))
    used = mean > 0 and mean >= SEASON_T * spread / math.sqrt(len(gains))
    return {"used": used, "status": "used" if used else "no_gain", "days": len(gains),
            "gain_pct": round(100 * mean, 1)}


@dataclass(frozen=True)
class Learnt:
    """What the history says the weather does to this store: to its covers and to each
    dish's share of them, learnt from the days before `known_until`."""

    covers: Effect
    dishes: dict[str, Effect]
    days: int


def learn(history: History, known_until: date, covers: Model,
          dishes: bool = True) -> Learnt:
    """The weather's effects on what `covers` expected (with the season where it is used, so
    the weather is not credited with the time of year); `dishes`: each dish's too."""
    rows: list[tuple[float, float, float]] = []
    shares: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    start = max(history.first + timedelta(weeks=4), known_until - timedelta(days=365))
    for n in range((known_until - start).days if history.weather else 0):
        day = start + timedelta(days=n)
        actual = history.covers(day)
        if day in history.holidays or not actual:
            continue
        base = history.base_days(day, day)
        shift = history.shift(day, base)
        if shift is None:
            continue
        expected = covers.expected(day, day)
        if expected <= 0:
            continue
        rows.append((math.log(actual / expected), *shift))
        base_covers = sum(weight * history.covers(past) for past, weight in base)
        for dish, sold in history.dish_daily.items() if dishes else ():
            usual = sum(weight * sold.get(past, 0) for past, weight in base)
            if usual and base_covers:
                share = usual / base_covers
                shares[dish].append(
                    (math.log((sold.get(day, 0) + 0.5) / (actual * share + 0.5)), *shift))
    return Learnt(covers=fit_effect(rows),
                  dishes={dish: fit_effect(found) for dish, found in shares.items()},
                  days=len(rows))


def mape(pairs: Sequence[tuple[float, int]]) -> float:
    errors = [abs(predicted - actual) / actual for predicted, actual in pairs if actual]
    return round(100 * sum(errors) / len(errors), 1) if errors else 0.0


def forecast(store: Store, period: Period, weather: float = 1.0,
             backtest_days: int = 28, days_ahead: int = 7,
             dish_limit: int | None = 10) -> Forecast:
    """The `days_ahead` days after the period's end (per day and hour, with the top `dish_limit`
    dishes to prepare; None: every dish, as the purchase list needs), and the backtest.
    `weather` scales the forecast by hand (e.g. 0.85 for a rainy day ahead), on top of what
    the cached weather says."""
    today = period.end
    history = History(store, today, dish_limit=dish_limit)
    season: SeasonUse = {"covers": fit_season(history.covers, today),
                         "away": fit_season(history.away, today)}
    covers_model = Model(history.covers, season["covers"]["used"])
    away_model = Model(history.away, season["away"]["used"])
    response = learn(history, today, covers_model)
    days = [today + timedelta(days=n) for n in range(1, days_ahead + 1)]
    ahead, moved = [], False
    for day in days:
        shift = history.shift(day, history.base_days(day, today))  # today is not over yet
        lift = response.covers.factor(shift)
        covers = covers_model.expected(day, today) * lift * weather
        away = away_model.expected(day, today) * weather
        shares = {dish.name: response.dishes.get(dish.name, Effect()).factor(shift)
                  for dish in history.dishes}
        moved = moved or lift != 1.0 or any(share != 1.0 for share in shares.values())
        seen = history.weather.get(day)
        ahead.append(ForecastDay(
            date=day.isoformat(), weekday=day.strftime("%a"),
            holiday=history.holidays.get(day),
            temperature_c=None if seen is None else round(seen.temperature_c, 1),
            precipitation_mm=None if seen is None else seen.precipitation_mm,
            covers=round(covers), hours=history.hours(day, covers),
            prepare=history.prepare(covers, away, shares)))
    return {"tomorrow": ahead[0], "next_week": ahead,
            "backtest": backtest(history, today, backtest_days),
            "weather": _weather_use(history, response, days, moved), "season": season}


def backtest(history: History, today: date, backtest_days: int) -> Backtest:
    """The last `backtest_days` days' covers, each forecast only from what came before it;
    whether the season is used, and the weather's effects, are decided and learnt only from
    the days before the first of them. Next to it: the same without the weather, with and
    without the season (the weather learnt with and without it), and the naive forecast."""
    start = today - timedelta(days=backtest_days)
    kept = fit_season(history.covers, start)["used"] if backtest_days else False
    seasoned, plain = Model(history.covers, True), Model(history.covers)
    responses = {model: learn(history, start, model, dishes=False)
                 for model in (seasoned, plain)}
    pairs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for back in range(backtest_days, 0, -1):
        day = today - timedelta(days=back)
        if day - timedelta(weeks=4) < history.first:
            continue
        actual = history.covers(day)
        shift = history.shift(day, history.base_days(day, day))
        for name, model in (("with_season", seasoned), ("without_season", plain)):
            expected = model.expected(day, day)
            pairs[name].append((expected * responses[model].covers.factor(shift), actual))
            if model.season == kept:
                pairs["without_weather"].append((expected, actual))
        pairs["naive"].append((history.covers.naive(day), actual))
    return {"days": len(pairs["naive"]),
            "mape": mape(pairs["with_season" if kept else "without_season"]),
            "mape_without_weather": mape(pairs["without_weather"]),
            "mape_with_season": mape(pairs["with_season"]),
            "mape_without_season": mape(pairs["without_season"]),
            "naive_mape": mape(pairs["naive"])}


def _weather_use(history: History, response: Learnt, days: list[date],
                 moved: bool) -> WeatherUse:
    if not history.weather:
        status = "no_weather"  # no source configured, or none reached yet
    elif any(day not in history.weather for day in days):
        status = "no_weather_ahead"
    elif response.days < MIN_FIT_DAYS:
        status = "too_little_history"
    elif not moved:
        status = "no_effect_found"
    else:
        status = "used"
    return {"used": status == "used", "status": status, "days": response.days,
            "covers": response.covers.json(),
            "dishes": [DishResponse(dish=dish, **effect.json())
                       for dish, effect in response.dishes.items() if effect]}
