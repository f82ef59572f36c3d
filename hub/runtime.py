"""The running hub: one home, a store connection per thread, the event bus, the PIN cache.

Everything that serves requests gets its database through `Hub.store()`, so each worker
thread has its own SQLite connection and no connection is ever shared across threads.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .domain.campaigns import install_builtins
from .domain.clock import Clock, system_clock
from .domain.config import Settings, load_settings
from .domain.devices import add_device, device_for_token
from .domain.offers import install_default_offers
from .domain.staff import PinCache
from .domain.store import Store
from .events import EventBus
from .home import DB_NAME, ensure_home, home_key

if TYPE_CHECKING:  # cryptography loads only where a certificate is used
    from .tls import HubCertificate

CONSOLE_TOKEN = "console.token"


CLAIM_GUESSES, CLAIM_WINDOW_S = 5, 600.0  # wrong claim codes, then a wait


class RateLimiter:
    """At most `limit` attempts per key within `window` seconds (PIN and pairing guesses).

    An attempt is counted before it is checked (`attempt`), in the same lock as the limit,
    so guesses sent all at once cannot slip past it while the first ones are being checked;
    a right answer takes back only its own attempt (`succeeded`), never earlier wrong ones.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._attempts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._attempts.get(key, []) if now - t < self.window]
        if recent:
            self._attempts[key] = recent
        else:
            self._attempts.pop(key, None)
        return recent

    def attempt(self, key: str) -> float:
        """Count an attempt by `key` and return 0, or the seconds it must wait first (and
        then nothing is counted)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) >= self.limit:
                return max(0.0, self.window - (now - recent[0]))
            self._attempts[key] = [*recent, now]
            return 0.0

    def succeeded(self, key: str) -> None:
        """The attempt just counted was right: it does not count against `key`."""
        with self._lock:
            recent = self._attempts.get(key)
            if recent:
                recent.pop()


class RecentFinds:
    """Which guests each device found by an exact key lately: the guest stood at that tablet
    and gave their phone, card or QR, so for a while that waiter may open and seat them."""

    def __init__(self, window: float = 15 * 60) -> None:
        self.window = window
        self._found: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def remember(self, device_id: str, member_ids: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            mine = {m: t for m, t in self._found.get(device_id, {}).items()
                    if now - t < self.window}
            mine.update(dict.fromkeys(member_ids, now))
            self._found[device_id] = mine

    def found(self, device_id: str, member_id: str) -> bool:
        with self._lock:
            at = self._found.get(device_id, {}).get(member_id)
        return at is not None and time.monotonic() - at < self.window


class Hub:
    def __init__(self, home: Path, settings: Settings | None = None,
                 clock: Clock = system_clock) -> None:
        ensure_home(home)
        self.home = home
        self.key = home_key(home)  # read once: every thread's connection opens with it
        self.settings = settings or load_settings(home)
        self.clock = clock
        self.version = __version__
        self.events = EventBus(self.settings.store_id, clock)
        self.pins = PinCache()
        self.pin_guesses = RateLimiter(limit=5, window=300)
        # scrypt takes 16 MB and ~30 ms a hash: two at a time keep the hub within its memory
        # cap whatever arrives at once.
        self.pin_hashing = threading.BoundedSemaphore(2)
        self.pairing_guesses = RateLimiter(limit=10, window=60)  # per address
        self.lan_pairing_guesses = RateLimiter(limit=30, window=60)  # every address together
        self.tail_searches = RateLimiter(limit=10, window=600)  # per masked device
        # Delivery claim codes typed wrong: per device, and a kiosk's per address as well.
        self.claim_guesses = RateLimiter(limit=CLAIM_GUESSES, window=CLAIM_WINDOW_S)
        self.finds = RecentFinds()
        self.lan: Any = None  # the zeroconf registry, once discovery runs
        self.printing: Any = None  # the print queue, once the daemon runs it
        self.readers: Any = None  # the card reader service, once the daemon runs it
        self.sync: Any = None  # the HQ publisher, when a broker is configured
        self.campaigns: Any = None  # the campaign scheduler, once the daemon runs it
        self.weather: Any = None  # the weather cache's refresher, when a place is configured
        self.group_buy: Any = None  # the verifier of vouchers taken offline, when configured
        self.tls: HubCertificate | None = None  # the certificate, when the hub serves HTTPS
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Open (and migrate) now, so a bad database fails the start, not a request.
        install_builtins(self.store())
        install_default_offers(self.store())

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            # One thread uses it; the shutdown path closes it from another, after that thread.
            store = Store(self.home / DB_NAME, self.settings, self.clock,
                          check_same_thread=False, write_lock=self._write_lock, key=self.key)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def console_token(self) -> str:
        """The home's local owner credential, for the console on the hub's own machine."""
        path = self.home / CONSOLE_TOKEN
        if path.exists():
            token = path.read_text().strip()
            if device_for_token(self.store(), token) is not None:
                return token
        _, token = add_device(self.store(), "console (this hub)", "owner", actor="hub")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        return token

    def close(self) -> None:
        self.events.close()
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
