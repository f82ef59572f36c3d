"""The store's side of sync: drain the outbox to HQ, in seq order, and move an event out of
it only once every HQ it reports to says it has applied it; and pull, page by page, what the
other stores did.

paho keeps its session in memory only, so the SQLite outbox is the one durable queue: after
any reconnect everything past HQ's watermark is sent again, and HQ drops what it already has.
An acknowledged event is kept `[chain] sent_retention_days` more (`sent_events`), for an HQ
restored from a backup to ask for again. This hub sends nothing before HQ has issued it an
incarnation (its epoch), and stops, loudly, when HQ says another hub is the store now.
paho's callbacks only hand messages to this thread; nothing waits in them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub import __version__
from hub.domain.authority import STORED_VALUE
from hub.domain.clock import to_iso
from hub.domain.ids import new_id
from hub.domain.replica import EPOCH_KEY, INSTALL_KEY, WATERMARK_KEY, apply_page, feed_position
from hub.domain.store import Store
from hub.workers import ThreadWorker

from .protocol import (
    PROTOCOL,
    ack_topic,
    approval_topic,
    authorise_request,
    authorise_topic,
    dumps,
    events_topic,
    feed_topic,
    fitting,
    hello_topic,
    mqtt_client,
    pull_topic,
    resend_topic,
    status_topic,
    weather_days_topic,
    weather_topic,
    welcome_topic,
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
        self.answers = {approval_topic(self.store_id), weather_days_topic(self.store_id)}
        self.in_flight: deque[mqtt.MQTTMessageInfo] = deque()
        self.refused: str | None = None  # why the broker refuses what this store sends
        self.retry_at: float | None = None
        self.connected_at = 0.0
        self.ack_checked = False  # HQ's watermark is this hub's own (see _check_ack)
        self.second_writer: str | None = None  # until a person settles it and restarts
        self.install = ""  # this database's id (INSTALL_KEY), read in begin()
        self.epoch: int | None = None  # the incarnation HQ issued this hub, once it has
        self.welcomed = False  # HQ answered this connection's hello
        # Called each time HQ welcomes this hub (it is reachable again): the weather worker
        # asks HQ at once instead of waiting out its back-off.
        self.on_welcome: Callable[[], None] | None = None
        self.partitioned = False  # HQ's workers share the chain by partition (the welcome)
        self.older_hq: str | None = None  # HQ cannot read this hub's events: why

    def _status(self, online: bool) -> bytes:
        return dumps({"store": self.store_id, "online": online, "schema": PROTOCOL,
                      "version": __version__})

    # -- paho callbacks: hand over, never block ----------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("broker refused the store: %s", reason)
            return
        client.publish(status_topic(self.store_id), self._status(True), qos=1, retain=True)
        client.subscribe([(ack_topic(self.store_id), 1), (resend_topic(self.store_id), 1),
                          (feed_topic(self.store_id), 1), (approval_topic(self.store_id), 1),
                          (welcome_topic(self.store_id), 1),
                          (weather_days_topic(self.store_id), 1)])
        self.inbox.put("connected")

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        if message.topic in self.answers:  # wake the waiting till (or weather) at once
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
        reply = self._ask(authorise_topic(self.store_id), approval_topic(self.store_id),
                          authorise_request(member_id, amount, hold_id, asset), timeout)
        return reply if reply is not None and "approved" in reply else None

    def ask_weather(self, question: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Ask HQ for this store's weather (hub/weather.py, `HqWeather`), waiting up to
        `timeout` for the link too, since the weather worker may ask before it is up; None
        when HQ does not answer in time."""
        if not self.connected.wait(timeout):
            return None
        return self._ask(weather_topic(self.store_id), weather_days_topic(self.store_id),
                         question, timeout)

    def _ask(self, topic: str, reply_topic: str, question: dict[str, Any],
             timeout: float) -> dict[str, Any] | None:
        """One MQTT 5 request and its answer (a JSON object), matched by correlation data;
        None when none comes in `timeout`."""
        correlation = new_id().encode()
        done: threading.Event = threading.Event()
        answer: list[Any] = []
        self.waiting[correlation] = (done, answer)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = correlation
        try:
            self.client.publish(topic, dumps(question), qos=1, properties=props)
            if not done.wait(timeout):
                return None
        finally:
            self.waiting.pop(correlation, None)
        try:
            reply = json.loads(answer[0])
        except (ValueError, TypeError):
            return None
        return reply if isinstance(reply, dict) else None

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

    def acks(self) -> dict[str, int]:
        """What each HQ database acknowledged; a hub from before HQs had an identity knows
        only its watermark, under ""."""
        rows = self.store().conn.execute("SELECT hq_id, applied_seq FROM sync_hq_acks")
        return {r[0]: r[1] for r in rows} or {"": self.watermark()}

    def written(self) -> int:
        return int(self.store().scalar("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence "
                                       "WHERE name = 'outbox'"))

    def _hello(self) -> None:
        self.client.publish(hello_topic(self.store_id), dumps({
            "install": self.install, "epoch": self.epoch, "protocol": PROTOCOL,
            "acked": self.acks()}), qos=1)

    def _refuse(self, why: str) -> None:
        """Another hub is this store for HQ: send nothing, prune nothing, say why."""
        if self.second_writer is None:
            log.error("%s", why)
        self.last_error, self.last_error_at = why, time.time()
        self.second_writer = why
        self.connected.clear()

    def _welcome(self, body: dict[str, Any]) -> None:
        if body.get("install") != self.install:
            return  # HQ's answer to another hub saying it is this store
        if isinstance(body.get("refused"), str):
            self._refuse(body["refused"])
            return
        epoch, protocol = body.get("epoch"), body.get("protocol")
        self.partitioned = body.get("partitioned") is True
        self.older_hq = None
        if isinstance(protocol, int) and protocol < PROTOCOL:
            self.older_hq = (f"HQ reads protocol {protocol}, this hub speaks {PROTOCOL}: "
                             "nothing is sent until HQ is upgraded (it all waits here)")
            log.warning("%s", self.older_hq)
        else:
            self.welcomed = True  # an older HQ is asked again, to see it upgraded
            if self.on_welcome is not None:
                self.on_welcome()
        if isinstance(epoch, int) and not isinstance(epoch, bool) and self.epoch is None:
            store = self.store()
            with store.write():
                store.set_meta(EPOCH_KEY, str(epoch))
            self.epoch = epoch

    def _acknowledged(self, hq_id: str, applied: int, applied_id: Any) -> None:
        """Record the most this HQ acknowledged (less later means HQ went back to a backup:
        the pull tells it so); what every HQ has leaves the outbox for `sent_events`, and
        what every HQ has had for the retention is gone for good."""
        store = self.store()
        now = store.clock()
        cutoff = to_iso(now - timedelta(days=store.settings.chain.sent_retention_days))
        with store.write():
            store.conn.execute(
                "INSERT INTO sync_hq_acks (hq_id, applied_seq, applied_id, at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (hq_id) DO UPDATE SET applied_seq = "
                "max(applied_seq, excluded.applied_seq), applied_id = CASE WHEN "
                "excluded.applied_seq >= applied_seq THEN excluded.applied_id ELSE applied_id "
                "END, at = excluded.at",
                (hq_id, applied, applied_id if isinstance(applied_id, str) else None,
                 to_iso(now)))
            # An HQ silent for the whole retention (or the nameless one of an older HQ,
            # once HQ has a name) holds nothing back any more.
            store.conn.execute("DELETE FROM sync_hq_acks WHERE hq_id <> ? AND (at < ? OR "
                               "hq_id = '')", (hq_id, cutoff))
            everyone = int(store.scalar("SELECT MIN(applied_seq) FROM sync_hq_acks"))
            if everyone > self.watermark():
                store.set_meta(WATERMARK_KEY, str(everyone))
            store.conn.execute(
                "INSERT OR IGNORE INTO sent_events (seq, id, store_id, type, ts, data, "
                "acked_at) SELECT seq, id, store_id, type, ts, data, ? FROM outbox "
                "WHERE seq <= ?", (to_iso(now), everyone))
            store.conn.execute("DELETE FROM outbox WHERE seq <= ?", (everyone,))
            store.conn.execute("DELETE FROM sent_events WHERE acked_at <= ?", (cutoff,))

    def _handle(self, message: Any) -> None:
        if message == "connected":
            self.next_seq = self.watermark() + 1  # resend whatever HQ has not applied
            self.in_flight.clear()
            self.retry_at = None
            self.connected_at, self.ack_checked = time.monotonic(), False
            self.welcomed = False
            if self.second_writer is None:
                self.connected.set()
            self._hello()
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
        if not isinstance(body, dict):
            log.warning("ignoring a message on %s that is not an object", message.topic)
            return
        if message.topic == welcome_topic(self.store_id):
            self._welcome(body)
        elif message.topic == ack_topic(self.store_id):
            applied, applied_id, hq_id = (body.get("applied_seq"), body.get("applied_id"),
                                          body.get("hq"))
            if isinstance(applied, int) and self._check_ack(applied, applied_id,
                                                            body.get("epoch")):
                self._acknowledged(hq_id if isinstance(hq_id, str) else "", applied,
                                   applied_id)
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

    def _own_id(self, seq: int) -> str | None:
        """The id of this hub's event at `seq`, while it still holds it."""
        found = self.store().scalar("SELECT id FROM outbox WHERE seq = ?1 UNION ALL "
                                    "SELECT id FROM sent_events WHERE seq = ?1", (seq,))
        return None if found is None else str(found)

    def _check_ack(self, applied: int, applied_id: Any, epoch: Any) -> bool:
        """Whether HQ's watermark is about this hub's own events. A restore gave the store
        to another hub (HQ's epoch is newer than this hub's), or another hub numbers events
        under this store id (a cloned card): HQ holds seqs this hub never wrote, or wrote
        as other events. Then this hub sends nothing and prunes nothing, and says why,
        until a person settles it. An ack from before this hub's incarnation is stale."""
        if isinstance(epoch, int) and self.epoch is not None and epoch != self.epoch:
            if epoch > self.epoch:
                self._refuse(f"this hub was replaced: HQ knows store {self.store_id!r} as "
                             f"incarnation {epoch} (a restore), this hub is incarnation "
                             f"{self.epoch}; it sends and prunes nothing: stop it")
            return False
        mine = self._own_id(applied)
        if applied <= self.written() and (mine is None or applied_id in (None, mine)):
            self.ack_checked = True
            return True
        self._refuse(f"HQ holds events of another hub writing as store {self.store_id!r} "
                     f"(its seq {applied} is not this hub's): stop one of them; this hub "
                     "sends and prunes nothing until then")
        return False

    def _pull(self) -> None:
        """Ask HQ for the next page of other stores' changes after what we have applied."""
        self.last_pull = time.monotonic()
        store = self.store()
        self.client.publish(pull_topic(self.store_id), dumps({
            "after": feed_position(store), "acked": self.acks(), "top": self.written(),
            # for HQ's fleet view: this store's clock, and what waits for a person here
            "ts": store.now_iso(),
            "conflicts": store.scalar("SELECT COUNT(*) FROM sync_conflicts")}), qos=1)

    def _send_batch(self) -> bool:
        """The next batch from `next_seq`, out of the outbox or, for an HQ that asks again,
        out of what is kept once sent; what is no longer kept is named (`gone`), so HQ can
        raise its alarm and take the rest."""
        if not self.connected.is_set() or self.next_seq is None or self.epoch is None or \
                self.older_hq is not None:
            return False
        if not self.ack_checked and time.monotonic() - self.connected_at < ACK_WAIT_S:
            return False  # HQ's retained watermark comes first, if HQ knows this store
        while self.in_flight and self.in_flight[0].is_published():
            self.in_flight.popleft()
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            return False
        conn = self.store().conn
        # One snapshot for the rows and the newest seq: read apart, a checkout committing in
        # between made its event look written yet missing, and it was sent to HQ as gone.
        conn.execute("BEGIN")
        try:
            rows = conn.execute(
                "SELECT seq, id, store_id, type, ts, data FROM sent_events WHERE seq >= ?1 "
                "UNION ALL SELECT seq, id, store_id, type, ts, data FROM outbox WHERE seq >= ?1 "
                "ORDER BY seq LIMIT ?2", (self.next_seq, BATCH)).fetchall()
            written = self.written()
        finally:
            conn.execute("COMMIT")
        first = rows[0]["seq"] if rows else written + 1
        if first == self.next_seq and not rows:
            return False
        batch: dict[str, Any] = {"schema": PROTOCOL, "store": self.store_id,
                                 "epoch": self.epoch, "prev": self._own_id(first - 1),
                                 "acked": self.acks()}
        if first > self.next_seq:
            batch["gone"] = [self.next_seq, first - 1]
        batch["events"] = fitting([
            {"store": r["store_id"], "seq": r["seq"], "id": r["id"], "type": r["type"],
             "ts": r["ts"], "data": json.loads(r["data"]), "epoch": self.epoch} for r in rows])
        properties = Properties(PacketTypes.PUBLISH)
        properties.ContentType = "application/json"
        self.in_flight.append(self.client.publish(
            events_topic(self.store_id, self.partitioned), dumps(batch), qos=1,
            properties=properties))
        self.next_seq = batch["events"][-1]["seq"] + 1 if batch["events"] else first
        return True

    def begin(self) -> None:
        store = self.store()
        with store.write():
            if store.meta(INSTALL_KEY) is None:
                store.set_meta(INSTALL_KEY, new_id())
        self.install = str(store.meta(INSTALL_KEY))
        epoch = store.meta(EPOCH_KEY)
        self.epoch = int(epoch) if epoch else None
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
            if not self.welcomed:  # HQ was not listening yet: say it again
                self._hello()
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
                "refused": self.second_writer or self.refused or self.older_hq,
                "in_flight": len(self.in_flight), "epoch": self.epoch,
                "hq_applied_seq": self.watermark(), "backlog": self.backlog()}
