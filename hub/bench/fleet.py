"""A simulated chain: many lightweight stores in one thread, each a real MQTT 5 client that
speaks the store's side of the protocol to the real broker and the real HQ workers.

A simulated store is what HQ sees of a hub and nothing more: it logs in as itself (the
ACL's username is the store id), says hello and waits for its incarnation, sends its outbox
in batches of real events (`member.created`, `order.created`, `points.entry`, shaped as a
till writes them) with its own seq, under its partition when HQ's welcome says so, keeps
every event until HQ's retained ack covers it, sends again from what HQ asks for, pulls the
feed like a hub, leaves a last will, and keeps selling while it is offline. It keeps its own
totals, so HQ's books can be checked against the sum of the stores.

The stores share one selector loop (paho's socket callbacks, no thread per client), so a
thousand of them cost one thread: the load is HQ's, not the simulator's.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import random
import selectors
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hub import __version__
from hub.domain.clock import to_iso
from hub.domain.ids import new_id
from hub.workers import ThreadWorker
from sync.protocol import (
    PROTOCOL,
    ack_topic,
    dumps,
    events_topic,
    feed_topic,
    fitting,
    hello_topic,
    parse_broker,
    pull_topic,
    resend_topic,
    status_topic,
    welcome_topic,
)
from sync.publisher import ACK_WAIT_S, BATCH, MAX_IN_FLIGHT, PULL_EVERY_S

log = logging.getLogger(__name__)
RECONNECT_S = 1.0  # after a lost connection (or a refused one), as paho's own loop would
CONNECTS_PER_PASS = 50  # a thousand stores coming up at once connect in waves
MISC_EVERY_S = 1.0  # paho's keepalive and timeouts, for every client
DISHES = (("宫保鸡丁", 4800), ("麻婆豆腐", 3200), ("水煮鱼", 8800), ("米饭", 300),
          ("酸梅汤", 1200), ("回锅肉", 4200))


@dataclass
class Totals:
    """What one store did, by its own count: what HQ must end up with for it."""

    orders: int = 0
    revenue_fen: int = 0
    members: int = 0
    points: int = 0
    written: int = 0  # the last seq it wrote


@dataclass
class SimStore:
    """One store's outbox (in memory), its link state and its totals."""

    store_id: str
    password: str
    client: Any = None
    install: str = field(default_factory=new_id)
    epoch: int | None = None
    partitioned: bool = False
    welcomed: bool = False
    connected: bool = False
    wanted_online: bool = True
    connect_at: float = 0.0  # when to (re)connect, while wanted online and not connected
    connected_at: float = 0.0
    ack_checked: bool = False
    hq_acked: dict[str, int] = field(default_factory=dict)
    applied: int = 0  # the most HQ acknowledged
    ids: list[str] = field(default_factory=list)  # every event id, by seq - 1
    outbox: deque[dict[str, Any]] = field(default_factory=deque)  # not yet acknowledged
    next_seq: int = 1
    in_flight: deque[Any] = field(default_factory=deque)
    # HQ's feed positions are at least its clock in microseconds: a simulated store starts
    # caught up with the chain as of its start, and takes what other stores do from then.
    feed_after: int = field(default_factory=lambda: time.time_ns() // 1000)
    last_pull: float = 0.0
    members: list[str] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)


class Fleet(ThreadWorker):
    """N simulated stores on one broker, each selling one checkout every
    `checkout_every_s` (each at its own phase) whether online or not."""

    name = "fleet"

    def __init__(self, broker_url: str, stores: dict[str, str], *,
                 checkout_every_s: float = 10.0, pull_every_s: float = PULL_EVERY_S,
                 member_share: float = 0.3, seed: int = 0, selling: bool = True,
                 online: bool = True) -> None:
        """`stores`: store id -> its broker password (the ACL's username is the store id);
        `member_share`: the share of checkouts by a member (who earns points; one in four of
        them joins at the till)."""
        super().__init__()
        self.broker = parse_broker(broker_url)
        self.checkout_every_s = checkout_every_s
        self.pull_every_s = pull_every_s
        self.member_share = member_share
        self.random = random.Random(seed)
        self.selling = selling
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()  # the stores' state: the loop writes, others read
        self.orders: deque[tuple[str, list[str], float | None]] = deque()
        self.comebacks: list[tuple[float, str]] = []  # (when, store) back from offline
        self.alarms: list[str] = []  # what a real hub would have refused or said loudly
        self.stores = [SimStore(sid, password, wanted_online=online)
                       for sid, password in stores.items()]
        self.by_id = {s.store_id: s for s in self.stores}
        now = time.monotonic()
        self.sales = [(now + self.random.uniform(0, checkout_every_s), n)
                      for n in range(len(self.stores))]
        heapq.heapify(self.sales)
        self.misc_due = 0.0

    # -- what a test or the benchmark asks for (any thread) -----------------------------------

    def offline(self, store_ids: list[str], for_s: float | None = None) -> None:
        """These stores lose their link (the broker publishes their last will); with `for_s`,
        each comes back by itself that much later."""
        self.orders.append(("offline", store_ids, for_s))

    def online(self, store_ids: list[str]) -> None:
        self.orders.append(("online", store_ids, None))

    def sell_now(self, checkouts_each: int) -> None:
        """Every store rings up this many checkouts at once (a day's backlog, say)."""
        with self.lock:
            stamp = datetime.now(UTC)
            for store in self.stores:
                for _ in range(checkouts_each):
                    self._checkout(store, stamp)

    def totals(self) -> dict[str, Totals]:
        with self.lock:
            return {s.store_id: Totals(**vars(s.totals)) for s in self.stores}

    def settled(self) -> bool:
        """Every store online, welcomed, and all it wrote acknowledged by HQ."""
        with self.lock:
            return all(s.connected and s.welcomed and s.applied == s.totals.written
                       for s in self.stores)

    def unacknowledged(self) -> int:
        with self.lock:
            return sum(s.totals.written - s.applied for s in self.stores)

    # -- the till ---------------------------------------------------------------------------

    def _checkout(self, store: SimStore, stamp: datetime) -> None:
        """One checkout, as the till's transaction writes it to the outbox."""
        now = to_iso(stamp)
        member_id = None
        if self.random.random() < self.member_share:
            if not store.members or self.random.random() < 0.25:
                member_id = new_id()
                store.members.append(member_id)
                store.totals.members += 1
                self._emit(store, "member.created", now, {
                    "id": member_id, "name": f"客{store.totals.members}", "home_store":
                    store.store_id, "phone": f"+86139{self.random.randrange(10**8):08d}",
                    "birthday": None, "allergies": [], "avoid": [], "notes": "",
                    "marketing_consent": False, "consent_at": now, "consent_version":
                    "2026-11", "created_at": now, "erased_at": None})
            else:
                member_id = self.random.choice(store.members)
        picked = self.random.sample(DISHES, self.random.randint(1, 3))
        lines: list[dict[str, Any]] = [
            {"line_no": n, "code": None, "dish": dish, "qty": 1 + n % 2,
             "unit_price_fen": price} for n, (dish, price) in enumerate(picked, 1)]
        total = sum(int(line["qty"]) * int(line["unit_price_fen"]) for line in lines)
        order_id = new_id()
        points = total // 100 if member_id else 0
        self._emit(store, "order.created", now, {
            "id": order_id, "store_id": store.store_id, "member_id": member_id,
            "total_fen": total, "discount_fen": 0, "channel": "dine_in", "created_at": now,
            "lines": lines, "points_earned": points, "points_redeemed": 0})
        store.totals.orders += 1
        store.totals.revenue_fen += total
        if member_id:
            store.totals.points += points
            self._emit(store, "points.entry", now, {
                "id": new_id(), "member_id": member_id, "delta": points, "kind": "earn",
                "order_id": order_id, "created_at": now, "store_id": store.store_id,
                "expires_at": to_iso(stamp + timedelta(days=730)), "reason": None,
                "staff_id": None})

    @staticmethod
    def _emit(store: SimStore, kind: str, now: str, data: dict[str, Any]) -> None:
        store.totals.written += 1
        event_id = new_id()
        store.ids.append(event_id)
        store.outbox.append({"store": store.store_id, "seq": store.totals.written,
                             "id": event_id, "type": kind, "ts": now, "data": data})

    # -- the link -----------------------------------------------------------------------------

    def _client(self, store: SimStore) -> Any:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"laoke-store-"
                             f"{store.store_id}", protocol=mqtt.MQTTv5, userdata=store)
        client.username_pw_set(store.store_id, store.password)
        client.will_set(status_topic(store.store_id), self._status(store, False), qos=1,
                        retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = lambda _c, s, sock: self._watch(sock, s, False)
        client.on_socket_close = lambda _c, _s, sock: self._unregister(sock)
        client.on_socket_register_write = lambda _c, s, sock: self._watch(sock, s, True)
        client.on_socket_unregister_write = lambda _c, s, sock: self._watch(sock, s, False)
        return client

    def _unregister(self, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):  # closed before it was registered
            self.selector.unregister(sock)

    def _watch(self, sock: Any, store: SimStore, writing: bool) -> None:
        """paho says what its socket waits for: to read always, to write while it has
        something queued."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
        if sock.fileno() in self.selector.get_map():
            self.selector.modify(sock, events, store)
        else:
            self.selector.register(sock, events, store)

    @staticmethod
    def _status(store: SimStore, online: bool) -> bytes:
        return dumps({"store": store.store_id, "online": online, "schema": PROTOCOL,
                      "version": f"{__version__}+sim"})

    def _connect(self, store: SimStore, now: float) -> None:
        store.connect_at = now + RECONNECT_S  # unless it connects, try again then
        try:
            if store.client is None:
                store.client = self._client(store)
                store.client.connect(self.broker.host, self.broker.port, keepalive=60,
                                     clean_start=False)
            else:
                store.client.reconnect()
        except OSError as error:
            log.debug("store %s cannot reach the broker: %s", store.store_id, error)

    def _on_connect(self, client: Any, store: SimStore, _f: Any, reason: Any,
                    _p: Any = None) -> None:
        if reason.is_failure:
            self._alarm(f"store {store.store_id}: the broker refused it: {reason}")
            return
        client.publish(status_topic(store.store_id), self._status(store, True), qos=1,
                       retain=True)
        client.subscribe([(ack_topic(store.store_id), 1), (resend_topic(store.store_id), 1),
                          (feed_topic(store.store_id), 1), (welcome_topic(store.store_id), 1)])
        store.connected, store.welcomed, store.ack_checked = True, False, False
        store.connected_at = time.monotonic()
        store.next_seq = store.applied + 1  # send again whatever HQ has not acknowledged
        store.in_flight.clear()
        self._hello(store)
        self._pull(store)

    def _on_disconnect(self, _c: Any, store: SimStore, _f: Any, _r: Any,
                       _p: Any = None) -> None:
        store.connected = False
        store.connect_at = time.monotonic() + RECONNECT_S

    def _on_message(self, _c: Any, store: SimStore, message: Any) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            self._alarm(f"store {store.store_id}: a message that is not JSON on "
                        f"{message.topic}")
            return
        topic = message.topic
        if topic == welcome_topic(store.store_id) and body.get("install") == store.install:
            if isinstance(body.get("refused"), str):
                self._alarm(f"store {store.store_id}: HQ refused it: {body['refused']}")
                return
            store.welcomed = True
            store.partitioned = body.get("partitioned") is True
            if store.epoch is None and isinstance(body.get("epoch"), int):
                store.epoch = body["epoch"]
        elif topic == ack_topic(store.store_id):
            self._acknowledged(store, body)
        elif topic == resend_topic(store.store_id):
            start = body.get("from_seq")
            if isinstance(start, int) and start > 0:  # one HQ asked before an ack: stale
                store.next_seq = max(store.applied + 1, min(store.next_seq, start))
        elif topic == feed_topic(store.store_id):
            position = body.get("position")
            if isinstance(position, int) and position > store.feed_after:
                store.feed_after = position  # other stores' changes, taken
                if body.get("more"):
                    self._pull(store)

    def _acknowledged(self, store: SimStore, body: dict[str, Any]) -> None:
        """HQ's retained watermark: what it covers leaves the outbox. One about events this
        store never wrote, or wrote as others, is what a hub refuses loudly."""
        applied, applied_id, epoch = (body.get("applied_seq"), body.get("applied_id"),
                                      body.get("epoch"))
        if not isinstance(applied, int) or (store.epoch is not None and epoch != store.epoch):
            return
        if applied > store.totals.written or (
                applied > 0 and applied_id not in (None, store.ids[applied - 1])):
            self._alarm(f"store {store.store_id}: HQ acknowledged seq {applied} "
                        f"({applied_id}), which is not this store's")
            return
        store.ack_checked = True
        hq = str(body["hq"]) if isinstance(body.get("hq"), str) else ""
        store.hq_acked[hq] = max(store.hq_acked.get(hq, 0), applied)
        store.applied = max(store.applied, applied)
        store.next_seq = max(store.next_seq, store.applied + 1)  # in flight, and applied
        while store.outbox and store.outbox[0]["seq"] <= store.applied:
            store.outbox.popleft()

    def _hello(self, store: SimStore) -> None:
        store.client.publish(hello_topic(store.store_id), dumps({
            "install": store.install, "epoch": store.epoch, "protocol": PROTOCOL,
            "acked": store.hq_acked or {"": store.applied}}), qos=1)

    def _pull(self, store: SimStore) -> None:
        store.last_pull = time.monotonic()
        store.client.publish(pull_topic(store.store_id), dumps({
            "after": store.feed_after, "acked": store.hq_acked or {"": store.applied},
            "top": store.totals.written, "ts": to_iso(datetime.now(UTC)),
            "conflicts": 0}), qos=1)

    def _send(self, store: SimStore, now: float) -> None:
        """The store's next batch, as the hub's publisher sends it."""
        if not (store.connected and store.welcomed and store.epoch is not None) or \
                store.next_seq > store.totals.written:
            return
        if not store.ack_checked and now - store.connected_at < ACK_WAIT_S:
            return  # HQ's retained watermark comes first, if HQ knows this store
        while store.in_flight and store.in_flight[0].is_published():
            store.in_flight.popleft()
        if len(store.in_flight) >= MAX_IN_FLIGHT:
            return
        first = store.outbox[0]["seq"] if store.outbox else store.totals.written + 1
        if store.next_seq < first:  # HQ asks for what it acknowledged before
            self._alarm(f"store {store.store_id}: HQ asked again from seq {store.next_seq}, "
                        f"which it had acknowledged")
            store.next_seq = first
        start = store.next_seq - first
        events = fitting([store.outbox[n] for n in
                          range(start, min(start + BATCH, len(store.outbox)))])
        if not events:
            return
        batch = {"schema": PROTOCOL, "store": store.store_id, "epoch": store.epoch,
                 "prev": store.ids[store.next_seq - 2] if store.next_seq > 1 else None,
                 "acked": store.hq_acked or {"": store.applied},
                 "events": [{**e, "epoch": store.epoch} for e in events]}
        store.in_flight.append(store.client.publish(
            events_topic(store.store_id, store.partitioned), dumps(batch), qos=1))
        store.next_seq = events[-1]["seq"] + 1

    def _alarm(self, text: str) -> None:
        log.error("%s", text)
        self.alarms.append(text)

    # -- the loop -----------------------------------------------------------------------------

    def _follow_orders(self, now: float) -> None:
        while self.orders:
            kind, ids, for_s = self.orders.popleft()
            for store in (self.by_id[i] for i in ids):
                store.wanted_online = kind == "online"
                store.connect_at = now if kind == "online" else now + (for_s or 0.0)
                if kind == "offline" and store.client is not None and store.connected:
                    self._drop(store)
                if kind == "offline" and for_s is not None:
                    heapq.heappush(self.comebacks, (now + for_s, store.store_id))
        while self.comebacks and self.comebacks[0][0] <= now:
            store = self.by_id[heapq.heappop(self.comebacks)[1]]
            store.wanted_online, store.connect_at = True, now

    @staticmethod
    def _drop(store: SimStore) -> None:
        """The link drops: the broker publishes the store's last will (MQTT 5 reason 4)."""
        store.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))

    def begin(self) -> None:
        self.misc_due = time.monotonic()

    def step(self, stop: threading.Event) -> float:
        now = time.monotonic()
        with self.lock:
            self._follow_orders(now)
            connects = 0
            for store in self.stores:
                if store.wanted_online and not store.connected and now >= store.connect_at \
                        and connects < CONNECTS_PER_PASS:
                    connects += 1
                    self._connect(store, now)
            stamp = datetime.now(UTC)
            while self.sales and self.sales[0][0] <= now:
                due, n = heapq.heappop(self.sales)
                heapq.heappush(self.sales, (due + self.checkout_every_s, n))
                if self.selling:
                    self._checkout(self.stores[n], stamp)
            for store in self.stores:
                if store.connected:
                    if now - store.last_pull > self.pull_every_s:
                        self._pull(store)
                        if not store.welcomed:  # HQ was not listening yet: say it again
                            self._hello(store)
                    self._send(store, now)
            if now >= self.misc_due:
                self.misc_due = now + MISC_EVERY_S
                for store in self.stores:
                    if store.client is not None:
                        store.client.loop_misc()
        timeout = max(0.0, min(0.05, self.sales[0][0] - time.monotonic())) if self.sales \
            else 0.05
        if self.selector.get_map():
            ready = self.selector.select(timeout)
        else:  # nobody connected: nothing to wait for but time
            ready = []
            time.sleep(timeout)
        with self.lock:
            for key, mask in ready:
                client = key.data.client
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
        return 0.0

    def end(self) -> None:
        for store in self.stores:  # the simulation ends: every store goes offline
            if store.client is not None and store.connected:
                self._drop(store)
                store.client.loop_write()
        self.selector.close()

    def state(self) -> dict[str, Any]:
        with self.lock:
            online = sum(s.connected for s in self.stores)
        return {**super().state(), "stores": len(self.stores), "online": online,
                "alarms": len(self.alarms)}
