"""Weather in the forecast: Open-Meteo's APIs (a local stand-in speaking them) into the home's
cache, and a model that finds a known weather effect in a generated store and invents none."""

import json
import math
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.demo_data import RAIN_EFFECT, TEMPERATURE_EFFECT, demo_weather, generate
from hub.domain.config import new_settings
from hub.domain.reports import report
from hub.domain.store import Store
from hub.domain.weather import HISTORY_DAYS, WeatherUnavailable, load
from hub.weather import OpenMeteo as OpenMeteoSource
from hub.weather import WeatherWorker, fetch_weather
from tests.conftest import FakeClock
from tests.support.homedb import home_db
from tests.support.hubproc import ROOT, RunningHub, wait_until
from tests.support.standins import OpenMeteo

TODAY = date(2026, 11, 25)  # the fake clock's day in Shanghai


def _weather(day: date) -> tuple[float, float, float]:
    """A made-up but recognisable weather: the day of the month is the high."""
    return float(day.day), float(day.day) - 8, 3.0 if day.weekday() == 2 else 0.0


@pytest.fixture(scope="module")
def open_meteo():
    stand_in = OpenMeteo(_weather, TODAY)
    yield stand_in
    stand_in.close()


@pytest.fixture
def placed(store, open_meteo):
    store.settings.weather.latitude = 39.9
    store.settings.weather.longitude = 116.4
    store.settings.weather.forecast_url = open_meteo.forecast_url
    store.settings.weather.archive_url = open_meteo.archive_url
    open_meteo.down = False
    open_meteo.queries.clear()
    return store


def test_the_history_and_the_week_ahead_are_cached_from_open_meteo(placed, open_meteo):
    done = fetch_weather(placed)
    # The archive has no days past its lag yet (nulls): those come from the forecast.
    assert (done.observed, done.forecast, done.source) == (HISTORY_DAYS - 5, 8, "open-meteo")
    path, query = open_meteo.queries[0]
    assert path == "/v1/archive" and query["timezone"] == "Asia/Shanghai"
    assert query["daily"] == "temperature_2m_max,temperature_2m_min,precipitation_sum"
    cached = load(placed, TODAY - timedelta(days=HISTORY_DAYS), TODAY + timedelta(days=7))
    assert len(cached) == HISTORY_DAYS - 5 + 8
    wednesday = cached[date(2026, 11, 18)]
    assert (wednesday.temperature_max_c, wednesday.temperature_min_c,
            wednesday.precipitation_mm) == (18.0, 10.0, 3.0)
    kinds = dict(placed.conn.execute("SELECT kind, COUNT(*) FROM weather_days GROUP BY kind"))
    assert kinds == {"observed": HISTORY_DAYS - 5, "forecast": 8}

    # The next refresh asks only for what is not observed yet, and an observed day replaces
    # its forecast; a forecast never overwrites an observed day.
    open_meteo.queries.clear()
    open_meteo.archive_lag_days = 0
    try:
        again = fetch_weather(placed)
    finally:
        open_meteo.archive_lag_days = 5
    assert again.observed == 5
    assert open_meteo.queries[0][1]["start_date"] == (TODAY - timedelta(days=5)).isoformat()
    kinds = dict(placed.conn.execute("SELECT kind, COUNT(*) FROM weather_days GROUP BY kind"))
    assert kinds == {"observed": HISTORY_DAYS, "forecast": 8}


def test_a_source_down_or_talking_nonsense_leaves_the_cache_as_it_was(placed, open_meteo):
    fetch_weather(placed)
    before = placed.conn.execute("SELECT * FROM weather_days ORDER BY day").fetchall()
    open_meteo.down = True
    with pytest.raises(WeatherUnavailable, match="answered 503: Service unavailable"):
        fetch_weather(placed)
    open_meteo.down = False
    placed.settings.weather.forecast_url = open_meteo.forecast_url.replace("forecast", "nope")
    with pytest.raises(WeatherUnavailable, match="answered 400: no API at /v1/nope"):
        fetch_weather(placed)
    placed.settings.weather.forecast_url = "http://127.0.0.1:9/v1/forecast"  # nothing listens
    with pytest.raises(WeatherUnavailable, match="could not be read"):
        fetch_weather(placed)
    assert placed.conn.execute("SELECT * FROM weather_days ORDER BY day").fetchall() == before
    placed.settings.weather.latitude = None
    with pytest.raises(WeatherUnavailable, match="latitude and longitude"):
        OpenMeteoSource(placed.settings.weather, "Asia/Shanghai")


def test_the_weather_worker_keeps_a_failure_as_its_last_error_and_carries_on(placed, open_meteo):
    worker = WeatherWorker(lambda: placed)
    open_meteo.down = True
    with pytest.raises(WeatherUnavailable):
        worker.step(worker.wake)  # run() catches it, keeps it and backs off (tests/test_workers)
    open_meteo.down = False
    assert worker.step(worker.wake) == placed.settings.weather.refresh_hours * 3600
    assert worker.last is not None and worker.last.forecast == 8


def _demo(tmp_path_factory, name: str, effect: bool) -> Store:
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    store = Store(tmp_path_factory.mktemp(name) / "laoke.db", settings, FakeClock())
    generate(store, members=200, days=240, seed=21, weather=True, weather_effect=effect)
    return store


@pytest.fixture(scope="module")
def rainy_store(tmp_path_factory):
    with _demo(tmp_path_factory, "effect", effect=True) as store:
        yield store


@pytest.fixture(scope="module")
def indifferent_store(tmp_path_factory):
    with _demo(tmp_path_factory, "still", effect=False) as store:
        yield store


def test_the_forecast_finds_the_known_weather_effect(rainy_store):
    result = report(rainy_store, "forecast")
    weather = result["weather"]
    assert weather["used"] and weather["status"] == "used", weather
    covers = weather["covers"]
    rain = 100 * (math.exp(RAIN_EFFECT) - 1)          # about -30 %
    warmth = 100 * (math.exp(TEMPERATURE_EFFECT) - 1)  # about -2 % per degree
    assert abs(covers["wet_day_pct"] - rain) < 10, covers
    assert abs(covers["temperature_pct_per_c"] - warmth) < 1, covers
    # Only warm dishes lean on the cold in the generator, and the model finds one of them.
    dishes = {d["dish"]: d for d in weather["dishes"]}
    assert dishes and set(dishes) <= {"酸辣汤", "冬瓜排骨汤", "毛血旺", "水煮鱼", "冰粉",
                                      "酸梅汤", "凉拌黄瓜", "青岛啤酒"}, dishes
    backtest = result["backtest"]
    assert backtest["mape"] < backtest["mape_without_weather"] < backtest["naive_mape"], backtest
    tomorrow = result["tomorrow"]  # the days ahead carry the cached forecast
    assert tomorrow["temperature_c"] is not None and tomorrow["precipitation_mm"] is not None


def test_a_store_that_ignores_the_weather_gets_no_invented_effect(indifferent_store):
    result = report(indifferent_store, "forecast")
    weather = result["weather"]
    assert weather["status"] == "no_effect_found" and not weather["used"], weather
    assert weather["covers"] == {"temperature_pct_per_c": 0.0, "wet_day_pct": 0.0}
    assert weather["dishes"] == []
    backtest = result["backtest"]
    assert backtest["mape"] == backtest["mape_without_weather"] < backtest["naive_mape"]

    # Without any weather the forecast says so and is exactly the weekday model.
    indifferent_store.conn.execute("SAVEPOINT no_weather")
    try:
        indifferent_store.conn.execute("DELETE FROM weather_days")
        plain = report(indifferent_store, "forecast")
    finally:
        indifferent_store.conn.execute("ROLLBACK TO no_weather")
        indifferent_store.conn.execute("RELEASE no_weather")
    assert plain["weather"]["status"] == "no_weather"
    assert plain["tomorrow"]["temperature_c"] is None
    strip = lambda days: [{k: v for k, v in d.items()  # noqa: E731
                           if k not in ("temperature_c", "precipitation_mm")} for d in days]
    assert strip(plain["next_week"]) == strip(result["next_week"])
    assert plain["backtest"] == backtest


def test_the_demo_weather_is_a_plausible_year():
    year = demo_weather(date(2026, 1, 1), date(2026, 12, 31), seed=1)
    january = [d.temperature_c for d in year.values() if d.day.month == 1]
    july = [d.temperature_c for d in year.values() if d.day.month == 7]
    assert sum(january) / len(january) < 0 < 20 < sum(july) / len(july)
    assert 50 < sum(1 for d in year.values() if d.precipitation_mm > 0) < 150


def test_the_command_fetches_into_the_home(tmp_path):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    stand_in = OpenMeteo(_weather, today)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_HOME": str(tmp_path),
           "LAOKE_WEATHER_LATITUDE": "39.9", "LAOKE_WEATHER_LONGITUDE": "116.4",
           "LAOKE_WEATHER_FORECAST_URL": stand_in.forecast_url,
           "LAOKE_WEATHER_ARCHIVE_URL": stand_in.archive_url}
    try:
        done = subprocess.run([sys.executable, "-m", "hub", "weather", "fetch", "--json"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"observed": HISTORY_DAYS - 5, "forecast": 8,
                                           "source": "open-meteo"}
    finally:
        stand_in.close()
    with home_db(tmp_path) as db:
        assert db.execute("SELECT COUNT(*) FROM weather_days").fetchone()[0] == HISTORY_DAYS + 3


def test_the_running_hub_keeps_the_cache_fresh_and_its_forecast_says_so(tmp_path):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    stand_in = OpenMeteo(_weather, today)
    hub = RunningHub(tmp_path, env={
        "LAOKE_WEATHER_LATITUDE": "39.9", "LAOKE_WEATHER_LONGITUDE": "116.4",
        "LAOKE_WEATHER_FORECAST_URL": stand_in.forecast_url,
        "LAOKE_WEATHER_ARCHIVE_URL": stand_in.archive_url})
    try:
        hub.start()
        with hub.client() as api:
            wait_until(lambda: api.get("/reports/forecast").json()["tomorrow"]["temperature_c"]
                       is not None)
            workers = {w["name"]: w for w in api.get("/health").json()["workers"]}
            assert workers["weather"]["state"] == "running", workers
            assert workers["weather"]["failures"] == 0
            forecast = api.get("/reports/forecast").json()
        assert forecast["weather"]["status"] == "too_little_history"  # a new store
        assert forecast["tomorrow"]["temperature_c"] == (today + timedelta(days=1)).day - 4
    finally:
        hub.stop()
        stand_in.close()
    with home_db(tmp_path) as db:
        assert db.execute("SELECT COUNT(*) FROM weather_days").fetchone()[0] == HISTORY_DAYS + 3
