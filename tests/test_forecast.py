"""The forecast (issue 22, part C) plans every channel: a dish sold only by delivery is
forecast and bought for, covers stay the guests who sat down, and what a platform cancelled
is not planned for again. It learns last year's season: on a store with a known season the
term is kept and beats the plain model in the backtest; on one without, it is not kept."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.demo_data import WEEKDAY_FACTOR, season_lift
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.clock import to_iso
from hub.domain.config import new_settings
from hub.domain.delivery import PlatformLine, PlatformOrder, end_order, land_order, map_dish
from hub.domain.ids import new_id
from hub.domain.menu import MenuLine, import_menu
from hub.domain.reports.forecast import forecast
from hub.domain.reports.period import Period
from hub.domain.schema import STEPS
from hub.domain.stock import import_recipes, purchase
from hub.domain.store import Store
from hub.menu_files import read_rows
from tests.conftest import START, FakeClock
from tests.support.menu import MENU_CSV

TODAY = date(2026, 11, 25)  # the fake clock's day in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _menu(folder):
    menu_file = folder / "menu.csv"
    menu_file.write_text(MENU_CSV + "DL01,外卖鸡腿饭,主食,2600,,,0,,delivery only\n",
                         encoding="utf-8")
    return menu_file


def _trade_every_day(store, clock, weeks: int, first: int = 1) -> None:
    """The same day, every day: two tables of two eating a 宫保鸡丁 each, one 宫保鸡丁 taken
    away, three delivery orders of two 外卖鸡腿饭 and a fourth the platform cancels."""
    for back in range(first, 7 * weeks + 1):
        noon = datetime.combine(TODAY - timedelta(days=back), time(12), tzinfo=SHANGHAI)
        clock.current = noon
        for table in (1, 2):
            checkout(store, CheckoutRequest(idempotency_key=f"in-{back}-{table}",
                                            lines=[MenuLine("HS01", 2)], party_size=2))
        checkout(store, CheckoutRequest(idempotency_key=f"away-{back}", channel="takeaway",
                                        lines=[MenuLine("HS01", 1)]))
        for n in range(4):
            land_order(store, PlatformOrder(
                "meituan", f"{back}-{n}", to_iso(noon),
                [PlatformLine("鸡腿饭(外卖)", 2, 2600)]))
        end_order(store, "meituan", f"{back}-3", "cancelled")
    clock.current = START


def test_takeaway_and_delivery_are_planned_and_bought_for_but_seat_nobody(store, clock,
                                                                         tmp_path):
    import_menu(store, read_rows(_menu(tmp_path)), actor="test")
    import_recipes(store, [
        {"code": "DL01", "ingredient": "鸡腿", "qty": "0.25", "unit": "kg", "supplier": "鲜禽行"},
        {"code": "HS01", "ingredient": "花生", "qty": "20", "unit": "g", "supplier": "干货行"},
    ], actor="test")
    map_dish(store, "meituan", "鸡腿饭(外卖)", "DL01", actor="test")
    _trade_every_day(store, clock, weeks=4)

    week = forecast(store, Period(store, None, None), days_ahead=7, dish_limit=None,
                    backtest_days=0)["next_week"]
    assert [day["date"] for day in week] == [
        (TODAY + timedelta(days=n)).isoformat() for n in range(1, 8)]
    for day in week:
        # Four guests sit down a day; the deliveries and the takeaway seat nobody.
        assert day["covers"] == 4, day
        # 宫保鸡丁: one per guest, and one per four orders away (its one takeaway among the
        # three deliveries that stand); 外卖鸡腿饭: two in each standing delivery.
        assert {d["dish"]: d["qty"] for d in day["prepare"]} == {"宫保鸡丁": 5, "外卖鸡腿饭": 6}

    bought = purchase(store, 7)
    need = {line["ingredient"]: line["need"] for order in bought["suppliers"]
            for line in order["lines"]}
    assert need == {"鸡腿": 7 * 6 * 0.25, "花生": 7 * 5 * 20}
    assert bought["unforecast"] == []


def test_the_rollups_the_forecast_reads_are_filled_for_an_older_store_and_kept(tmp_path,
                                                                               clock):
    """A store traded under the schema before the rollups gets them filled by the migration;
    then the triggers keep them: each equal to the plain query over the visits and orders."""
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    path = tmp_path / "laoke.db"
    before = [name for name, _ in STEPS].index("0044_forecast_rollups")
    with Store(path, settings, clock, steps=STEPS[:before]) as older:
        import_menu(older, read_rows(_menu(tmp_path)), actor="test")
        map_dish(older, "meituan", "鸡腿饭(外卖)", "DL01", actor="test")
        _trade_every_day(older, clock, weeks=1)
    with Store(path, settings, clock) as store:
        _trade_every_day(store, clock, weeks=2, first=8)  # a second week, under the triggers
        end_order(store, "meituan", "2-0", "refunded")  # one from before the migration
        def rows(sql):
            return [tuple(row) for row in store.conn.execute(sql)]

        covers = rows("SELECT laoke_day(visited_at), laoke_hour(visited_at), SUM(party_size) "
                      "FROM visits GROUP BY 1, 2 ORDER BY 1, 2")
        assert rows("SELECT day, hour, covers FROM covers_hours ORDER BY 1, 2") == covers
        away = rows("SELECT laoke_day(o.created_at), COUNT(*) FROM orders o LEFT JOIN "
                    "delivery_orders d ON d.order_id = o.id WHERE o.channel <> 'dine_in' AND "
                    "COALESCE(d.state, 'placed') = 'placed' GROUP BY 1 ORDER BY 1")
        assert rows("SELECT day, orders FROM away_days ORDER BY 1") == away
        assert len(covers) == 14 and {orders for _, orders in away} == {4, 3}


# -- last year's season -----------------------------------------------------------------------

AFTER_SUMMER = datetime(2026, 9, 25, 4, 30, tzinfo=UTC)  # the backtest has the guests' return
SEASON_DAYS = 520  # a year before the days the term is tried on, and those days


def _covers_store(tmp_path_factory, name: str, seasonal: bool) -> Store:
    """A store of covers only (the forecast's season reads nothing else): about 120 guests a
    day in the demo's weekly rhythm with 12 % noise, and, when `seasonal`, the demo's
    university store's breaks (hub.demo_data.season_lift)."""
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    store = Store(tmp_path_factory.mktemp(name) / "laoke.db", settings, FakeClock(AFTER_SUMMER))
    rng = random.Random(5)
    today = AFTER_SUMMER.astimezone(SHANGHAI).date()
    rows = []
    for back in range(1, SEASON_DAYS + 1):
        day = today - timedelta(days=back)
        covers = 120 * WEEKDAY_FACTOR[day.weekday()] * math.exp(rng.gauss(0, 0.12))
        rows.append((new_id(), "s1", "A1",
                     round(covers * (season_lift(day) if seasonal else 1.0)),
                     to_iso(datetime.combine(day, time(12), tzinfo=SHANGHAI))))
    with store.write():
        store.conn.executemany("INSERT INTO visits (id, store_id, table_no, party_size, "
                               "visited_at) VALUES (?, ?, ?, ?, ?)", rows)
    return store


@pytest.fixture(scope="module")
def seasonal_store(tmp_path_factory):
    with _covers_store(tmp_path_factory, "seasonal", seasonal=True) as store:
        yield store


@pytest.fixture(scope="module")
def steady_store(tmp_path_factory):
    with _covers_store(tmp_path_factory, "steady", seasonal=False) as store:
        yield store


def test_last_years_season_is_kept_where_it_forecasts_better(seasonal_store):
    result = forecast(seasonal_store, Period(seasonal_store, None, None))
    season = result["season"]["covers"]
    assert season["used"] and season["status"] == "used", season
    assert season["days"] >= 60 and season["gain_pct"] > 0
    # The backtest's four weeks hold the guests' return from the summer break: the weekday
    # model lags behind it for weeks, last year's season knew it was coming.
    backtest = result["backtest"]
    assert backtest["mape"] == backtest["mape_with_season"], "kept in the backtest too"
    assert backtest["mape"] < backtest["mape_without_season"] - 2, backtest
    assert backtest["mape"] < backtest["naive_mape"], backtest
    assert backtest["mape"] == backtest["mape_without_weather"], "no weather here"


def test_a_store_without_a_season_keeps_its_model_and_a_young_one_has_none(steady_store):
    result = forecast(steady_store, Period(steady_store, None, None))
    season = result["season"]["covers"]
    assert season["status"] == "no_gain" and not season["used"], season
    backtest = result["backtest"]
    assert backtest["mape"] == backtest["mape_without_season"] < backtest["naive_mape"]
    assert backtest["mape_with_season"] != backtest["mape"], "what the term would have done"
    # Less than a year of trade before the forecast: nothing to read last year's season from.
    young = AFTER_SUMMER.astimezone(SHANGHAI).date() - timedelta(days=200)
    early = forecast(steady_store, Period(steady_store, None, young))["season"]
    assert early["covers"] == {"used": False, "status": "too_little_history", "days": 0,
                               "gain_pct": 0.0}
    assert early["away"]["status"] == "too_little_history"
