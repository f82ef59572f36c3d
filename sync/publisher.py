"""The store's side of sync: drain the outbox to HQ, in seq order, and prune it only up to
what HQ says it has applied; and pull, page by page, what the other stores did.

paho keeps its session in memory only, so the SQLite outbox is the one durable queue: after
any reconnect everything past HQ's watermark is sent again, and HQ drops what it already has
by (store, seq). paho's callbacks only hand messages to this thread; nothing waits in them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.domain.authority import STORED_VALUE
from hub.domain.ids import new_id
from hub.domain.replica import WATERMARK_KEY, apply_page, feed_position
from hub.domain.store import Store
from hub.workers import ThreadWorker

from .protocol import (
    SCHEMA,
    ack_topic,
    approval_topic,
    authorise_request,
    authorise_topic,
    dumps,
    events_topic,
    feed_topic,
    fitting,
    mqtt_client,
    pull_topic,
    resend_topic,
    status_topic,
)

log = logging.getLogger(__name__)
BATCH = 200
PULL_EVERY_S = 2.0
MAX_IN_FLIGHT = 8  # batches sent and not yet acknowledged by the broker: a week's backlog
# waits in the outbox, not in memory
REFUSED_RETRY_S = 30.0  # after the broker refused what we sent (a wrong user, an ACL)
ACK_WAIT_S = 3.0  # after connecting, for HQ's retained watermark before sending anything


class Publisher(ThreadWorker):
    """The hub's sync worker (hub.workers): set `wake` when the outbox grew."""

    name = "sync"

    def __init__(self, store: Callable[[], Store], client_id: str | None = None) -> None:
        super().__init__()
        self.store = store
        settings = store().settings
        self.store_id = settings.store_id
        broker = settings.broker
        self.client, self.broker = mqtt_client(
            client_id or f"laoke-store-{self.store_id}", broker.url, broker.username,
            broker.password, broker.tls, broker.ca_file)
        self.client.will_set(status_topic(self.store_id), self._status(False), qos=1,
                             retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.next_seq: int | None = None
        self.last_pull = 0.0
        self.waiting: dict[bytes, tuple[threading.Event, list[Any]]] = {}
        self.in_flight: deque[mqtt.MQTTMessageInfo] = deque()
        self.refused: str | None = None  # why the broker refuses what this store sends
        self.retry_at: float | None = None
        self.connected_at = 0.0
        self.ack_checked = False  # HQ's watermark is this hub's own (see _check_ack)
        self.second_writer: str | None = None  # until a person settles it and restarts

    def _status(self, online: bool) -> bytes:
        return dumps({"store": self.store_id, "online": online, "schema": SCHEMA})

    # -- paho callbacks: hand over, never block ----------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("broker refused the store: %s", reason)
            return
        client.publish(status_topic(self.store_id), self._status(True), qos=1, retain=True)
        client.subscribe([(ack_topic(self.store_id), 1), (resend_topic(self.store_id), 1),
                          (feed_topic(self.store_id), 1), (approval_topic(self.store_id), 1)])
        self.inbox.put("connected")

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        if message.topic == approval_topic(self.store_id):  # wake the waiting till at once
            correlation = getattr(message.properties, "CorrelationData", None)
            waiter = self.waiting.get(bytes(correlation or b""))
            if waiter is not None:
                waiter[1].append(message.payload)
                waiter[0].set()
            return
        self.inbox.put(message)

    def reachable(self) -> bool:
        return self.connected.is_set()

    def authorise(self, member_id: str, amount: int, timeout: float, hold_id: str,
                  asset: str = STORED_VALUE.name) -> dict[str, Any] | None:
        """Ask HQ to approve a spend of stored value or points under the store's `hold_id`
        (the chain's rule: hub/domain/authority.py); None when HQ cannot answer in time
        (the caller then spends from this store's slice, or not at all)."""
        if not self.connected.is_set():
            return None
        correlation = new_id().encode()
        done: threading.Event = threading.Event()
        answer: list[Any] = []
        self.waiting[correlation] = (done, answer)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = approval_topic(self.store_id)
        props.CorrelationData = correlation
        try:
            self.client.publish(authorise_topic(self.store_id),
                                dumps(authorise_request(member_id, amount, hold_id, asset)),
                                qos=1, properties=props)
            if not done.wait(timeout):
                return None
        finally:
            self.waiting.pop(correlation, None)
        try:
            reply = json.loads(answer[0])
        except (ValueError, TypeError):
            return None
        return reply if isinstance(reply, dict) and "approved" in reply else None

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _reason: Any, _p: Any = None) -> None:
        self.connected.clear()

    def _on_publish(self, _c: Any, _u: Any, _mid: int, reason: Any, _p: Any = None) -> None:
        """A PUBACK with a failure (0x87 not authorised: the broker user is not this store's
        id, or the ACL is wrong) means nothing reaches HQ: the store is not connected."""
        if getattr(reason, "is_failure", False):
            why = (f"the broker refused what this store sent: {reason} (is the broker user "
                   f"this store's id, {self.store_id!r}?)")
            self.last_error, self.last_error_at = why, time.time()
            self.refused = why
            self.connected.clear()
            self.inbox.put("refused")
        elif self.refused is not None:
            self.refused = None

    # -- the worker ------------------------------------------------------------------------

    def watermark(self) -> int:
        return int(self.store().meta(WATERMARK_KEY) or 0)

    def backlog(self) -> int:
        return int(self.store().scalar("SELECT COUNT(*) FROM outbox"))

    def _handle(self, message: Any) -> None:
        if message == "connected":
            self.next_seq = self.watermark() + 1  # resend whatever HQ has not applied
            self.in_flight.clear()
            self.retry_at = None
            self.connected_at, self.ack_checked = time.monotonic(), False
            if self.second_writer is None:
                self.connected.set()
            self._pull()
            return
        if message == "refused":
            log.warning("%s", self.refused)
            self.retry_at = time.monotonic() + REFUSED_RETRY_S
            return
        try:
            body = json.loads(message.payload)
        except (ValueError, TypeError):
            log.warning("ignoring a malformed message on %s", message.topic)
            return
        if message.topic == ack_topic(self.store_id):
            applied = body.get("applied_seq")
            if not isinstance(applied, int) or not self._check_ack(applied,
                                                                    body.get("applied_id")):
                return
            if applied > self.watermark():
                store = self.store()
                with store.write():
                    store.set_meta(WATERMARK_KEY, str(applied))
                    store.conn.execute("DELETE FROM outbox WHERE seq <= ?", (applied,))
        elif message.topic == feed_topic(self.store_id):
            events, position = body.get("events"), body.get("position")
            if isinstance(events, list) and isinstance(position, int) and \
                    position >= feed_position(self.store()):
                apply_page(self.store(), [e for e in events if isinstance(e, dict)], position)
                if body.get("more"):
                    self._pull()
        elif message.topic == resend_topic(self.store_id):
            start = body.get("from_seq")
            if isinstance(start, int) and start > 0:
                self.next_seq = min(self.next_seq or start, start)

    def _check_ack(self, applied: int, applied_id: Any) -> bool:
        """Whether HQ's watermark is about this hub's own events. Another hub numbering
        events under this store id (a cloned card, a restore while the old hub was only cut
        off) makes HQ hold seqs this hub never wrote, or wrote as other events: then this
        hub sends nothing and prunes nothing, and says why, until a person settles it."""
        store = self.store()
        written = int(store.scalar("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence "
                                   "WHERE name = 'outbox'"))
        mine = store.scalar("SELECT id FROM outbox WHERE seq = ?", (applied,))
        if applied <= written and (mine is None or applied_id in (None, mine)):
            self.ack_checked = True
            return True
        why = (f"HQ holds events of another hub writing as store {self.store_id!r} (its seq "
               f"{applied} is not this hub's): stop one of them; this hub sends and prunes "
               "nothing until then")
        log.error("%s", why)
        self.last_error, self.last_error_at = why, time.time()
        self.second_writer = why
        self.connected.clear()
        return False

    def _pull(self) -> None:
        """Ask HQ for the next page of other stores' changes after what we have applied."""
        self.last_pull = time.monotonic()
        self.client.publish(pull_topic(self.store_id),
                            dumps({"after": feed_position(self.store())}), qos=1)

    def _send_batch(self) -> bool:
        if not self.connected.is_set() or self.next_seq is None:
            return False
        if not self.ack_checked and time.monotonic() - self.connected_at < ACK_WAIT_S:
            return False  # HQ's retained watermark comes first, if HQ knows this store
        while self.in_flight and self.in_flight[0].is_published():
            self.in_flight.popleft()
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            return False
        rows = self.store().conn.execute(
            "SELECT seq, id, store_id, type, ts, data FROM outbox WHERE seq >= ? "
            "ORDER BY seq LIMIT ?", (self.next_seq, BATCH)).fetchall()
        if not rows:
            return False
        events = fitting([{"store": r["store_id"], "seq": r["seq"], "id": r["id"],
                           "type": r["type"], "ts": r["ts"], "data": json.loads(r["data"])}
                          for r in rows])
        properties = Properties(PacketTypes.PUBLISH)
        properties.ContentType = "application/json"
        self.in_flight.append(self.client.publish(
            events_topic(self.store_id),
            dumps({"schema": SCHEMA, "store": self.store_id, "events": events}), qos=1,
            properties=properties))
        self.next_seq = events[-1]["seq"] + 1
        return True

    def begin(self) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=15,
                                  clean_start=False)
        self.client.loop_start()

    def step(self, stop: threading.Event) -> float:
        """Handle what arrived, pull when due, send the next batch. A message whose handling
        fails is gone from the inbox; what it carried comes again (the next pull, the
        retained ack, HQ's resend)."""
        try:
            while not stop.is_set():
                self._handle(self.inbox.get_nowait())
        except queue.Empty:
            pass
        if self.retry_at is not None and time.monotonic() >= self.retry_at and \
                self.client.is_connected():
            self.retry_at = None
            self.inbox.put("connected")  # try again: somebody may have fixed the broker
        if self.connected.is_set() and time.monotonic() - self.last_pull > PULL_EVERY_S:
            self._pull()
        # New outbox rows come from other threads and processes: look again soon.
        return 0.0 if self._send_batch() else 0.02

    def end(self) -> None:
        if self.connected.is_set():
            self.client.publish(status_topic(self.store_id), self._status(False), qos=1,
                                retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "connected": self.connected.is_set(),
                "refused": self.second_writer or self.refused,
                "in_flight": len(self.in_flight),
                "hq_applied_seq": self.watermark(), "backlog": self.backlog()}
