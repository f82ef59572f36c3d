"""zeroconf: the hub announces itself and keeps a registry of what it finds on the LAN.

A device is keyed by its mDNS service instance name, so a printer seen twice (or on two
interfaces) is one printer; going and coming back flips it offline and online.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ifaddr
from zeroconf import (
    InterfaceChoice,
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .domain.config import Settings
from .runtime import Hub

if TYPE_CHECKING:  # cryptography loads only where a certificate is used
    from .tls import HubCertificate

log = logging.getLogger(__name__)
HUB_TYPE = "_laoke._tcp.local."
HTTP_TYPE = "_http._tcp.local."
BROWSED = {"_laoke-tablet._tcp.local.": "tablet", "_pdl-datastream._tcp.local.": "printer",
           HUB_TYPE: "hub"}
RESOLVE_MS = 3000


def parse_interfaces(chosen: str) -> list[str] | None:
    """None means every interface ("all" or nothing); else the comma-separated addresses."""
    if chosen.strip() in ("", "all"):
        return None
    return [part.strip() for part in chosen.split(",") if part.strip()]


def interfaces_of(settings: Settings) -> list[str] | None:
    return parse_interfaces(settings.discovery.interfaces)


def zeroconf_interfaces(addresses: list[str] | None) -> list[str] | InterfaceChoice:
    """What zeroconf takes for "these addresses, else every interface".

    zeroconf 0.154 refused the string "all" it used to accept, and the hub died at start-up
    on every store's default settings; the enum is what every version takes.
    """
    return addresses or InterfaceChoice.All


def lan_addresses(only: list[str] | None = None) -> list[str]:
    """This machine's IPv4 addresses that devices can reach (loopback only if asked for)."""
    if only:
        return only
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return found or ["127.0.0.1"]


def base_url(settings: Settings) -> str:
    """How a tablet on the LAN reaches this hub."""
    address = lan_addresses(interfaces_of(settings))[0]
    scheme = "https" if settings.api.tls else "http"
    return f"{scheme}://{address}:{settings.api.port}"


def hub_certificate(home: Path, settings: Settings) -> HubCertificate | None:
    """The home's certificate when it serves HTTPS (made the first time, for the addresses
    tablets reach it on), else None."""
    if not settings.api.tls:
        return None
    from .tls import ensure_certificate

    return ensure_certificate(home, settings.store_id, lan_addresses(interfaces_of(settings)))


def _decode(properties: dict[bytes, bytes | None]) -> dict[str, str]:
    return {k.decode(errors="replace"): (v or b"").decode(errors="replace")
            for k, v in properties.items()}


class LanRegistry:
    """A worker on the event loop (hub.workers): its start and stop are coroutines."""

    name = "discovery"

    def __init__(self, hub: Hub, port: int) -> None:
        self.hub = hub
        self.port = port
        self.interfaces = interfaces_of(hub.settings)
        store_id = hub.settings.store_id
        self.instance = f"laoke-{store_id}"
        self.host = f"laoke-{store_id}.local."
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._services: list[AsyncServiceInfo] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.failures = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def _service(self, type_: str) -> AsyncServiceInfo:
        addresses = [socket.inet_aton(a) for a in lan_addresses(self.interfaces)]
        settings = self.hub.settings
        tls = {"tls": "1", "pin": self.hub.tls.pin} if self.hub.tls else {}
        return AsyncServiceInfo(
            type_, f"{self.instance}.{type_}", addresses=addresses, port=self.port,
            server=self.host,
            properties={"store_id": settings.store_id, "store_name": settings.store_name,
                        "version": self.hub.version, "api": "/api/v1", "port": str(self.port),
                        "path": "/tablet", **tls})

    async def start(self) -> None:
        await asyncio.to_thread(self._mark_all_offline)
        self._zeroconf = AsyncZeroconf(interfaces=zeroconf_interfaces(self.interfaces),
                                       ip_version=IPVersion.V4Only)
        for type_ in (HUB_TYPE, HTTP_TYPE):
            info = self._service(type_)
            await self._zeroconf.async_register_service(info, allow_name_change=True)
            self._services.append(info)
        self._browser = AsyncServiceBrowser(self._zeroconf.zeroconf, list(BROWSED),
                                            handlers=[self._on_change])
        self._started = True

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        if self._browser is not None:
            await self._browser.async_cancel()
        for task in list(self._tasks):
            task.cancel()
        await self._zeroconf.async_unregister_all_services()
        await self._zeroconf.async_close()
        self._zeroconf = None

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        """Called on zeroconf's loop: hand the work to a task, never block here."""
        if name.startswith(self.instance + "."):
            return
        task = asyncio.ensure_future(self._handle(service_type, name, state_change))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A device that could not be recorded is logged and kept as the last error; the
        registry carries on with the next one."""
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("discovery could not record a device", exc_info=error)
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}"
            self.last_error_at = time.time()

    def state(self) -> dict[str, Any]:
        running = self._zeroconf is not None
        return {"name": self.name,
                "state": "running" if running else "stopped" if self._started else
                "not started", "failures": self.failures, "last_error": self.last_error,
                "last_error_at": self.last_error_at}

    async def _handle(self, service_type: str, name: str, change: ServiceStateChange) -> None:
        kind = BROWSED[service_type]
        if change is ServiceStateChange.Removed:
            if await asyncio.to_thread(self._set_offline, name):
                self.hub.events.publish("lan_device.offline", {"id": name, "kind": kind})
            return
        assert self._zeroconf is not None
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zeroconf.zeroconf, RESOLVE_MS):
            return
        device = {"id": name, "kind": kind, "name": name.removesuffix("." + service_type),
                  "addresses": info.parsed_addresses(), "port": info.port,
                  "properties": _decode(info.properties)}
        came_online = await asyncio.to_thread(self._upsert, device)
        if came_online:
            self.hub.events.publish("lan_device.online", device)

    # -- the registry in the store's database (run in worker threads) -----------------------

    def _mark_all_offline(self) -> None:
        store = self.hub.store()
        with store.write():
            store.conn.execute("UPDATE lan_devices SET online = 0")

    def _upsert(self, device: dict[str, Any]) -> bool:
        store = self.hub.store()
        now = store.now_iso()
        with store.write():
            before = store.one("SELECT online FROM lan_devices WHERE id = ?", (device["id"],))
            store.conn.execute(
                "INSERT INTO lan_devices (id, kind, name, addresses, port, properties, "
                "first_seen_at, last_seen_at, online) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (id) DO UPDATE SET addresses = excluded.addresses, "
                "port = excluded.port, properties = excluded.properties, "
                "last_seen_at = excluded.last_seen_at, online = 1",
                (device["id"], device["kind"], device["name"], json.dumps(device["addresses"]),
                 device["port"], json.dumps(device["properties"], ensure_ascii=False), now, now))
        return before is None or not before["online"]

    def _set_offline(self, name: str) -> bool:
        store = self.hub.store()
        with store.write():
            cursor = store.conn.execute(
                "UPDATE lan_devices SET online = 0, last_seen_at = ? WHERE id = ? AND online = 1",
                (store.now_iso(), name))
        return cursor.rowcount > 0

    def list(self) -> list[dict[str, Any]]:
        rows = self.hub.store().conn.execute(
            "SELECT * FROM lan_devices ORDER BY kind, name").fetchall()
        return [{**dict(r), "addresses": json.loads(r["addresses"]),
                 "properties": json.loads(r["properties"]), "online": bool(r["online"])}
                for r in rows]

    def count_online(self) -> int:
        return int(self.hub.store().scalar("SELECT COUNT(*) FROM lan_devices WHERE online = 1"))


def find_hubs(timeout: float = 3.0, interfaces: list[str] | None = None) -> list[dict[str, Any]]:
    """Hubs announcing themselves on the LAN: what the console uses when given no URL."""
    zeroconf = Zeroconf(interfaces=zeroconf_interfaces(interfaces), ip_version=IPVersion.V4Only)
    found: dict[str, dict[str, Any]] = {}
    names: list[str] = []

    def on_change(zeroconf: Zeroconf, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            names.append(name)

    browser = ServiceBrowser(zeroconf, HUB_TYPE, handlers=[on_change])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not names:
            time.sleep(0.05)
        time.sleep(0.5)  # let the other hubs answering the same query arrive too
        for name in list(names):
            info = ServiceInfo(HUB_TYPE, name)
            if info.request(zeroconf, RESOLVE_MS):
                properties = _decode(info.properties)
                address = info.parsed_addresses()[0]
                # what the hub says of itself; a client with a pin checks the key itself
                scheme = "https" if properties.get("tls") == "1" else "http"
                found[name] = {"name": name, "store_id": properties.get("store_id"),
                               "url": f"{scheme}://{address}:{info.port}",
                               "pin": properties.get("pin"),
                               "version": properties.get("version")}
    finally:
        browser.cancel()
        zeroconf.close()
    return list(found.values())
