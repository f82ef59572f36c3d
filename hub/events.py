"""The hub's live event stream: what tablets and consoles see the moment it happens.

Publishers are request threads, reader threads and the print queue; subscribers are asyncio
tasks serving server-sent events. A short history lets a tablet that slept (or lost Wi-Fi)
resume with `Last-Event-ID` without missing a check-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .domain.clock import Clock, system_clock, to_iso

HISTORY = 1000
QUEUE_LIMIT = 1000


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def offer(self, event: dict[str, Any] | None) -> None:
        """Runs on the subscriber's loop; a consumer too slow to keep up is cut off."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventBus:
    def __init__(self, store_id: str, clock: Clock = system_clock) -> None:
        self.store_id = store_id
        self.clock = clock
        self._ids = itertools.count(1)
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

    def publish(self, type_: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Safe from any thread; never blocks on a slow subscriber."""
        with self._lock:
            event = {"id": next(self._ids), "type": type_, "ts": to_iso(self.clock()),
                     "store_id": self.store_id, "data": data}
            self._history.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.offer, event)
            except RuntimeError:  # its loop is closed: the client is gone
                self.unsubscribe(subscriber)
        return event

    def forget(self, *keys: str) -> None:
        """After an erasure: no replay (`Last-Event-ID`) sends the guest again. Events that
        name any of `keys` (the guest's id, their print jobs' ids) keep their id and type, so
        a resuming tablet sees no gap, but lose their data."""
        def mentions(event: dict[str, Any]) -> bool:
            text = json.dumps(event["data"], default=str)
            return any(key in text for key in keys)

        with self._lock:
            self._history = deque(
                ({**event, "data": {"redacted": True}} if mentions(event) else event
                 for event in self._history), maxlen=HISTORY)

    def subscribe(self, last_id: int | None = None) -> Subscriber:
        """Must be called on the subscriber's event loop."""
        subscriber = Subscriber(asyncio.get_running_loop())
        with self._lock:
            if last_id is not None:
                for event in self._history:
                    if event["id"] > last_id:
                        subscriber.queue.put_nowait(event)
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def close(self) -> None:
        """Ends every stream (on shutdown) so clients reconnect to the next hub process."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscriber in subscribers:
            with contextlib.suppress(RuntimeError):
                subscriber.loop.call_soon_threadsafe(subscriber.offer, None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
