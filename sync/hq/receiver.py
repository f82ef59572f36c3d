"""HQ's receiver: the MQTT 5 link to the broker (paho only); the books decide everything."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.domain.authority import POINTS, STORED_VALUE
from hub.workers import ThreadWorker

from ..protocol import (
    HQ_GROUP,
    PARTITIONS,
    PREFIX,
    ack_topic,
    approval_topic,
    dumps,
    events_topic,
    feed_topic,
    history_topic,
    mqtt_client,
    partition_filter,
    partition_of,
    read_authorise_request,
    resend_topic,
    store_of,
    weather_days_topic,
    welcome_topic,
)
from .book import DeadLetter, HqBook
from .partitions import Leases
from .weather import WeatherRelay

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker keeps what stores send to a gone HQ
LEASE_TICK_S = 1.0  # how often a partitioned worker takes its share, and a dead one's
REQUESTS = [f"$share/{HQ_GROUP}/{PREFIX}/stores/+/{kind}"
            for kind in ("pull", "restore", "hello", "authorise", "weather")]
STATUS = f"{PREFIX}/stores/+/status"  # every worker hears every store's, on its request link


class Receiver(ThreadWorker):
    """`laoke hq run`: one of possibly several receivers on a shared subscription."""

    name = "hq receiver"

    def __init__(self, book: HqBook, broker_url: str, username: str = "", password: str = "",
                 client_id: str = "laoke-hq", ca_file: str = "",
                 slice_fen: int = 20_000, slice_points: int = 1_000,
                 partitioned: bool = False, weather: WeatherRelay | None = None) -> None:
        """`partitioned`: share the chain with the other workers on this PostgreSQL book by
        partition (sync/hq/partitions.py) rather than by one shared subscription.
        `weather`: the relay that answers the stores' weather questions (else they are told
        this HQ relays none)."""
        super().__init__()
        self.book = book
        self.weather = weather
        if partitioned and book.conn.engine != "postgresql":
            raise ValueError("HQ workers share the chain by partition on PostgreSQL only "
                             "(--db postgresql://...)")
        self.leases = Leases(book.url) if partitioned else None
        self.lease_due = 0.0
        # the most of a guest's stored value, and of their points, one store may hold
        self.slice_caps = {STORED_VALUE.name: slice_fen, POINTS.name: slice_points}
        self.client, self.broker = mqtt_client(client_id, broker_url, username, password,
                                               ca_file=ca_file, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, message: self.inbox.put((self.client, message))
        # Requests ride a second link whose session ends with it. mosquitto hands a shared
        # subscription's messages in turn to every session in the group, an offline one
        # included: a worker killed with a session kept for a week would swallow every
        # other store's pulls, hellos and authorisations for that week (and, the turn being
        # fixed, all of some stores'). A request is asked again when unanswered; it needs no
        # keeping while HQ is away.
        self.requests, _ = mqtt_client(f"{client_id}-requests", broker_url, username,
                                       password, ca_file=ca_file)
        self.requests.on_connect = self._on_requests_connect
        self.requests.on_message = lambda _c, _u, message: self.inbox.put((None, message))
        self.inbox: queue.Queue[tuple[mqtt.Client | None, Any]] = queue.Queue()
        self.connected = threading.Event()  # both links have been up
        self.links_up: set[str] = set()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("broker refused HQ: %s", reason)
            return
        if self.leases is not None:  # a session from before may hold partitions not ours
            stale = [partition_filter(p) for p in range(PARTITIONS) if p not in self.leases.held]
            if stale:
                client.unsubscribe(stale)
            if self.leases.held:
                client.subscribe([(partition_filter(p), SubscribeOptions(qos=1))
                                  for p in sorted(self.leases.held)])
        # what a session from before the request link may hold
        client.unsubscribe([*REQUESTS, STATUS])
        client.subscribe(f"$share/{HQ_GROUP}/{PREFIX}/stores/+/events",
                         options=SubscribeOptions(qos=1))
        self._up("events")

    def _on_requests_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                             _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("broker refused HQ's request link: %s", reason)
            return
        client.subscribe([(STATUS, SubscribeOptions(qos=1)),
                          *((topic, SubscribeOptions(qos=1)) for topic in REQUESTS)])
        self._up("requests")

    def _up(self, link: str) -> None:
        self.links_up.add(link)
        if len(self.links_up) == 2:
            self.connected.set()

    def _handle(self, message: Any) -> None:
        topic = message.topic
        store_id = store_of(topic)
        if store_id is None:
            self.book.park(topic, message.payload, "not a laoke store topic")
            return
        if topic.endswith("/authorise"):
            self._authorise(store_id, message)
            return
        if topic.endswith("/weather"):
            self._weather(store_id, message)
            return
        if topic.endswith(("/pull", "/restore", "/hello")):
            try:
                body = json.loads(message.payload)
                if not isinstance(body, dict):
                    raise TypeError("not an object")
                if not topic.endswith("/hello"):
                    body["after"] = int(body["after"])
            except (ValueError, KeyError, TypeError):
                self.book.park(topic, message.payload, "malformed request")
                return
            if topic.endswith("/hello"):
                welcome = self.book.hello(store_id, body)
                if self.leases is not None:
                    welcome["partitioned"] = True  # so send under your partition
                self.client.publish(welcome_topic(store_id), dumps(welcome), qos=1)
            elif topic.endswith("/pull"):
                page, resend = self.book.pull(store_id, body)
                self.client.publish(feed_topic(store_id), page, qos=1)
                if resend is not None:
                    self.client.publish(resend_topic(store_id), dumps({"from_seq": resend}),
                                        qos=1)
            else:
                self.client.publish(history_topic(store_id),
                                    dumps(self.book.history(store_id, body["after"])), qos=1)
            return
        if topic.endswith("/status"):
            try:
                status = json.loads(message.payload)
                schema, version = status.get("schema"), status.get("version")
                self.book.set_status(store_id, bool(status["online"]),
                                     schema if isinstance(schema, int) else None,
                                     version[:40] if isinstance(version, str) else None)
            except (ValueError, KeyError, TypeError, AttributeError):
                self.book.park(topic, message.payload, "malformed status")
            return
        if self.leases is not None and topic != events_topic(store_id) and \
                partition_of(store_id) not in self.leases.held:
            return  # a partition given back (or a session's leftover): its holder applies it
        try:
            store_id, applied, gap = self.book.apply(topic, message.payload)
        except DeadLetter as error:
            self.book.park(topic, message.payload, str(error))
            return
        self.client.publish(ack_topic(store_id), dumps({
            "store": store_id, "hq": self.book.hq_id, "epoch": self.book.epoch(store_id),
            "applied_seq": applied, "applied_id": self.book.applied_id(store_id, applied)}),
            qos=1, retain=True)
        if gap is not None:
            self.client.publish(resend_topic(store_id), dumps({"from_seq": gap}), qos=1)

    def _authorise(self, store_id: str, message: Any) -> None:
        """Answer on the request's response topic with its correlation data (MQTT 5)."""
        try:
            asset, member_id, amount, hold_id = read_authorise_request(message.payload)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            self.book.park(message.topic, message.payload, f"malformed authorisation: {error}")
            answer: dict[str, Any] = {"approved": False, "error": "malformed request"}
        else:
            answer = self.book.authorise(store_id, member_id, amount,
                                         self.slice_caps[asset.name], hold_id, asset)
        reply = self._reply_to(message, approval_topic(store_id))
        if reply is not None:
            reply(answer)

    def _weather(self, store_id: str, message: Any) -> None:
        """A store's weather question goes to the relay's thread, which answers it."""
        reply = self._reply_to(message, weather_days_topic(store_id))
        if reply is None:
            return
        if self.weather is None:
            reply({"error": "this HQ relays no weather"})
        else:
            self.weather.ask(message.payload, reply)

    def _reply_to(self, message: Any,
                  expected: str) -> Callable[[dict[str, Any]], None] | None:
        """How to answer a request on its response topic with its correlation data (MQTT
        5); None when it names another topic than `expected`: a store hears only its own
        answers."""
        props = getattr(message, "properties", None)
        reply_to = getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        if reply_to != expected:
            return None
        reply = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            reply.CorrelationData = correlation

        def answer(body: dict[str, Any]) -> None:
            self.client.publish(expected, dumps(body), qos=1, properties=reply)

        return answer

    def begin(self) -> None:
        """A session the broker keeps while HQ is away: what stores send meanwhile waits
        for HQ, and what HQ received but never acknowledged comes again."""
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=15,
                                  clean_start=False, properties=session)
        self.client.loop_start()
        self.requests.connect_async(self.broker.host, self.broker.port, keepalive=15,
                                    clean_start=True)
        self.requests.loop_start()

    def step(self, stop: threading.Event) -> float:
        """Handle one message and only then acknowledge it: a message HQ had not committed
        when it died is delivered again. One that fails waits its turn again."""
        if self.leases is not None and time.monotonic() >= self.lease_due:
            self._lease()
        try:
            link, message = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return 0.0
        try:
            self._handle(message)
        except Exception:
            self.inbox.put((link, message))
            raise
        if link is not None:  # the request link acknowledges on receipt: nothing is kept
            link.ack(message.mid, message.qos)
        return 0.0

    def _lease(self) -> None:
        """Listen to the partitions just taken; stop listening to the ones over this
        worker's share before giving them back, so two never apply one at once."""
        assert self.leases is not None
        self.lease_due = time.monotonic() + LEASE_TICK_S
        taken, over = self.leases.tick()
        if over:
            self.client.unsubscribe([partition_filter(p) for p in sorted(over)])
            self.leases.give_back(over)
        if taken:
            self.client.subscribe([(partition_filter(p), SubscribeOptions(qos=1))
                                   for p in sorted(taken)])

    def state(self) -> dict[str, Any]:
        held = None if self.leases is None else sorted(self.leases.held)
        return {**super().state(), "partitions": held}

    def end(self) -> None:
        for client in (self.client, self.requests):
            client.disconnect()
            client.loop_stop()
        if self.leases is not None:
            self.leases.close()
