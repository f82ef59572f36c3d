"""`laoke hub run`: the process that serves the store all day.

uvicorn owns the signals: on SIGTERM it stops accepting, lets requests in flight finish (each
is one SQLite transaction, so nothing is ever half written), then the lifespan stops the
workers (hub.workers) in reverse order and the database closes.
"""

from __future__ import annotations

import signal
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from printer.queue import PrintQueue
from sync.publisher import Publisher

from .api.app import create_app
from .api.plain import SchemeGate, one_port_protocol
from .discovery import LanRegistry, hub_certificate
from .domain.config import Settings, load_settings, parse_settings
from .home import VIRTUAL_SPOOL, ensure_home
from .hublock import announce, hold
from .messaging import channels_from
from .readers.service import Reader
from .runtime import Hub
from .scheduler import CampaignScheduler
from .workers import start_all, stop_all, workers_of


def hub_settings(home: Path, overrides: dict[str, Any]) -> Settings:
    """The home's settings with command-line flags on top, validated together."""
    ensure_home(home, overrides.get("store_id"))
    data = load_settings(home).model_dump(mode="json")
    for key, value in overrides.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return parse_settings(data, "command line")


def build(home: Path, overrides: dict[str, Any]) -> tuple[Hub, FastAPI]:
    hub = Hub(home, hub_settings(home, overrides))
    hub.console_token()
    hub.tls = hub_certificate(home, hub.settings)
    app = create_app(hub)
    hub.printing = PrintQueue(hub.store, home / VIRTUAL_SPOOL,
                              on_change=lambda job: hub.events.publish("print.job", job))
    hub.readers = [Reader(r, hub.store, hub.events.publish) for r in hub.settings.readers]
    if hub.settings.broker.url:
        hub.sync = Publisher(hub.store)
    hub.campaigns = CampaignScheduler(
        hub.store, channels_from(hub.settings.messaging),
        on_run=lambda run: hub.events.publish("campaign.ran", run))
    if hub.settings.weather.configured:
        from .weather import WeatherWorker

        hub.weather = WeatherWorker(hub.store,
                                    None if hub.sync is None else hub.sync.ask_weather)
        if hub.sync is not None and hub.settings.weather.source == "hq":
            hub.sync.on_welcome = hub.weather.wake.set
    if hub.settings.group_buy.url:
        from .groupbuy import VoucherVerifier

        hub.group_buy = VoucherVerifier(hub.store)
    api = hub.settings.api
    if hub.settings.discovery.enabled:
        hub.lan = LanRegistry(hub, api.port)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        workers = workers_of(hub)
        await start_all(workers)
        try:
            yield
        finally:
            hub.events.close()
            await stop_all(workers)

    app.router.lifespan_context = lifespan
    return hub, app


class HubServer(uvicorn.Server):
    """Ends the live event streams as soon as a stop is asked for.

    uvicorn waits for open connections before it shuts down, and an event stream never ends
    by itself; closing the streams first keeps a SIGTERM stop quick.
    """

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.hub.events.close()
        super().handle_exit(sig, frame)


def run_hub(home: Path, overrides: dict[str, Any], echo: Any = print) -> None:
    home.mkdir(parents=True, exist_ok=True)
    lock = hold(home)  # before the home may take a new store id: never under a running hub
    ensure_home(home, overrides.get("store_id"))
    hub, app = build(home, overrides)
    settings = hub.settings
    # With TLS the one port speaks both (hub.api.plain): HTTPS for everything, plain HTTP
    # for /health and a redirect. Proxy headers are off: the scheme must be the connection's.
    served: Any = app
    http: Any = "httptools"
    if hub.tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(hub.tls.cert_file, hub.tls.key_file)
        served, http = SchemeGate(app, settings.api.port), one_port_protocol(context)
    server = HubServer(uvicorn.Config(
        served, host=settings.api.host, port=settings.api.port, log_level="warning",
        http=http, loop="uvloop", timeout_graceful_shutdown=10, access_log=False,
        proxy_headers=False), hub)
    scheme = "https" if hub.tls else "http"
    local_host = "127.0.0.1" if settings.api.host in ("0.0.0.0", "::") else settings.api.host
    announce(lock, f"{scheme}://{local_host}:{settings.api.port}")
    echo(f"laoke hub: store {settings.store_id} on {scheme}://{settings.api.host}:"
         f"{settings.api.port} (home {home})")
    if hub.tls:
        echo(f"laoke hub: TLS key {hub.tls.pin}; plain HTTP on the same port for /health "
             "and a redirect")
    # uvicorn re-raises the stop signal once its graceful shutdown is done; a no-op handler
    # underneath lets the hub finish closing and exit 0, as systemd expects of a clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        hub.close()
        lock.close()
        echo("laoke hub: stopped")
