"""A chain on one machine: stores on their own SQLite files, HQ's book, and the commands an
operator runs at HQ."""

import threading
from contextlib import contextmanager

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from sync.protocol import events_topic


def make_store(tmp_path, store_id, broker, settings=None):
    """The store's `Store` for the calling thread, on `settings` (a new store's if None)."""
    settings = settings or new_settings(store_id)
    settings.storage.synchronous = "normal"
    settings.broker.url = broker.url
    local = threading.local()
    path = tmp_path / f"{store_id}.db"

    def store():  # one connection per thread, as the hub does
        if not hasattr(local, "store"):
            local.store = Store(path, settings, check_same_thread=False)
        return local.store

    return store


def trade(store, prefix, guests):
    totals = 0
    for n in range(guests):
        member = add_member(store, NewMember(name=f"客{n}", phone=f"13{prefix}{n:08d}"))
        result = checkout(store, CheckoutRequest(f"{prefix}-{n}", [Line("面", 1 + n % 3, 1800)],
                                                 member_id=member["id"]))
        totals += result["total_fen"]
    return totals


def hq_command(home, *args, check=True):
    """`laoke --home HOME hq ARGS...` as an operator runs it at HQ."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "hub", "--home", str(home), "hq", *args],
                          capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert (done.returncode == 0) == check, done.stderr
    return done


def hand_to_hq(book, store):
    """What the publisher would send: the store's outbox past HQ's watermark, applied."""
    import json

    applied = book.history(store.store_id, 0)["applied_seq"]
    events = [{"store": store.store_id, "seq": r["seq"], "id": r["id"], "type": r["type"],
               "ts": r["ts"], "data": json.loads(r["data"])} for r in store.conn.execute(
        "SELECT * FROM outbox WHERE seq > ? ORDER BY seq", (applied,))]
    book.apply(events_topic(store.store_id), json.dumps(
        {"schema": 1, "store": store.store_id, "events": events}).encode())


def order_event(store_id, seq):
    """An order.created event as a store sends it, the smallest HQ books."""
    return {"store": store_id, "seq": seq, "id": f"e{seq}", "type": "order.created",
            "ts": "2026-11-25T04:30:00.000Z",
            "data": {"id": f"o{seq}", "total_fen": 100, "discount_fen": 0,
                     "created_at": "2026-11-25T04:30:00.000Z"}}


@contextmanager
def hq_and_a_store_link(tmp_path, broker, store_id):
    """HQ's receiver on the broker, and a raw MQTT 5 client speaking as `store_id`: what it
    publishes, and the resend requests HQ sends it (the list)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from sync.hq import HqBook, Receiver
    from tests.support.hubproc import wait_until

    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url).start()
    wait_until(receiver.connected.is_set)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    resends = []
    client.on_message = lambda _c, _u, m: resends.append(m.payload)
    client.subscribe(f"laoke/v1/stores/{store_id}/resend", qos=1)

    def send(payload, topic=None):
        client.publish(topic or events_topic(store_id), payload, qos=1).wait_for_publish(5)

    try:
        yield book, send, resends
    finally:
        client.loop_stop()
        receiver.stop()
