"""Shared fixtures: a real SQLite store in a temporary folder, with a clock the test drives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.domain.config import Settings, new_settings
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from tests.support.broker import Mosquitto
from tests.support.browser import browser, page  # noqa: F401 - shared Chromium fixtures
from tests.support.hubproc import RunningHub
from tests.support.postgres import Postgres
from tests.support.standins import Gateway, Mailbox

START = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)  # 12:30 in Shanghai, a Wednesday lunch


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    return settings


@pytest.fixture
def store(tmp_path: Path, settings: Settings, clock: FakeClock) -> Iterator[Store]:
    with Store(tmp_path / "laoke.db", settings, clock) as opened:
        yield opened


@pytest.fixture
def guest(store: Store) -> dict:
    return add_member(store, NewMember(name="王芳", phone="138 0013 8000", birthday="1990-05-01",
                                       allergies=["对虾"], spice_level="mild",
                                       avoid=["花椒"], marketing_consent=True))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL server for the test process, started by the first test that
    needs it."""
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def hq_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """HQ's database on each engine: a test that takes it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "hq.db"
    server: Postgres = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[RunningHub]:
    hub = RunningHub(tmp_path / "home").start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    hub = RunningHub(tmp_path_factory.mktemp("hub") / "home").start()
    yield hub
    hub.stop()


@pytest.fixture
def api(shared_hub: RunningHub) -> Iterator[httpx.Client]:
    """The owner's client on the module's hub."""
    with shared_hub.client() as client:
        yield client


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """An SMS gateway on 127.0.0.1 that records what it was sent."""
    running = Gateway()
    yield running
    running.close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A mail server on 127.0.0.1 that keeps what it was sent."""
    from aiosmtpd.controller import Controller

    from hub.ports import free_port

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(autouse=True, scope="session")
def no_store_settings_from_the_shell() -> Iterator[None]:
    """A developer's shell may name a store (LAOKE_STORE_ID, ...); no test inherits it."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LAOKE_")}
    yield
    os.environ.update(saved)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port, for this test alone."""
    running = Mosquitto(tmp_path / "broker").start()
    yield running
    running.stop()
