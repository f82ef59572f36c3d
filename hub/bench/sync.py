"""Sync figures against a mosquitto of the benchmark's own: draining a backlog to HQ,
applied, next to raw paho QoS 1 publishes of the same bytes; and online lag from checkout
at the store to applied at HQ."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sync.hq import HqBook, Receiver
from sync.localbroker import Mosquitto
from sync.protocol import PROTOCOL, dumps, events_topic
from sync.publisher import BATCH, Publisher

from ..domain.checkout import CheckoutRequest, checkout
from ..domain.config import new_settings
from ..domain.coupons import Line
from ..domain.ids import new_id
from ..domain.members import NewMember, add_member
from ..domain.store import Store


def _store_factory(path: Path, settings: Any) -> Callable[[], Store]:
    local = threading.local()

    def store() -> Store:
        if not hasattr(local, "store"):
            local.store = Store(path, settings, check_same_thread=False)
        return local.store

    return store


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("sync benchmark timed out")
        time.sleep(0.01)


def _raw_paho(port: int, bodies: list[bytes], events: int) -> float:
    """Events per second that plain paho gets acknowledged at QoS 1, sending `bodies`."""
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{new_id()}",
                      protocol=mqtt.MQTTv5)
    raw.max_inflight_messages_set(100)
    raw.max_queued_messages_set(0)
    raw.connect("127.0.0.1", port)
    raw.loop_start()
    started = time.perf_counter()
    pending: list[mqtt.MQTTMessageInfo] = []
    for body in bodies:
        pending.append(raw.publish(events_topic("bench-raw"), body, qos=1))
        if len(pending) > 1000:  # a window, as a real sender keeps its memory bounded
            pending.pop(0).wait_for_publish(120)
    for info in pending:
        info.wait_for_publish(120)
    rate = events / (time.perf_counter() - started)
    raw.loop_stop()
    raw.disconnect()
    return rate


def _backlog(work: Path, store_id: str, broker_url: str,
             events: int) -> Callable[[], Store]:
    """A store whose outbox holds `events` checkouts HQ has not seen yet."""
    settings = new_settings(store_id)
    settings.broker.url = broker_url
    store = _store_factory(work / f"{store_id}.db", settings)
    payload = {"id": "", "store_id": store_id, "member_id": new_id(), "total_fen": 8600,
               "discount_fen": 0, "channel": "dine_in", "created_at": "", "lines": [
                   {"line_no": 1, "dish": "宫保鸡丁", "qty": 1, "unit_price_fen": 4800},
                   {"line_no": 2, "dish": "麻婆豆腐", "qty": 1, "unit_price_fen": 3200},
                   {"line_no": 3, "dish": "米饭", "qty": 2, "unit_price_fen": 300}]}
    with store().write():
        for _ in range(events):
            store().emit("order.created", dict(payload, id=new_id(),
                                               created_at=store().now_iso()))
    return store


def bench_hq_stores(work: Path, stores: int, events_each: int,
                    log: Callable[[str], None]) -> dict[str, Any]:
    """HQ applying many stores at once: each drains its backlog at the same moment."""
    broker = Mosquitto(work / "broker-chain").start()
    try:
        shops = [_backlog(work, f"bench-{n:02d}", broker.url, events_each)
                 for n in range(stores)]
        book = HqBook(work / "bench-chain-hq.db")
        receiver = Receiver(book, broker.url).start()
        _wait(receiver.connected.is_set, 10)
        started = time.perf_counter()
        publishers = [Publisher(shop).start() for shop in shops]
        total = stores * events_each
        _wait(lambda: book.conn.execute("SELECT COALESCE(SUM(applied_seq), 0) FROM hq_stores")
              .fetchone()[0] == total, 900)
        rate = total / (time.perf_counter() - started)
        for publisher in publishers:
            publisher.stop()
        receiver.stop()
    finally:
        broker.stop()
    log(f"HQ applying {stores} stores at once ({events_each:,} events each): {rate:,.0f} "
        "events/s")
    return {"hq_stores_events_per_s": round(rate), "hq_stores": stores}


def bench_sync(work: Path, events: int, log: Callable[[str], None]) -> dict[str, Any]:
    broker = Mosquitto(work / "broker").start()
    try:
        store = _backlog(work, "bench-sync", broker.url, events)
        rows = store().conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
        messages = [dumps({"schema": PROTOCOL, "store": "bench-sync", "events": [
            {"store": r["store_id"], "seq": r["seq"], "id": r["id"], "type": r["type"],
             "ts": r["ts"], "data": json.loads(r["data"])} for r in rows[i:i + BATCH]]})
            for i in range(0, len(rows), BATCH)]

        singles = [dumps(event) for body in messages for event in json.loads(body)["events"]]
        raw_rate = _raw_paho(broker.port, messages, events)
        raw_single_rate = _raw_paho(broker.port, singles, events)

        book = HqBook(work / "bench-hq.db")
        receiver = Receiver(book, broker.url).start()
        _wait(receiver.connected.is_set, 10)
        started = time.perf_counter()
        publisher = Publisher(store).start()
        _wait(lambda: book.report()["stores"].get("bench-sync", {}).get("last_seq") == events,
              600)
        ours = events / (time.perf_counter() - started)

        member = add_member(store(), NewMember(name="延迟", phone="13700000001"))
        for n in range(200):
            checkout(store(), CheckoutRequest(f"lag-{n}", [Line("面", 1, 1800)],
                                              member_id=member["id"]))
            time.sleep(0.01)
        top = store().scalar("SELECT MAX(seq) FROM outbox")
        _wait(lambda: book.report()["stores"]["bench-sync"]["last_seq"] >= top, 60)
        lags = [(datetime.fromisoformat(r[1].replace("Z", "+00:00")) -
                 datetime.fromisoformat(r[0].replace("Z", "+00:00"))).total_seconds() * 1000
                for r in book.conn.execute(
                    "SELECT ts, applied_at FROM hq_events WHERE store_id = 'bench-sync' "
                    "AND type = 'order.created' AND seq > ?", (events,))]
        publisher.stop()
        receiver.stop()
    finally:
        broker.stop()
    lags.sort()
    # The baseline is plain paho publishing each event as its own QoS 1 message;
    # batching gives paho far more, so both ratios are reported.
    figures = {"sync_events_per_s": round(ours),
               "raw_paho_events_per_s": round(raw_single_rate),
               "raw_paho_batched_events_per_s": round(raw_rate),
               "sync_ratio_vs_paho": round(ours / raw_single_rate, 3),
               "sync_ratio_vs_paho_batched": round(ours / raw_rate, 3),
               "sync_lag_p50_ms": round(statistics.median(lags), 1),
               "sync_lag_p99_ms": round(lags[int(len(lags) * 0.99)], 1)}
    log(f"sync: {events:,}-event backlog applied at HQ at {figures['sync_events_per_s']:,}/s; "
        f"raw paho QoS 1, one event a message: {figures['raw_paho_events_per_s']:,}/s (ratio "
        f"{figures['sync_ratio_vs_paho']}); raw paho with our {BATCH}-event batches: "
        f"{figures['raw_paho_batched_events_per_s']:,}/s (ratio "
        f"{figures['sync_ratio_vs_paho_batched']}); online lag checkout -> applied at HQ p50 "
        f"{figures['sync_lag_p50_ms']} ms, p99 {figures['sync_lag_p99_ms']} ms")
    return figures
