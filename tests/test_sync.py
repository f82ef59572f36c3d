"""Store -> HQ over a real mosquitto: two stores, HQ totals equal to the sum of the stores',
nothing lost or doubled through a broker restart, bad messages parked."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from sync.hq import HqBook, Receiver
from sync.protocol import events_topic
from sync.publisher import Publisher
from tests.broker import Mosquitto
from tests.hubproc import wait_until


@pytest.fixture
def broker(tmp_path):
    running = Mosquitto(tmp_path / "broker").start()
    yield running
    running.stop()


def make_store(tmp_path, store_id, broker):
    settings = new_settings(store_id)
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


def test_two_stores_reach_hq_exactly_once_through_a_broker_restart(tmp_path, broker):
    book = HqBook(tmp_path / "hq.db")
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
    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url).start()
    wait_until(receiver.connected.is_set)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    resend = []
    client.on_message = lambda _c, _u, m: resend.append(m.payload)
    client.subscribe("laoke/v1/stores/s-x/resend", qos=1)

    def event(seq):
        return {"store": "s-x", "seq": seq, "id": f"e{seq}", "type": "order.created",
                "ts": "2026-11-25T04:30:00.000Z",
                "data": {"id": f"o{seq}", "total_fen": 100, "discount_fen": 0,
                         "created_at": "2026-11-25T04:30:00.000Z"}}

    def send(payload, topic=None):
        client.publish(topic or events_topic("s-x"), payload, qos=1).wait_for_publish(5)

    import json

    batch = lambda *seqs: json.dumps({"schema": 1, "store": "s-x",  # noqa: E731
                                      "events": [event(s) for s in seqs]})
    send(batch(1, 2))
    send(batch(1, 2))  # delivered twice
    send(batch(4))  # 3 is missing
    wait_until(lambda: resend)
    assert json.loads(resend[0]) == {"from_seq": 3}
    send(batch(3, 4))
    send(b"{not json")
    send(json.dumps({"schema": 99, "store": "s-x", "events": []}))
    send(json.dumps({"schema": 1, "store": "s-y", "events": [event(5)]}))
    wait_until(lambda: book.conn.execute(
        "SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 3)
    report = book.report()["stores"]["s-x"]
    assert report["orders"] == 4 and report["last_seq"] == 4 and report["revenue_fen"] == 400
    reasons = [r[0] for r in book.conn.execute("SELECT reason FROM hq_dead_letters")]
    assert any("JSON" in r for r in reasons) and any("newer" in r for r in reasons)
    assert any("s-y" in r for r in reasons)
    client.loop_stop()
    receiver.stop()


def test_a_coupon_redeemed_at_two_offline_stores_is_flagged_with_both_receipts(tmp_path):
    import json

    book = HqBook(tmp_path / "hq.db")

    def redeem(store, order_id):
        events = [
            {"store": store, "seq": 1, "id": f"{store}-1", "type": "order.created",
             "ts": "2026-11-25T04:30:00.000Z",
             "data": {"id": order_id, "total_fen": 5000, "discount_fen": 2000,
                      "created_at": "2026-11-25T04:30:00.000Z", "store_id": store,
                      "lines": [{"dish": "面", "qty": 1, "unit_price_fen": 5000}]}},
            {"store": store, "seq": 2, "id": f"{store}-2", "type": "coupon.redeemed",
             "ts": "2026-11-25T04:30:00.000Z",
             "data": {"code": "SAMECODE", "order_id": order_id, "store_id": store,
                      "redeemed_at": "2026-11-25T04:30:00.000Z", "discount_fen": 2000}}]
        book.apply(events_topic(store), json.dumps(
            {"schema": 1, "store": store, "events": events}).encode())

    redeem("s-a", "order-a")
    assert book.flags() == []
    redeem("s-b", "order-b")
    redeem("s-b", "order-b")  # delivered again: applied once, flagged once
    [flag] = book.flags()
    assert flag["kind"] == "coupon_redeemed_twice" and flag["subject"] == "SAMECODE"
    receipts = flag["detail"]["receipts"]
    assert [(r["store_id"], r["id"]) for r in receipts] == [("s-a", "order-a"),
                                                            ("s-b", "order-b")]
    assert receipts[1]["lines"] == [{"dish": "面", "qty": 1, "unit_price_fen": 5000}]


def test_the_acl_lets_a_store_publish_only_as_itself(tmp_path):
    """The ACL shipped in config/mosquitto, on a real mosquitto with users per store."""
    import shutil
    import subprocess
    from pathlib import Path

    from hub.ports import free_port, wait_port

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "acl"
    folder.mkdir()
    passwd = folder / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    for user in ("hq", "s-a", "s-b"):
        subprocess.run([tool, "-b", *(["-c"] if user == "hq" else []), str(passwd), user,
                        f"pw-{user}"], check=True)
    port = free_port()
    (folder / "m.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {root / 'config/mosquitto/laoke.acl'}\nlistener {port} 127.0.0.1\n"
        "persistence false\nuser root\n")
    from tests.broker import mosquitto_binary

    process = subprocess.Popen([mosquitto_binary(), "-c", str(folder / "m.conf")],
                               stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        book = HqBook(tmp_path / "hq.db")
        receiver = Receiver(book, f"mqtt://127.0.0.1:{port}", "hq", "pw-hq").start()
        wait_until(receiver.connected.is_set)
        thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="s-a", protocol=mqtt.MQTTv5)
        thief.username_pw_set("s-a", "pw-s-a")
        thief.connect("127.0.0.1", port)
        thief.loop_start()
        import json

        forged = json.dumps({"schema": 1, "store": "s-b", "events": [
            {"store": "s-b", "seq": 1, "id": "x", "type": "order.created", "ts": "t",
             "data": {"id": "o1", "total_fen": 999_999, "discount_fen": 0,
                      "created_at": "t"}}]})
        thief.publish(events_topic("s-b"), forged, qos=1).wait_for_publish(5)
        honest = forged.replace("s-b", "s-a")
        thief.publish(events_topic("s-a"), honest, qos=1).wait_for_publish(5)
        wait_until(lambda: book.report()["stores"].get("s-a", {}).get("orders") == 1)
        time.sleep(0.5)
        assert "s-b" not in book.report()["stores"], "store A cannot publish as store B"
        thief.loop_stop()
        receiver.stop()
    finally:
        process.terminate()
        process.wait(10)


def test_hub_and_hq_processes_with_the_commands(tmp_path, broker):
    """`laoke hub run --broker` and `laoke hq run`, as an installer runs them."""
    import json
    import os
    import subprocess
    import sys

    from tests.hubproc import ROOT, RunningHub

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
                                             "online": True}
        assert shown["totals"] == {"members": 1, "orders": 1, "revenue_fen": 3600}
        with hub.client() as api:
            wait_until(lambda: api.get("/health").json()["sync"]["backlog"] == 0)
            assert api.get("/health").json()["sync"]["connected"] is True
    finally:
        hub.stop()
        hq.terminate()
        hq.wait(10)


def test_a_guest_from_store_a_is_recognised_and_served_at_store_b(tmp_path, broker):
    from hub.domain.coupons import create_template, issue_coupon
    from hub.domain.errors import MemberNotFound
    from hub.domain.members import erase_member, link_card, member_by_card, resolve_member
    from hub.domain.replica import conflicts

    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    b().settings.chain.key = a().settings.chain.key  # one chain, one key
    publishers = [Publisher(a).start(), Publisher(b).start()]
    try:
        guest = add_member(a(), NewMember(name="王芳", phone="13800138000",
                                          allergies=["对虾"]))
        link_card(a(), guest["id"], "0100ABCDEF")
        checkout(a(), CheckoutRequest("a-1", [Line("包桌", 1, 50_000)], member_id=guest["id"]))
        template = create_template(a(), "减20", "amount_off", amount_fen=2000)
        coupon = issue_coupon(a(), template["id"], guest["id"])

        def known_at_b():
            try:
                row = resolve_member(b(), "13800138000")
            except MemberNotFound:
                return False
            from hub.domain.members import points_balance
            return points_balance(b(), row["id"]) == 500 and b().one(
                "SELECT 1 FROM coupons WHERE code = ?", (coupon["code"],)) is not None

        wait_until(known_at_b, timeout=30)
        assert member_by_card(b(), "0100ABCDEF")["id"] == guest["id"]
        paid = checkout(b(), CheckoutRequest("b-1", [Line("面", 2, 1800)], member_id=guest["id"],
                                             redeem_points=100, coupon_code=coupon["code"]))
        assert paid["points_discount_fen"] == 1000 and paid["coupon_discount_fen"] == 2000
        wait_until(lambda: a().one("SELECT 1 FROM coupon_redemptions WHERE code = ?",
                                   (coupon["code"],)) is not None, timeout=30)
        from hub.domain.members import points_balance

        wait_until(lambda: points_balance(a(), guest["id"]) == points_balance(b(), guest["id"]),
                   timeout=30)
        erase_member(a(), guest["id"], actor="owner", reason="asked")
        wait_until(lambda: b().scalar("SELECT erased_at FROM members WHERE id = ?",
                                      (guest["id"],)) is not None, timeout=30)
        assert b().scalar("SELECT name FROM members WHERE id = ?", (guest["id"],)) is None
        assert conflicts(a()) == [] and conflicts(b()) == []
    finally:
        for publisher in publishers:
            publisher.stop()
        receiver.stop()


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
    from tests.hubproc import ROOT

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


def test_hq_pushes_a_chain_wide_campaign_every_store_applies_once(tmp_path):
    import json

    from hub.domain.campaigns import get_campaign, list_campaigns, run_campaign
    from hub.domain.replica import apply_page

    def hq(*args, check=True):
        return hq_command(tmp_path / "hq", "push", *args, check=check)

    template_id = hq("template", '{"name": "周年庆", "kind": "amount_off", '
                                 '"amount_fen": 3000}').stdout.strip()
    spec = {"name": "周年庆 全连锁", "audience": {"tiers": ["member"]}, "control_pct": 0,
            "offer": {"type": "coupon", "template_id": template_id},
            "schedule": {"run": "once"}, "active": True}
    campaign_id = hq("campaign", json.dumps(spec)).stdout.strip()
    refused = hq("campaign", json.dumps({**spec, "offer": {"type": "coupon",
                                                          "template_id": "nope"}}), check=False)
    assert "no coupon template 'nope'" in refused.stderr and refused.returncode == 2

    book = HqBook(tmp_path / "hq" / "hq.db")
    settings = new_settings("s-b")
    with Store(tmp_path / "b.db", settings) as shop:
        guest = add_member(shop, NewMember(name="王芳", phone="13800138000"))
        page = book.feed("s-b", 0)
        apply_page(shop, page["events"], page["position"])
        apply_page(shop, page["events"], page["position"])  # a page read twice changes nothing
        campaign = get_campaign(shop, campaign_id)
        assert campaign["origin"] == "~hq" and campaign["active"]
        assert [c["id"] for c in list_campaigns(shop)] == [campaign_id]
        assert run_campaign(shop, campaign_id)["treated"] == 1
        code = shop.scalar("SELECT code FROM coupons WHERE member_id = ?", (guest["id"],))
        assert shop.scalar("SELECT template_id FROM coupons WHERE code = ?", (code,)) == \
            template_id
        # A change from HQ arrives in order and keeps the store's own run time.
        hq("campaign", json.dumps({**spec, "id": campaign_id, "active": False}))
        page = book.feed("s-b", page["position"])
        apply_page(shop, page["events"], page["position"])
        changed = get_campaign(shop, campaign_id)
        assert changed["active"] is False and changed["last_run_at"] is not None
        local_elsewhere = {**changed, "id": "made-at-store-a", "origin": "s-a"}
        apply_page(shop, [{"store": "s-a", "seq": 9, "id": "x", "type": "campaign.saved",
                           "data": local_elsewhere}], page["position"])
        assert [c["id"] for c in list_campaigns(shop)] == [campaign_id], \
            "a store's own campaigns stay at that store"


def test_a_dead_hub_is_rebuilt_from_hq_and_carries_on_numbering(tmp_path, broker):
    import json
    import os
    import subprocess
    import sys

    from hub.domain.campaigns import create_campaign, run_campaign
    from hub.domain.coupons import create_template, issue_coupon
    from hub.domain.ledgers import top_up
    from hub.domain.members import erase_member, link_card
    from hub.domain.staff import add_staff
    from hub.domain.visits import check_in

    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url).start()
    shop = make_store(tmp_path, "s-a", broker)
    s = shop()
    waiter = add_staff(s, "小李", "waiter", "2468")
    guests = [add_member(s, NewMember(name=f"客{n}", phone=f"1380000{n:04d}",
                                      marketing_consent=True)) for n in range(6)]
    link_card(s, guests[0]["id"], "0100ABCDEF")
    top_up(s, guests[0]["id"], 20_000, bonus_fen=2_000)
    template = create_template(s, "满100减20", "amount_off", amount_fen=2000, min_spend_fen=5000)
    coupon = issue_coupon(s, template["id"], guests[0]["id"])
    visit = check_in(s, guests[0]["id"], "A1", 2, staff_id=waiter["id"])
    checkout(s, CheckoutRequest("k-1", [Line("水煮鱼", 1, 12800), Line("米饭", 2, 300)],
                                member_id=guests[0]["id"], coupon_code=coupon["code"],
                                stored_value_fen=5000, visit_id=visit["id"]))
    for n, guest in enumerate(guests[1:4]):
        checkout(s, CheckoutRequest(f"k-{n + 2}", [Line("面", 1, 1800)], member_id=guest["id"],
                                    channel="delivery"))
    campaign = create_campaign(s, {"name": "感恩回馈", "audience": {"tiers": ["member"]},
                                   "offer": {"type": "coupon", "template_id": template["id"]},
                                   "control_pct": 30, "schedule": {"run": "once"}})
    run_campaign(s, campaign["id"])
    erase_member(s, guests[3]["id"], actor="owner", reason="asked")
    last_seq = s.scalar("SELECT MAX(seq) FROM outbox")
    publisher = Publisher(shop).start()
    wait_until(lambda: book.report()["stores"].get("s-a", {}).get("last_seq") == last_seq)
    publisher.stop()

    home = tmp_path / "replacement"
    done = subprocess.run(
        [sys.executable, "-m", "hub", "--home", str(home), "hub", "restore", "--from-hq",
         "--store-id", "s-a", "--broker", broker.url, "--chain-key", s.settings.chain.key],
        capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"store_id": "s-a", "events": last_seq,
                                       "applied_seq": last_seq}
    again = subprocess.run(
        [sys.executable, "-m", "hub", "--home", str(home), "hub", "restore", "--from-hq",
         "--store-id", "s-a", "--broker", broker.url], capture_output=True, text=True,
        env={**os.environ}, timeout=120)
    assert again.returncode == 2 and "already has data" in again.stderr

    settings = new_settings("s-a")
    settings.chain.key = s.settings.chain.key
    settings.broker.url = broker.url
    restored = Store(home / "laoke.db", settings, check_same_thread=False)
    tables = {
        # An erased guest comes back as their id alone (their consent record went with them).
        "members": "id, name, phone, birthday, tier, marketing_consent, erased_at, "
                   "signed_up_by, updated_at",
        "member_cards": "*", "visits": "*", "order_lines": "*",
        "orders": "id, member_id, total_fen, discount_fen, stored_value_paid_fen, "
                  "points_earned, coupon_code, created_at, channel",
        "points_ledger": "*", "stored_value_ledger": "*", "coupon_templates": "*",
        "coupons": "*", "coupon_redemptions": "*", "campaign_targets": "*",
        "campaigns": "id, name, kind, audience, offer, control_pct, active",
        "staff": "id, name, role, active", "member_stats": "*", "dish_days": "*",
        "dish_pairs": "*", "campaign_uses": "*"}
    for table, columns in tables.items():
        query = f"SELECT {columns} FROM {table} ORDER BY 1, 2"
        assert [tuple(r) for r in restored.conn.execute(query)] == \
            [tuple(r) for r in s.conn.execute(query)], table
    assert restored.one("SELECT name, erased_at FROM members WHERE id = ?",
                        (guests[3]["id"],))["erased_at"] is not None
    from hub.domain.errors import LaokeError
    from hub.domain.staff import set_pin, staff_by_pin

    with pytest.raises(LaokeError):
        staff_by_pin(restored, "2468")  # PINs never leave the store
    set_pin(restored, waiter["id"], "1357", actor="owner")
    assert staff_by_pin(restored, "1357")["id"] == waiter["id"]

    # The next change is the one HQ expects: no gap, nothing doubled.
    add_member(restored, NewMember(name="新客", phone="13900000000"))
    assert restored.scalar("SELECT MIN(seq) FROM outbox") == last_seq + 1
    publisher = Publisher(lambda: restored).start()
    wait_until(lambda: book.report()["stores"]["s-a"]["last_seq"] == last_seq + 1)
    publisher.stop()
    receiver.stop()
    row = book.conn.execute("SELECT gap_from FROM hq_stores WHERE store_id = 's-a'").fetchone()
    assert row[0] is None
    assert book.report()["stores"]["s-a"]["members"] == 6  # seven signed up, one erased


def test_chain_wide_reports_at_hq_add_up_the_stores(tmp_path):
    import json

    from hub.demo_data import generate

    home = tmp_path / "hq"
    home.mkdir()
    book = HqBook(home / "hq.db")
    shops = {}
    for n, sid in enumerate(("s-a", "s-b")):
        settings = new_settings(sid)
        shop = Store(tmp_path / f"{sid}.db", settings)
        generate(shop, members=60, days=30, seed=n)  # the history HQ never saw
        for k in range(5):
            member = add_member(shop, NewMember(name=f"客{k}", phone=f"139{n}000{k:04d}"))
            checkout(shop, CheckoutRequest(f"{sid}-{k}", [Line("水煮鱼", 1, 12800),
                                                          Line("米饭", k + 1, 300)],
                                           member_id=member["id"]))
        hand_to_hq(book, shop)
        shops[sid] = shop
    done = hq_command(home, "report", "dishes", "--from", "2026-11-01", "--json")
    chain = {d["dish"]: d["qty"] for d in json.loads(done.stdout)["dishes"]}
    assert chain == {"水煮鱼": 10, "米饭": 30}, "what HQ heard of: the synced checkouts"
    assert chain["米饭"] == sum(
        shop.scalar("SELECT SUM(qty) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                    "WHERE o.idempotency_key LIKE ? AND dish = '米饭'", (f"{sid}-%",))
        for sid, shop in shops.items())
    channels = hq_command(home, "report", "channels", "--json")
    assert json.loads(channels.stdout)["channels"] == [
        {"channel": "dine_in", "orders": 10, "revenue_fen": 10 * 12800 + 30 * 300}]


def test_stores_reach_hq_over_tls_and_an_unknown_ca_is_refused(tmp_path):
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
        book = HqBook(tmp_path / "hq.db")
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


def test_stored_value_is_never_overdrawn_across_stores_online_or_offline(tmp_path, broker):
    from dataclasses import replace

    from hub.domain.authority import slice_left
    from hub.domain.errors import InsufficientBalance
    from hub.domain.ledgers import top_up
    from sync.authority import authorise_spend

    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url, slice_fen=2_000).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    pub_a, pub_b = Publisher(a).start(), Publisher(b).start()
    guest = add_member(a(), NewMember(name="王芳", phone="13800138000"))
    top_up(a(), guest["id"], 10_000)
    wait_until(lambda: b().one("SELECT 1 FROM stored_value_ledger WHERE member_id = ?",
                               (guest["id"],)) is not None)

    def pay(shop, publisher, key, amount):
        """What the till's API does: ask HQ (or fall back to the slice), then check out."""
        req = CheckoutRequest(key, [Line("套餐", 1, 10_000)], member_id=guest["id"],
                              stored_value_fen=amount)
        auth = authorise_spend(publisher, shop(), req)
        return auth, checkout(shop(), replace(req, stored_value_auth=auth))

    auth, _ = pay(b, pub_b, "b-1", 6_000)
    assert auth.startswith("hq:")
    assert slice_left(b(), guest["id"]) == 2_000, "HQ reserved a slice for store B"
    with pytest.raises(InsufficientBalance, match=r"covers 20\.00"):
        pay(a, pub_a, "a-1", 6_000)  # 10,000 - 6,000 spent - 2,000 reserved for B
    assert pay(a, pub_a, "a-2", 2_000)[0].startswith("hq:")
    with pytest.raises(InsufficientBalance, match=r"covers 0\.00"):
        pay(a, pub_a, "a-3", 100)

    broker.stop()  # both stores offline
    wait_until(lambda: not pub_a.connected.is_set() and not pub_b.connected.is_set())
    assert pay(b, pub_b, "b-2", 1_500)[0] == "slice"
    with pytest.raises(InsufficientBalance, match=r"at most 5\.00"):
        pay(b, pub_b, "b-3", 1_000)
    with pytest.raises(InsufficientBalance, match=r"at most 0\.00"):
        pay(a, pub_a, "a-4", 100)  # store A holds no slice of this guest
    broker.start()
    for shop in (a, b):
        wait_until(lambda shop=shop: shop().scalar("SELECT COUNT(*) FROM outbox") == 0,
                   timeout=30)
    balance = book.conn.execute("SELECT balance_fen FROM hq_stored_value WHERE member_id = ?",
                                (guest["id"],)).fetchone()[0]
    assert balance == 10_000 - 6_000 - 2_000 - 1_500 == 500
    held = book.conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM hq_holds WHERE "
                             "member_id = ? AND open", (guest["id"],)).fetchone()[0]
    assert held == 500, "B's slice, less what B spent from it offline; every approval closed"
    for publisher in (pub_a, pub_b):
        publisher.stop()
    receiver.stop()


def test_hq_settings_reach_every_store_live_and_outlive_a_restart(tmp_path):
    from hub.domain.replica import apply_page, conflicts

    def push(spec, check=True):
        return hq_command(tmp_path / "hq", "push", "settings", spec, check=check)

    push('{"points": {"earn_per_yuan": 2}, "campaigns": {"weekly_cap": 1}}')
    assert "HQ may not set store_id" in push('{"store_id": "x"}', check=False).stderr
    assert "earn_per_yuan" in push('{"points": {"earn_per_yuan": -1}}', check=False).stderr
    book = HqBook(tmp_path / "hq" / "hq.db")
    settings = new_settings("s-c")
    with Store(tmp_path / "c.db", settings) as shop:
        guest = add_member(shop, NewMember(name="王芳", phone="13800138000"))
        page = book.feed("s-c", 0)
        apply_page(shop, page["events"], page["position"])
        assert shop.settings.points.earn_per_yuan == 2, "live, for the running hub"
        paid = checkout(shop, CheckoutRequest("k", [Line("面", 1, 10_000)],
                                              member_id=guest["id"]))
        assert paid["points_earned"] == 200
        assert conflicts(shop) == []
    with Store(tmp_path / "c.db", new_settings("s-c")) as again:
        assert again.settings.points.earn_per_yuan == 2, "kept across a restart"
        assert again.settings.campaigns.weekly_cap == 1


def test_an_idle_slice_goes_back_to_the_chain(store, clock, tmp_path):

    from hub.domain.authority import grant_slice, release_idle_slices, slice_left
    from hub.domain.ledgers import top_up

    book = HqBook(tmp_path / "hq.db")
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    top_up(store, guest["id"], 10_000)

    def sync():
        hand_to_hq(book, store)

    def held():
        return book.conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM hq_holds WHERE "
                                 "kind = 'slice'").fetchone()[0]

    sync()
    answer = book.authorise("s1", guest["id"], 1_000, slice_cap_fen=2_000)
    grant_slice(store, guest["id"], answer["slice_grant_fen"])
    assert held() == slice_left(store, guest["id"]) == 2_000
    clock.advance(days=29)
    assert release_idle_slices(store) == 0
    clock.advance(days=2)
    assert release_idle_slices(store) == 1
    assert slice_left(store, guest["id"]) == 0
    sync()
    assert held() == 0
    assert book.authorise("s1", guest["id"], 9_000)["approved"], "the whole balance is free"
