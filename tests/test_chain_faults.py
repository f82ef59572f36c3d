"""The chain stays exact under faults (issue 15): each test makes one fault happen with real
parts (mosquitto, hub processes, HQ, SQLite) and checks what every side ends up holding."""

import json

import pytest

from hub.domain.coupons import create_template, issue_coupon
from hub.domain.members import NewMember, add_member, erase_member, link_card
from hub.domain.replica import apply_page, conflicts, feed_position
from sync.hq import HqBook, Receiver
from sync.publisher import Publisher
from tests.support.broker import Mosquitto
from tests.support.chain import hq_and_a_store_link, hq_command, make_store, order_event
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub, wait_until


def test_an_event_that_cannot_apply_is_a_conflict_and_sync_carries_on(hq_db, tmp_path, broker):
    """Fault 1: a guest with a card and a coupon, erased at an offline store before it
    reconnects, keeps only their id at the other store (their coupon and ledgers point at
    it, anonymised); and events from a store that point at nobody become conflicts. Either
    way everything after them still arrives, and the sync worker lives on."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from sync.protocol import events_topic

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    a = make_store(tmp_path, "s-a", broker)
    b = RunningHub(tmp_path / "b", "--broker", broker.url, "--store-id", "s-b").start(timeout=90)
    publisher = None
    stray = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    try:
        template = create_template(a(), "减20", "amount_off", amount_fen=2000)
        guest = add_member(a(), NewMember(name="王芳", phone="13800138000"))
        link_card(a(), guest["id"], "0100ABCDEF")
        coupon = issue_coupon(a(), template["id"], guest["id"])
        erase_member(a(), guest["id"], actor="owner", reason="asked")
        # A store whose books lost a guest sends their card and a coupon of a template
        # nobody has: at B they point at nothing.
        stray.connect("127.0.0.1", broker.port)
        stray.loop_start()
        orphans = [{"store": "s-x", "seq": 1, "id": "x1", "type": "card.linked", "ts": "t",
                    "data": {"number": "77", "member_id": "nobody", "linked_at": "t"}},
                   {"store": "s-x", "seq": 2, "id": "x2", "type": "coupon.issued", "ts": "t",
                    "data": {"code": "X2", "template_id": "none", "member_id": None,
                             "store_id": "s-x", "issued_at": "t", "valid_from": "t",
                             "valid_until": "t"}}]
        stray.publish(events_topic("s-x"), json.dumps(
            {"schema": 1, "store": "s-x", "events": orphans}), qos=1).wait_for_publish(5)
        wait_until(lambda: book.report()["stores"].get("s-x", {}).get("last_seq") == 2)
        later = add_member(a(), NewMember(name="李雷", phone="13900139000"))
        publisher = Publisher(a).start()  # store A comes back online

        with b.client() as api:
            def arrived():
                found = api.get("/members/lookup", params={"phone": "13900139000"})
                return found.status_code == 200 and found.json()["id"] == later["id"]

            wait_until(arrived, timeout=60)
            health = api.get("/health").json()
            assert health["sync"]["conflicts"] == 2, "the stray card and coupon, for a person"
            [sync_worker] = [w for w in health["workers"] if w["name"] == "sync"]
            assert sync_worker["state"] == "running"
            # Still alive: a change made now reaches B too.
            newest = add_member(a(), NewMember(name="韩梅", phone="13700137000"))
            wait_until(lambda: api.get("/members/lookup", params={
                "phone": "13700137000"}).json().get("id") == newest["id"], timeout=60)
        with home_db(b.home) as db:
            kept = db.execute("SELECT name, phone, erased_at FROM members WHERE id = ?",
                              (guest["id"],)).fetchone()
            assert kept[0] is None and kept[1] is None and kept[2] is not None
            assert db.execute("SELECT COUNT(*) FROM member_cards").fetchone()[0] == 0
            assert db.execute("SELECT member_id FROM coupons WHERE code = ?",
                              (coupon["code"],)).fetchone()[0] == guest["id"]
            reasons = [r[0] for r in db.execute("SELECT type FROM sync_conflicts")]
            assert sorted(reasons) == ["card.linked", "coupon.issued"]
    finally:
        stray.loop_stop()
        if publisher is not None:
            publisher.stop()
        b.stop()
        receiver.stop()


def test_a_relayed_row_with_a_field_no_table_has_is_a_conflict(store):
    """Column names never come from relayed JSON: a key the table does not have is kept as
    a conflict, never spliced into SQL, and the rest of the page applies."""
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    hostile = {"code": "X1", "template_id": "t", "member_id": guest["id"],
               "issued_at": "2026-11-25T04:30:00.000Z",
               "valid_until) VALUES (1); DROP TABLE members; --": 1}
    template = {"id": "t", "name": "减20", "kind": "amount_off", "amount_fen": 2000,
                "created_at": "2026-11-25T04:30:00.000Z", "valid_days": 30}
    events = [
        {"store": "s-x", "seq": 1, "id": "e1", "type": "coupon.issued", "data": hostile},
        {"store": "s-x", "seq": 2, "id": "e2", "type": "coupon_template.created",
         "data": {**template, "extra": "?"}},
        {"store": "s-x", "seq": 3, "id": "e3", "type": "card.linked",
         "data": {"number": "77", "member_id": guest["id"], "linked_at": "t"}},
        {"store": "s-x", "seq": 4, "id": "e4", "type": "coupon.issued", "data": ["not", "a"]},
    ]
    apply_page(store, events, 4)
    assert store.scalar("SELECT COUNT(*) FROM members") == 1
    assert store.scalar("SELECT member_id FROM member_cards WHERE number = '77'") == guest["id"]
    found = {c["event_id"]: c["reason"] for c in conflicts(store)}
    assert set(found) == {"e1", "e2", "e4"}, found
    assert "valid_until" in found["e1"] and "extra" in found["e2"]
    assert json.loads(store.meta("hq_feed_position")) == 4


def held_at_hq(book, member_id, store_id):
    """What HQ has promised this store of the guest's money: open approvals and slice."""
    return book.conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM hq_holds WHERE "
                             "member_id = ? AND store_id = ? AND open = 1",
                             (member_id, store_id)).fetchone()[0]


def may_spend(home, member_id):
    """What a store may still spend of the guest's money on HQ's word, from its database:
    the approvals not yet spent or released, and its slice."""
    with home_db(home) as conn:
        approved = conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM sv_approvals "
                                "WHERE member_id = ? AND state = 'open'",
                                (member_id,)).fetchone()[0]
        sliced = conn.execute("SELECT COALESCE(MAX(remaining_fen), 0) FROM sv_slices "
                              "WHERE member_id = ?", (member_id,)).fetchone()[0]
    return approved + sliced


def test_a_checkout_refused_after_asking_hq_leaves_no_hold(hq_db, tmp_path, broker):
    """Fault 5: at another store, a 50 元 bill paid with 100 元 of stored value is refused;
    the same bill paid with 50 元 then goes through, and HQ holds for that store exactly
    what the store may still spend."""
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url, slice_fen=2_000).start()
    a = RunningHub(tmp_path / "a", "--broker", broker.url, "--store-id", "s-a").start(timeout=90)
    b = RunningHub(tmp_path / "b", "--broker", broker.url, "--store-id", "s-b").start(timeout=90)
    try:
        with a.client() as till_a, b.client() as till_b:
            guest = till_a.post("/members", json={"name": "王芳", "phone": "13800138000",
                                                 "marketing_consent": True}).json()
            assert till_a.post(f"/members/{guest['id']}/topups",
                               json={"amount_fen": 10_000}).status_code == 201
            wait_until(lambda: till_b.get(f"/members/{guest['id']}").status_code == 200 and
                       till_b.get(f"/members/{guest['id']}").json()["stored_value_fen"] ==
                       10_000, timeout=60)
            wait_until(lambda: till_b.get("/health").json()["sync"]["connected"])
            bill = [{"dish": "套餐", "qty": 1, "unit_price_fen": 5_000}]
            refused = till_b.post("/checkouts", json={
                "member_id": guest["id"], "lines": bill, "stored_value_fen": 10_000},
                headers={"Idempotency-Key": "b-1"})
            assert refused.status_code == 422, refused.text
            paid = till_b.post("/checkouts", json={
                "member_id": guest["id"], "lines": bill, "stored_value_fen": 5_000},
                headers={"Idempotency-Key": "b-2"})
            assert paid.status_code == 201, paid.text
            assert paid.json()["stored_value_fen"] == 5_000
            wait_until(lambda: till_b.get("/health").json()["sync"]["backlog"] == 0)
        wait_until(lambda: held_at_hq(book, guest["id"], "s-b") ==
                   may_spend(b.home, guest["id"]), timeout=30)
        assert held_at_hq(book, guest["id"], "s-b") == 2_000, "the slice, and nothing else"
        assert held_at_hq(book, guest["id"], "s-a") == may_spend(a.home, guest["id"]) == 0
    finally:
        a.stop()
        b.stop()
        receiver.stop()


def test_an_approval_the_checkout_never_used_goes_back_to_the_chain(hq_db, tmp_path, broker):
    """Fault 5, the race: HQ approved, then the checkout failed (the coupon was used at
    the next till meanwhile). The store gives the approval back through its outbox; a spend
    that would still try to use it is refused, never counted twice."""
    from dataclasses import replace

    from hub.domain.authority import release_unused_approvals
    from hub.domain.checkout import CheckoutRequest, authorise, checkout
    from hub.domain.coupons import Line
    from hub.domain.errors import CouponUsed, InsufficientBalance
    from hub.domain.ledgers import top_up

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url, slice_fen=0).start()
    shop = make_store(tmp_path, "s-a", broker)
    publisher = Publisher(shop).start()
    try:
        guest = add_member(shop(), NewMember(name="王芳", phone="13800138000"))
        top_up(shop(), guest["id"], 10_000)
        template = create_template(shop(), "减10", "amount_off", amount_fen=1000)
        coupon = issue_coupon(shop(), template["id"], guest["id"])
        wait_until(lambda: shop().scalar("SELECT COUNT(*) FROM outbox") == 0, timeout=30)
        wait_until(publisher.connected.is_set)
        req = CheckoutRequest("k-1", [Line("套餐", 1, 5_000)], member_id=guest["id"],
                              coupon_code=coupon["code"], stored_value_fen=4_000)
        auth = authorise(publisher, shop(), req).stored_value_auth
        assert auth.startswith("hq:") and held_at_hq(book, guest["id"], "s-a") == 4_000
        checkout(shop(), CheckoutRequest("k-0", [Line("面", 1, 2_000)], member_id=guest["id"],
                                         coupon_code=coupon["code"]))  # the other till
        with pytest.raises(CouponUsed):
            checkout(shop(), replace(req, stored_value_auth=auth))
        assert release_unused_approvals(shop(), after_s=0) == 1
        with pytest.raises(InsufficientBalance, match="approval"):
            checkout(shop(), replace(req, coupon_code=None, stored_value_auth=auth))
        wait_until(lambda: held_at_hq(book, guest["id"], "s-a") == 0, timeout=30)
        assert shop().scalar("SELECT COUNT(*) FROM sv_approvals WHERE state = 'open'") == 0
        assert book.authorise("s-b", guest["id"], 10_000)["approved"], "all of it is free"
    finally:
        publisher.stop()
        receiver.stop()


def test_a_jump_of_hqs_clock_releases_no_hold(hq_db, tmp_path):
    """Fault 4: an approved spend that has not arrived yet (a link drop, a stalled stream)
    still counts however late it is, and whatever HQ's clock says."""
    from tests.conftest import FakeClock

    clock = FakeClock()
    book = HqBook(hq_db, clock=clock)
    book.conn.execute("INSERT INTO hq_stored_value (member_id, balance_fen) VALUES ('g', 10000)")
    assert book.authorise("s-a", "g", 6_000)["approved"]
    clock.advance(days=3)  # NTP steps HQ's clock, or the spend is days late
    late = book.authorise("s-b", "g", 6_000)
    assert not late["approved"] and late["available_fen"] == 4_000


def test_a_poison_event_is_parked_once_and_the_rest_of_the_stream_flows(tmp_path, broker):
    """Fault 7: one event HQ cannot apply (here, a stored-value entry with no guest) is
    parked once; the store is marked as needing attention and everything after it applies.
    The store sending it again adds nothing."""
    def order(seq):
        return order_event("s-p", seq)

    poison = {"store": "s-p", "seq": 2, "id": "e2", "type": "stored_value.entry",
              "ts": "2026-11-25T04:30:00.000Z", "data": {"id": "x", "amount_fen": 500}}
    batch = json.dumps({"schema": 1, "store": "s-p", "events": [order(1), poison, order(3)]})
    with hq_and_a_store_link(tmp_path, broker, "s-p") as (book, send, resends):
        for _ in range(3):  # the store sends it again after a reconnect, twice
            send(batch)
        send(json.dumps({"schema": 1, "store": "s-p", "events": [order(4)]}))
        wait_until(lambda: book.report()["stores"].get("s-p", {}).get("last_seq") == 4)
        report = book.report()["stores"]["s-p"]
        assert report["orders"] == 3 and report["revenue_fen"] == 300
        [parked] = book.conn.execute("SELECT * FROM hq_dead_letters").fetchall()
        assert "seq 2" in parked["reason"] and json.loads(parked["payload"]) == poison
        attention = book.conn.execute("SELECT attention FROM hq_stores WHERE store_id = "
                                      "'s-p'").fetchone()[0]
        assert "seq 2" in attention
        assert resends == [], "no gap: the stream flows past the poison"
        shown = json.loads(hq_command(tmp_path, "stores", "--json").stdout)["stores"]
        assert "seq 2" in shown[0]["attention"]


def test_hq_killed_with_events_in_flight_catches_up_with_no_new_traffic(tmp_path, broker):
    """Fault 8: HQ frozen while a store makes 50 checkouts, then SIGKILLed and started again;
    nobody sends anything new, and HQ still ends with every event exactly once: it acks only
    what it committed, and its broker session keeps what came while it was away."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.support.hubproc import ROOT

    hq_home = tmp_path / "hq"

    def start_hq():
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "--home", str(hq_home), "hq", "run", "--broker",
             broker.url], env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.DEVNULL)

    def at_hq(sql):
        if not (hq_home / "hq.db").exists():
            return None
        with sqlite3.connect(f"file:{hq_home / 'hq.db'}?mode=ro", uri=True, timeout=10) as db:
            try:
                return db.execute(sql).fetchone()
            except sqlite3.OperationalError:
                return None  # the tables are not there yet

    hq = start_hq()
    shop = RunningHub(tmp_path / "shop", "--broker", broker.url, "--store-id", "s-k")
    shop.start(timeout=90)
    try:
        with shop.client() as till:
            guest = till.post("/members", json={"name": "王芳", "phone": "13800138000",
                                                "marketing_consent": True}).json()
            wait_until(lambda: (at_hq("SELECT applied_seq FROM hq_stores") or [0])[0] > 0,
                       timeout=60)
            hq.send_signal(signal.SIGSTOP)  # HQ hangs: what reaches it is never applied
            for n in range(50):
                done = till.post("/checkouts", json={"member_id": guest["id"], "lines": [
                    {"dish": "面", "qty": 1, "unit_price_fen": 1800}]},
                    headers={"Idempotency-Key": f"k-{n}"})
                assert done.status_code == 201, done.text
            time.sleep(3)  # the store has sent it all to the broker
        hq.send_signal(signal.SIGKILL)
        hq.wait(10)
        with home_db(shop.home) as db:
            top = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()[0]
        hq = start_hq()
        wait_until(lambda: (at_hq("SELECT applied_seq FROM hq_stores") or [0])[0] == top,
                   timeout=30)
        assert tuple(at_hq("SELECT COUNT(*), COUNT(DISTINCT id) FROM hq_orders")) == (50, 50)
    finally:
        shop.stop()
        hq.kill()
        hq.wait(10)


def test_an_approval_asked_twice_is_one_hold_and_a_given_back_one_stays_back(hq_db, tmp_path):
    """HQ acks a request only after answering it, so a request may come twice; and a store's
    release may overtake its own slow request. Neither makes a second promise."""
    book = HqBook(hq_db)
    book.conn.execute("INSERT INTO hq_stored_value (member_id, balance_fen) VALUES ('g', 10000)")
    first = book.authorise("s-a", "g", 6_000, hold_id="h1")
    again = book.authorise("s-a", "g", 6_000, hold_id="h1")
    assert first["approved"] and again["approved"] and again["hold_id"] == "h1"
    assert held_at_hq(book, "g", "s-a") == 6_000
    assert not book.authorise("s-b", "g", 1_000, hold_id="h1")["approved"], "not B's"
    release = {"store": "s-a", "seq": 1, "id": "e1", "type": "stored_value.hold_released",
               "ts": "t", "data": {"hold_id": "h2", "member_id": "g", "amount_fen": 3_000}}
    from sync.protocol import events_topic

    book.apply(events_topic("s-a"), json.dumps(
        {"schema": 1, "store": "s-a", "events": [release]}).encode())
    assert not book.authorise("s-a", "g", 3_000, hold_id="h2")["approved"], "given back"
    assert held_at_hq(book, "g", "s-a") == 6_000


def test_a_store_whose_broker_user_is_not_its_id_says_it_is_not_connected(tmp_path):
    """Fault 11: the ACL refuses every publish (PUBACK 0x87) while the connection stands:
    the store must not say it is connected while its backlog grows."""
    from tests.support.broker import acl_broker

    with acl_broker(tmp_path / "acl", {"s-other": "pw"}) as port:

        class At:
            url = f"mqtt://127.0.0.1:{port}"

        shop = make_store(tmp_path, "s-a", At)
        shop().settings.broker.username, shop().settings.broker.password = "s-other", "pw"
        add_member(shop(), NewMember(name="王芳", phone="13800138000"))
        publisher = Publisher(shop).start()
        try:
            wait_until(lambda: publisher.state()["refused"] is not None, timeout=30)
            state = publisher.state()
            assert state["connected"] is False and "s-a" in state["refused"]
            assert "Not authorized" in state["last_error"] and state["backlog"] > 0
        finally:
            publisher.stop()


def test_big_events_travel_in_batches_the_broker_takes_and_few_at_a_time(hq_db, tmp_path):
    """Fault 11: a broker with the shipped message size limit, and a backlog of heavy
    events: every batch fits under the limit, and only a few are in flight at once."""
    from hub.domain.config import new_settings
    from hub.domain.store import Store
    from sync.publisher import MAX_IN_FLIGHT

    limited = Mosquitto(tmp_path / "limited", extra="max_packet_size 1048576\n").start()
    try:
        book = HqBook(hq_db)
        receiver = Receiver(book, limited.url).start()
        settings = new_settings("s-big")
        settings.storage.synchronous = "normal"
        with Store(tmp_path / "s-big.db", settings) as store, store.write():
            for n in range(1_500):  # an order with many long lines: about 6 KB each
                store.emit("order.created", {
                    "id": f"o{n}", "total_fen": 100, "discount_fen": 0, "created_at": "t",
                    "lines": [{"dish": f"菜{k:03d}" * 10, "qty": 1, "unit_price_fen": 1}
                              for k in range(60)]})
        shop = make_store(tmp_path, "s-big", limited)
        publisher = Publisher(shop).start()
        peak = 0
        try:
            def drained():
                nonlocal peak
                peak = max(peak, publisher.state()["in_flight"])
                return book.report()["stores"].get("s-big", {}).get("orders") == 1_500

            wait_until(drained, timeout=120)
        finally:
            publisher.stop()
            receiver.stop()
        assert peak <= MAX_IN_FLIGHT
    finally:
        limited.stop()


def test_an_erasure_wins_over_an_edit_made_where_it_was_not_known_yet(hq_db, tmp_path, broker):
    """Fault 3: store B, offline, edits a guest store A has erased. When B is back, the
    edit resurrects nothing anywhere: not at A, not at B, not at HQ nor in what HQ serves."""
    from hub.domain.members import update_member

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    pub_a, pub_b = Publisher(a).start(), Publisher(b).start()
    try:
        guest = add_member(a(), NewMember(name="王芳", phone="13800138000",
                                          notes="不吃香菜"))
        wait_until(lambda: b().one("SELECT 1 FROM members WHERE id = ?", (guest["id"],)),
                   timeout=30)
        pub_b.stop()  # B goes offline
        erase_member(a(), guest["id"], actor="owner", reason="asked")
        wait_until(lambda: a().scalar("SELECT COUNT(*) FROM outbox") == 0, timeout=30)
        update_member(b(), guest["id"], {"notes": "微辣, 靠窗"}, actor="waiter")
        pub_b = Publisher(b).start()  # B is back
        wait_until(lambda: b().scalar("SELECT erased_at FROM members WHERE id = ?",
                                      (guest["id"],)) is not None, timeout=30)
        wait_until(lambda: b().scalar("SELECT COUNT(*) FROM outbox") == 0, timeout=30)
        wait_until(lambda: feed_position(a()) >= book.conn.execute(
            "SELECT MAX(hq_seq) FROM hq_events").fetchone()[0], timeout=30)
        for shop in (a(), b()):
            row = shop.one("SELECT name, phone, notes, erased_at FROM members WHERE id = ?",
                           (guest["id"],))
            assert (row["name"], row["phone"], row["notes"]) == (None, None, "")
            assert row["erased_at"] is not None
            assert shop.scalar("SELECT COUNT(*) FROM sync_conflicts WHERE data LIKE ? OR "
                               "data LIKE ?", ("%王芳%", "%13800138000%")) == 0
        for text in ("王芳", "13800138000", "不吃香菜", "靠窗"):
            assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE data LIKE ?",
                                     (f"%{text}%",)).fetchone()[0] == 0, text
            assert text not in book.feed("s-c", 0).decode()
    finally:
        pub_a.stop()
        pub_b.stop()
        receiver.stop()


def test_a_second_hub_writing_as_the_same_store_is_refused_and_loses_nothing(hq_db, tmp_path,
                                                                             broker):
    """Fault 2: a cloned SD card (or a restore while the old hub was only cut off) makes two
    hubs number events under one store id. The second one hears from HQ that HQ's events
    are not its own: it says so, sends nothing and prunes nothing; HQ mixes nothing in."""
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    first = make_store(tmp_path, "s-d", broker)
    (tmp_path / "clone").mkdir()
    clone = make_store(tmp_path / "clone", "s-d", broker)
    pub_first = Publisher(first).start()
    pub_clone = None
    try:
        for n in range(5):
            add_member(first(), NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))
        top = first().scalar("SELECT MAX(seq) FROM outbox")
        wait_until(lambda: book.report()["stores"].get("s-d", {}).get("last_seq") == top)
        for n in range(7):  # the clone's own guests: more events than HQ has
            add_member(clone(), NewMember(name=f"克{n}", phone=f"1390000{n:04d}"))
        theirs = clone().scalar("SELECT COUNT(*) FROM outbox")
        pub_clone = Publisher(clone).start()
        wait_until(lambda: pub_clone.state()["refused"] is not None, timeout=30)
        assert "another hub" in pub_clone.state()["refused"]
        assert pub_clone.state()["connected"] is False
        assert clone().scalar("SELECT COUNT(*) FROM outbox") == theirs, "nothing pruned"
        add_member(first(), NewMember(name="新客", phone="13700137000"))
        wait_until(lambda: book.report()["stores"]["s-d"]["members"] == 6)
        assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE data LIKE '%克%'"
                                 ).fetchone()[0] == 0, "nothing of the clone mixed in"
    finally:
        pub_first.stop()
        if pub_clone is not None:
            pub_clone.stop()
        receiver.stop()


def test_hq_parks_a_batch_whose_seqs_it_applied_as_other_events(hq_db, tmp_path):
    """Fault 2 at HQ: (store, seq) alone would skip the second writer's events as
    duplicates, and its newer seqs would join the first hub's stream. HQ compares event
    ids: the batch is parked once, the store marked, nothing of it applied."""
    from sync.protocol import events_topic

    book = HqBook(hq_db)

    def batch(*events):
        return json.dumps({"schema": 1, "store": "s-d", "events": [
            {"store": "s-d", "seq": seq, "id": id_, "type": "order.created", "ts": "t",
             "data": {"id": f"o-{id_}", "total_fen": 100, "discount_fen": 0,
                      "created_at": "t"}} for seq, id_ in events]}).encode()

    assert book.apply(events_topic("s-d"), batch((1, "a1"), (2, "a2")))[1] == 2
    assert book.apply(events_topic("s-d"), batch((1, "a1"), (2, "a2")))[1] == 2, "a resend"
    for _ in range(2):
        assert book.apply(events_topic("s-d"), batch((2, "b2"), (3, "b3"))) == ("s-d", 2, None)
    assert book.report()["stores"]["s-d"]["orders"] == 2
    assert book.conn.execute("SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 1
    attention = book.conn.execute("SELECT attention FROM hq_stores").fetchone()[0]
    assert "another hub" in attention and "seq 2" in attention
    assert book.applied_id("s-d", 2) == "a2"


def test_hq_approves_no_spend_for_a_store_whose_events_it_cannot_read(hq_db, tmp_path, broker):
    """Fault 10, in part: a store on a newer protocol than HQ has its batches parked; HQ must
    not go on approving its spends against books it cannot see. The store's birth message
    says its protocol."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from sync.protocol import PROTOCOL, status_topic

    book = HqBook(hq_db)
    book.conn.execute("INSERT INTO hq_stored_value (member_id, balance_fen) VALUES ('g', 10000)")
    receiver = Receiver(book, broker.url).start()
    wait_until(receiver.connected.is_set)
    newer = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    newer.connect("127.0.0.1", broker.port)
    newer.loop_start()
    try:
        newer.publish(status_topic("s-new"), json.dumps(
            {"store": "s-new", "online": True, "schema": PROTOCOL + 1}), qos=1,
            retain=True).wait_for_publish(5)
        wait_until(lambda: book.conn.execute(
            "SELECT schema FROM hq_stores WHERE store_id = 's-new'").fetchone() is not None)
        answer = book.authorise("s-new", "g", 1_000)
        assert not answer["approved"] and "newer" in answer["error"]
        assert book.authorise("s-old", "g", 1_000)["approved"]
        shown = json.loads(hq_command(tmp_path, "stores", "--json", "--db", str(hq_db)
                                      ).stdout)["stores"]
        assert {s["store_id"]: s["schema"] for s in shown}["s-new"] == PROTOCOL + 1
    finally:
        newer.loop_stop()
        receiver.stop()
