"""Weather relayed by HQ (issue 22, part C): with `[weather] source = "hq"` a hub asks HQ
over the sync link, HQ asks Open-Meteo (a local stand-in speaking its API) once per place
and question, and the hub caches the answer as if it had fetched it. Real mosquitto under
the shipped ACL, a real `laoke hub run` and `laoke hq run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.domain.config import new_settings
from hub.domain.store import Store
from hub.domain.weather import HISTORY_DAYS, WeatherUnavailable
from hub.weather import OpenMeteoClient, fetch_weather
from sync.hq.weather import WeatherRelay
from sync.publisher import Publisher
from tests.support.broker import acl_broker
from tests.support.homedb import home_db
from tests.support.hubproc import ROOT, RunningHub, wait_until
from tests.support.standins import OpenMeteo

USERS = {"hq": "hq-secret", "shop-w": "w-secret", "shop-x": "x-secret"}
PLACE = {"LAOKE_WEATHER_LATITUDE": "39.9", "LAOKE_WEATHER_LONGITUDE": "116.4"}
NOWHERE = "http://127.0.0.1:9/v1/"  # nothing listens: a hub that fetched itself would fail


def _weather(day):
    return float(day.day), float(day.day) - 8, 3.0 if day.weekday() == 2 else 0.0


@pytest.fixture(scope="module")
def today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture(scope="module")
def open_meteo(today):
    stand_in = OpenMeteo(_weather, today)
    yield stand_in
    stand_in.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with acl_broker(tmp_path_factory.mktemp("broker"), USERS) as port:
        yield f"mqtt://127.0.0.1:{port}"


def _hq(home, broker, open_meteo):
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "--home", str(home), "hq", "run", "--broker", broker,
         "--username", "hq", "--password", USERS["hq"],
         "--weather-forecast-url", open_meteo.forecast_url,
         "--weather-archive-url", open_meteo.archive_url],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)


def _weather_worker(api):
    return {w["name"]: w for w in api.get("/health").json()["workers"]}["weather"]


def test_hq_relays_the_weather_the_hub_caches_as_its_own(tmp_path_factory, broker,
                                                          open_meteo, today):
    folder = tmp_path_factory.mktemp("relay")
    open_meteo.fail_next = 1  # HQ's first question finds the weather service down
    asked_before = len(open_meteo.queries)
    hq = _hq(folder / "hq", broker, open_meteo)
    hub = RunningHub(folder / "store", "--broker", broker, "--store-id", "shop-w", env={
        **PLACE, "LAOKE_WEATHER_SOURCE": "hq", "LAOKE_WEATHER_TIMEOUT_S": "1",
        "LAOKE_WEATHER_FORECAST_URL": NOWHERE + "forecast",
        "LAOKE_WEATHER_ARCHIVE_URL": NOWHERE + "archive",
        "LAOKE_BROKER_USERNAME": "shop-w", "LAOKE_BROKER_PASSWORD": USERS["shop-w"]})
    try:
        hub.start(timeout=60)
        with hub.client() as api:
            wait_until(lambda: api.get("/reports/forecast").json()["tomorrow"]["temperature_c"]
                       is not None, timeout=60)
            forecast = api.get("/reports/forecast").json()
            # What HQ could not get was the hub's worker's error (kept for /health) until
            # it asked again; the forecast ran without weather meanwhile (test_weather.py).
            worker = _weather_worker(api)
        assert worker["failures"] >= 1 and worker["state"] == "running", worker
        assert "HQ could not get it" in worker["last_error"], worker
        assert "answered 503: Service unavailable" in worker["last_error"], worker
        assert forecast["tomorrow"]["temperature_c"] == (today + timedelta(days=1)).day - 4
        assert forecast["weather"]["status"] == "too_little_history"  # a new store
    finally:
        hub.stop()
    try:
        # HQ asked Open-Meteo once for the history and once for the week ahead, at the place
        # the store has in its config; the hub asked nothing itself (its URLs lead nowhere).
        asked = [(path, query["latitude"], query["longitude"], query["timezone"])
                 for path, query in open_meteo.queries[asked_before:]]
        assert asked == [("/v1/archive", "39.9", "116.4", "Asia/Shanghai")] * 2 + [
            ("/v1/forecast", "39.9", "116.4", "Asia/Shanghai")], "the first one failed"
        with home_db(folder / "store") as db:
            cached = dict(((r[0], r[1]), r[2]) for r in db.execute(
                "SELECT source, kind, COUNT(*) FROM weather_days GROUP BY 1, 2"))
        assert cached == {("hq", "observed"): HISTORY_DAYS - 5, ("hq", "forecast"): 8}

        # A second store at the same place is answered from HQ's cache: no new fetch.
        settings = new_settings("shop-x")
        settings.storage.synchronous = "normal"
        settings.broker.url, settings.broker.username = broker, "shop-x"
        settings.broker.password = USERS["shop-x"]
        settings.weather.latitude, settings.weather.longitude = 39.9, 116.4
        settings.weather.source = "hq"
        local = threading.local()

        def store():
            if not hasattr(local, "store"):
                local.store = Store(folder / "x.db", settings, check_same_thread=False)
            return local.store

        link = Publisher(store).start()
        try:
            done = fetch_weather(store(), link.ask_weather)
        finally:
            link.stop()
        assert (done.observed, done.forecast, done.source) == (HISTORY_DAYS - 5, 8, "hq")
        assert len(open_meteo.queries) == asked_before + 3
    finally:
        hq.terminate()
        hq.wait(10)


def test_the_relay_answers_bad_questions_and_a_down_service_with_why(open_meteo, today):
    relay = WeatherRelay(OpenMeteoClient(open_meteo.forecast_url, open_meteo.archive_url, 5))
    place = {"latitude": 31.23, "longitude": 121.47, "timezone": "Asia/Shanghai"}

    def ask(**question):
        return relay.answer(json.dumps(question).encode())

    assert ask(latitude=91, longitude=0, timezone="UTC", forecast_days=8) == {
        "error": "a bad weather question: latitude must be a number from -90 to 90"}
    assert "not a time zone" in ask(**{**place, "timezone": "Mars/Olympus"})["error"]
    assert "forecast_days must be 1 to 16" in ask(**place, forecast_days=99)["error"]
    assert "start_date and end_date" in ask(**place)["error"]
    assert relay.answer(b"[1, 2]") == {"error": "a bad weather question: not a JSON object"}
    assert relay.fetched == 0

    open_meteo.down = True
    try:
        assert ask(**place, forecast_days=8)["error"].endswith("503: Service unavailable")
    finally:
        open_meteo.down = False
    first = ask(**place, forecast_days=8)
    assert len(first["daily"]["time"]) == 8 and relay.fetched == 1
    # The same place to two decimals (about a kilometre) is the same question.
    assert ask(**{**place, "latitude": 31.2301}, forecast_days=8) == first
    assert relay.fetched == 1

    # What HQ relays, the store reads as Open-Meteo's own answer; HQ's error is the store's.
    settings = new_settings("s1")
    settings.weather.latitude, settings.weather.longitude = 31.23, 121.47
    settings.weather.source = "hq"
    from hub.weather import source_of
    from tests.conftest import FakeClock

    with Store(":memory:", settings, FakeClock()) as store:
        source = source_of(store, lambda question, _timeout: relay.answer(
            json.dumps(question).encode()))
        assert source.forecast(8)[0].day == today
        with pytest.raises(WeatherUnavailable, match=r"HQ could not get it: .*not a time"):
            source_of(store, lambda _q, _t: {"error": "a bad weather question: timezone "
                                             "'x' is not a time zone"}).forecast(8)
        with pytest.raises(WeatherUnavailable, match="HQ did not answer"):
            source_of(store, lambda _q, _t: None).forecast(8)
        with pytest.raises(WeatherUnavailable, match="running hub asks over its link"):
            fetch_weather(store)  # `laoke weather fetch` from the shell: no link to ask over
