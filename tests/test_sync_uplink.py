"""Store -> HQ over a real mosquitto: exactly once through restarts and kills, bad messages parked,
only a store's own topics under the ACL, TLS with the chain's CA."""


import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.domain.config import new_settings
from hub.domain.store import Store
from sync.hq import HqBook, Receiver
from sync.protocol import events_topic
from sync.publisher import Publisher
from tests.support.broker import Mosquitto
from tests.support.chain import hq_and_a_store_link, make_store, order_event, trade
from tests.support.hubproc import wait_until


def test_two_stores_reach_hq_exactly_once_through_a_broker_restart(hq_db, tmp_path, broker):
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    stores = {sid: make_store(tmp_path, sid, broker) for sid in ("s-a", "s-b")}
    publishers = {sid: Publisher(store).start() for sid, store in stores.items()}
    revenue = trade(stores["s-a"](), "8", 30)
    wait_until(lambda: book.report()["stores"].get("s-a", {}).get("orders") == 30)

    broker.stop()  # the broker goes away mid-stream; the stores keep trading
    revenue += trade(stores["s-a"](), "7", 20)
    revenue += trade(stores["s-b"](), "6", 25)
    time.sleep(0.5)
    # Read while the broker is down: once it is back, a quick store may prune its outbox.
    tops = {sid: store().scalar("SELECT MAX(seq) FROM outbox") for sid, store in stores.items()}
    broker.start()
    for sid, top in tops.items():
        wait_until(lambda sid=sid, top=top: book.report()["stores"].get(sid, {}).get(
            "last_seq") == top, timeout=30)
    report = book.report()
    assert report["stores"]["s-a"]["orders"] == 50 and report["stores"]["s-b"]["orders"] == 25
    assert report["totals"]["orders"] == 75 and report["totals"]["members"] == 75
    assert report["totals"]["revenue_fen"] == revenue
    assert book.conn.execute("SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 0
    wait_until(lambda: all(store().scalar("SELECT COUNT(*) FROM outbox") == 0
                           for store in stores.values()))
    assert report["stores"]["s-a"]["online"] and report["stores"]["s-b"]["online"]
    for publisher in publishers.values():
        publisher.stop()
    wait_until(lambda: not book.report()["stores"]["s-a"]["online"])
    receiver.stop()


def test_duplicates_gaps_and_bad_messages(tmp_path, broker):
    import json

    with hq_and_a_store_link(tmp_path, broker, "s-x") as (book, send, resend):
        batch = lambda *seqs: json.dumps({"schema": 1, "store": "s-x",  # noqa: E731
                                          "events": [order_event("s-x", s) for s in seqs]})
        send(batch(1, 2))
        send(batch(1, 2))  # delivered twice
        send(batch(4))  # 3 is missing
        wait_until(lambda: resend)
        assert json.loads(resend[0]) == {"from_seq": 3}
        send(batch(3, 4))
        send(b"{not json")
        send(json.dumps({"schema": 99, "store": "s-x", "events": []}))
        send(json.dumps({"schema": 1, "store": "s-y", "events": [order_event("s-x", 5)]}))
        wait_until(lambda: book.conn.execute(
            "SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 3)
        report = book.report()["stores"]["s-x"]
        assert report["orders"] == 4 and report["last_seq"] == 4 and \
            report["revenue_fen"] == 400
        reasons = [r[0] for r in book.conn.execute("SELECT reason FROM hq_dead_letters")]
        assert any("JSON" in r for r in reasons) and any("newer" in r for r in reasons)
        assert any("s-y" in r for r in reasons)


def test_the_acl_lets_a_store_publish_only_as_itself(hq_db, tmp_path):
    """The ACL shipped in config/mosquitto, on a real mosquitto with users per store."""
    import json

    from tests.support.broker import acl_broker

    users = {user: f"pw-{user}" for user in ("hq", "s-a", "s-b")}
    with acl_broker(tmp_path / "acl", users) as port:
        book = HqBook(hq_db)
        receiver = Receiver(book, f"mqtt://127.0.0.1:{port}", "hq", "pw-hq").start()
        wait_until(receiver.connected.is_set)
        thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="s-a", protocol=mqtt.MQTTv5)
        thief.username_pw_set("s-a", "pw-s-a")
        thief.connect("127.0.0.1", port)
        thief.loop_start()
        forged = json.dumps({"schema": 1, "store": "s-b", "events": [
            {"store": "s-b", "seq": 1, "id": "x", "type": "order.created", "ts": "t",
             "data": {"id": "o1", "total_fen": 999_999, "discount_fen": 0,
                      "created_at": "t"}}]})
        thief.publish(events_topic("s-b"), forged, qos=1).wait_for_publish(5)
        honest = forged.replace("s-b", "s-a")
        thief.publish(events_topic("s-a"), honest, qos=1).wait_for_publish(5)
        # Under a partition (HQ workers sharing the chain by partition), the same holds.
        partitions = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        partitions.username_pw_set("hq", "pw-hq")
        heard, subscribed = [], []
        partitions.on_message = lambda _c, _u, m: heard.append(m.topic)
        partitions.on_subscribe = lambda *_: subscribed.append(True)
        partitions.on_connect = lambda c, *_: c.subscribe("laoke/v1/stores/+/events/+", qos=1)
        partitions.connect("127.0.0.1", port)
        partitions.loop_start()
        wait_until(lambda: subscribed)  # before the thief publishes
        thief.publish(events_topic("s-b", True), forged, qos=1).wait_for_publish(5)
        thief.publish(events_topic("s-a", True), honest, qos=1).wait_for_publish(5)
        wait_until(lambda: book.report()["stores"].get("s-a", {}).get("orders") == 1)
        wait_until(lambda: heard)
        time.sleep(0.5)
        assert "s-b" not in book.report()["stores"], "store A cannot publish as store B"
        assert heard == [events_topic("s-a", True)], "nor under store B's partition"
        partitions.loop_stop()
        thief.loop_stop()
        receiver.stop()


def test_hub_and_hq_processes_with_the_commands(tmp_path, broker):
    """`laoke hub run --broker` and `laoke hq run`, as an installer runs them."""
    import json
    import os
    import subprocess
    import sys

    from tests.support.hubproc import ROOT, RunningHub

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    hq_home = tmp_path / "hq"
    hq = subprocess.Popen([sys.executable, "-m", "hub", "--home", str(hq_home), "hq", "run",
                           "--broker", broker.url], env=env, stderr=subprocess.DEVNULL)
    hub = RunningHub(tmp_path / "store", "--broker", broker.url, "--store-id", "shop-9").start()
    try:
        with hub.client() as api:
            guest = api.post("/members", json={"name": "王芳", "phone": "13800138000",
                                               "marketing_consent": True}).json()
            api.post("/checkouts", json={"member_id": guest["id"], "lines": [
                {"dish": "面", "qty": 2, "unit_price_fen": 1800}]},
                headers={"Idempotency-Key": "hq-1"})

        def report():
            out = subprocess.run([sys.executable, "-m", "hub", "--home", str(hq_home), "hq",
                                  "report", "--json"], env=env, capture_output=True, text=True)
            return json.loads(out.stdout) if out.returncode == 0 and out.stdout else {}

        wait_until(lambda: report().get("stores", {}).get("shop-9", {}).get("orders") == 1,
                   timeout=30)
        shown = report()
        assert shown["stores"]["shop-9"] == {"members": 1, "orders": 1, "revenue_fen": 3600,
                                             "last_seq": shown["stores"]["shop-9"]["last_seq"],
                                             "online": True, "region": None}
        assert shown["totals"] == {"members": 1, "orders": 1, "revenue_fen": 3600}
        with hub.client() as api:
            wait_until(lambda: api.get("/health").json()["sync"]["backlog"] == 0)
            assert api.get("/health").json()["sync"]["connected"] is True
    finally:
        hub.stop()
        hq.terminate()
        hq.wait(10)


STORE_PROCESS = """
import sys, threading, time
from pathlib import Path
from hub.domain.config import load_settings
from hub.domain.store import Store
from sync.publisher import Publisher
home = Path(sys.argv[1])
settings = load_settings(home)
local = threading.local()
def store():
    if not hasattr(local, "s"):
        local.s = Store(home / "laoke.db", settings, check_same_thread=False)
    return local.s
Publisher(store).start()
print("up", flush=True)
time.sleep(600)
"""

HQ_PROCESS = """
import sys, time
from pathlib import Path
from sync.hq import HqBook, Receiver
Receiver(HqBook(Path(sys.argv[1])), sys.argv[2]).start()
print("up", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_sigkill_of_store_and_hq_mid_stream_and_an_offline_day(tmp_path, broker):
    """10,000 events made while the broker is down; the store's publisher and the HQ receiver
    are each killed with SIGKILL mid-stream and restarted: HQ ends with every event once."""
    import os
    import signal
    import subprocess
    import sys

    from hub.domain.config import write_settings
    from tests.support.hubproc import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    home = tmp_path / "store"
    home.mkdir()
    settings = new_settings("s-k")
    settings.broker.url = broker.url
    settings.storage.synchronous = "normal"
    write_settings(home, settings)
    with Store(home / "laoke.db", settings) as store:
        broker.stop()  # a day without HQ
        with store.write():
            for n in range(10_000):
                store.emit("order.created", {"id": f"o{n}", "total_fen": 100,
                                             "discount_fen": 0, "created_at": "t"})
    broker.start()

    def spawn(code, *args):
        child = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env,
                                 stdout=subprocess.PIPE)
        assert child.stdout.readline().strip() == b"up"
        return child

    hq_db = tmp_path / "hq.db"
    hq = spawn(HQ_PROCESS, hq_db, broker.url)
    shop = spawn(STORE_PROCESS, home)
    book = HqBook(hq_db)
    applied = lambda: book.conn.execute(  # noqa: E731
        "SELECT COALESCE(MAX(applied_seq), 0) FROM hq_stores").fetchone()[0]
    wait_until(lambda: applied() > 1_000, timeout=60)
    shop.send_signal(signal.SIGKILL)
    shop.wait()
    hq.send_signal(signal.SIGKILL)
    hq.wait()
    before = applied()
    assert before < 10_000, "killed mid-stream"
    hq = spawn(HQ_PROCESS, hq_db, broker.url)
    shop = spawn(STORE_PROCESS, home)
    try:
        wait_until(lambda: applied() == 10_000, timeout=120)
        orders = book.conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM hq_orders").fetchone()
        assert tuple(orders) == (10_000, 10_000), "nothing lost, nothing doubled"
        events = book.conn.execute("SELECT COUNT(*) FROM hq_events").fetchone()[0]
        assert events == 10_000
    finally:
        for child in (shop, hq):
            child.send_signal(signal.SIGKILL)
            child.wait()


def test_stores_reach_hq_over_tls_and_an_unknown_ca_is_refused(hq_db, tmp_path):
    import subprocess

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=laoke test chain CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
            "broker.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
            "other.crt", "-days", "2", "-subj", "/CN=somebody else")
    secure = Mosquitto(tmp_path / "tls-broker", tls=(tmp_path / "ca.crt",
                                                      tmp_path / "broker.crt",
                                                      tmp_path / "broker.key")).start()
    try:
        assert secure.url.startswith("mqtts://")
        book = HqBook(hq_db)
        receiver = Receiver(book, secure.url, ca_file=str(tmp_path / "ca.crt")).start()
        wait_until(receiver.connected.is_set)
        shop = make_store(tmp_path, "s-t", secure)
        shop().settings.broker.ca_file = str(tmp_path / "ca.crt")
        trade(shop(), "7", 3)
        publisher = Publisher(shop).start()
        wait_until(lambda: book.report()["stores"].get("s-t", {}).get("orders") == 3)
        publisher.stop()

        stranger = make_store(tmp_path, "s-x", secure)
        stranger().settings.broker.ca_file = str(tmp_path / "other.crt")
        trade(stranger(), "8", 1)
        refused = Publisher(stranger).start()
        time.sleep(2)
        refused.stop()
        assert "s-x" not in book.report()["stores"], "a broker it cannot verify gets nothing"
        receiver.stop()
    finally:
        secure.stop()
