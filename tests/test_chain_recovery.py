"""The chain recovers from the faults of a whole side (issue 15): a hub replaced while the old
one lives (its incarnation), HQ restored from a backup (the stores' retention), two HQ
databases on one broker, and stores and HQ of different versions. Real mosquitto, SQLite
files, HQ's `laoke hq run` process where it is killed."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

from hub.domain.config import load_settings
from hub.domain.members import NewMember, add_member, erase_member
from hub.domain.replica import apply_page, conflicts
from hub.domain.store import Store
from hub.home import DB_NAME, home_key
from sync.hq import HqBook, Receiver
from sync.protocol import PROTOCOL, events_topic
from sync.publisher import Publisher
from sync.restore import restore_home
from tests.support.chain import hq_command, make_store
from tests.support.hubproc import ROOT, wait_until


def home_store(home):
    """A store factory over a hub home (one connection per thread, as the hub has)."""
    import threading

    settings = load_settings(home)
    settings.storage.synchronous = "normal"
    local = threading.local()

    def store():
        if not hasattr(local, "store"):
            local.store = Store(home / DB_NAME, settings, check_same_thread=False,
                                key=home_key(home))
        return local.store

    return store


def seen_at_hq(book, store_id):
    row = book.conn.execute("SELECT applied_seq FROM hq_stores WHERE store_id = ?",
                            (store_id,)).fetchone()
    return row[0] if row else 0


def test_a_replaced_hub_is_refused_when_its_link_comes_back(hq_db, tmp_path, broker):
    """Fault 2: the old hub is only cut off, not dead; a replacement is restored from HQ and
    gets a new incarnation. When the old hub's link comes back it is refused, loudly, with
    what it wrote meanwhile kept at it, and HQ mixes none of it into the store's books; and
    a fresh install under the same store id gets no incarnation at all."""
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    old = make_store(tmp_path, "s-e", broker)
    pub_old = Publisher(old).start()
    pub_new = None
    try:
        for n in range(3):
            add_member(old(), NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))
        wait_until(lambda: seen_at_hq(book, "s-e") == 3, timeout=30)
        pub_old.stop()  # the link is cut; the hub goes on selling
        for n in range(4):
            add_member(old(), NewMember(name=f"旧{n}", phone=f"1390000{n:04d}"))
        restore_home(tmp_path / "new", "s-e", broker=broker.url,
                     chain_key=old().settings.chain.key)
        new = home_store(tmp_path / "new")
        pub_old = Publisher(old).start()  # the old link is back first
        wait_until(lambda: pub_old.state()["refused"] is not None or
                   seen_at_hq(book, "s-e") > 3, timeout=30)
        assert pub_old.state()["refused"] is not None, "the old hub's events mixed in"
        assert "replaced" in pub_old.state()["refused"]
        assert old().scalar("SELECT COUNT(*) FROM outbox") == 4, "it keeps what it wrote"
        pub_new = Publisher(new).start()
        add_member(new(), NewMember(name="新客", phone="13700137000"))
        wait_until(lambda: book.report()["stores"]["s-e"]["members"] == 4, timeout=30)
        assert pub_new.state()["refused"] is None
        assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE data LIKE '%旧%'"
                                 ).fetchone()[0] == 0
        shown = {s["store_id"]: s for s in json.loads(
            hq_command(tmp_path, "stores", "--json", "--db", str(hq_db)).stdout)["stores"]}
        assert shown["s-e"]["epoch"] == 2
        assert "incarnation 1" in shown["s-e"]["attention"]
        (tmp_path / "fresh").mkdir()
        fresh = make_store(tmp_path / "fresh", "s-e", broker)  # a new install, same id
        add_member(fresh(), NewMember(name="另客", phone="13600136000"))
        pub_fresh = Publisher(fresh).start()
        wait_until(lambda: pub_fresh.state()["refused"] is not None, timeout=30)
        assert "another hub" in pub_fresh.state()["refused"]
        wait_until(lambda: "a new install" in (book.stores()[0]["attention"] or ""))
        assert fresh().scalar("SELECT COUNT(*) FROM outbox") == 1
        pub_fresh.stop()
        assert pub_new.state()["refused"] is None, "the store itself carries on"
    finally:
        pub_old.stop()
        if pub_new is not None:
            pub_new.stop()
        receiver.stop()


def test_a_new_hub_under_a_known_store_id_gets_no_incarnation(hq_db, tmp_path):
    """Fault 2: HQ issues an incarnation at first contact; a fresh install that reuses a
    store id HQ knows is refused (the way in is a restore), and a restore gets a new one."""
    book = HqBook(hq_db)
    first = book.hello("s-f", {"install": "i-1", "epoch": None, "acked": {}})
    assert first["epoch"] == 1
    assert book.hello("s-f", {"install": "i-1", "epoch": None, "acked": {}})["epoch"] == 1
    assert book.hello("s-f", {"install": "i-1", "epoch": 1, "acked": {}})["epoch"] == 1
    fresh = book.hello("s-f", {"install": "i-2", "epoch": None, "acked": {}})
    assert "epoch" not in fresh and "restore" in fresh["refused"]
    assert "another hub" in book.stores()[0]["attention"]
    assert book.hello("s-f", {"install": "i-3", "epoch": None, "restore": True})["epoch"] == 2
    stale = book.hello("s-f", {"install": "i-1", "epoch": 1, "acked": {}})
    assert "replaced" in stale["refused"]


def test_a_clone_continuing_past_hqs_watermark_is_not_mixed_in(hq_db, tmp_path):
    """Fault 2: a cloned card numbers its next events after the same seq as the original.
    Its batch starts right after HQ's watermark, so no seq of it clashes; the event it
    follows (`prev`) does: HQ parks it and applies the original's."""
    book = HqBook(hq_db)

    def batch(prev, *events):
        return json.dumps({"schema": PROTOCOL, "store": "s-d", "prev": prev, "events": [
            {"store": "s-d", "seq": seq, "id": id_, "type": "order.created", "ts": "t",
             "data": {"id": f"o-{id_}", "total_fen": 100, "discount_fen": 0,
                      "created_at": "t"}} for seq, id_ in events]}).encode()

    assert book.apply(events_topic("s-d"), batch(None, (1, "a1"), (2, "a2")))[1] == 2
    assert book.apply(events_topic("s-d"), batch("a2", (3, "a3")))[1] == 3
    assert book.apply(events_topic("s-d"), batch("b3", (4, "b4"), (5, "b5")))[1] == 3
    assert book.apply(events_topic("s-d"), batch("a3", (4, "a4")))[1] == 4
    assert book.report()["stores"]["s-d"]["orders"] == 4
    assert "another hub" in book.stores()[0]["attention"]


def test_an_hq_behind_what_it_acknowledged_says_so_from_a_batch_before_any_pull(hq_db, tmp_path):
    """Fault 9, the race the soak of the suite found: after HQ goes back to a backup, a store
    that fills the gap with its batches before its next pull left HQ none the wiser. Each
    batch says what this HQ acknowledged, as a pull does."""
    book = HqBook(hq_db)

    def batch(acked, *seqs):
        return json.dumps({"schema": PROTOCOL, "store": "s-e", "prev": None, "acked": acked,
                           "events": [{"store": "s-e", "seq": seq, "id": f"e{seq}",
                                       "type": "order.created", "ts": "t",
                                       "data": {"id": f"o-{seq}", "total_fen": 100,
                                                "discount_fen": 0, "created_at": "t"}}
                                      for seq in seqs]}).encode()

    topic = events_topic("s-e")
    assert book.apply(topic, batch({book.hq_id: 0}, 1, 2))[1] == 2
    assert book.apply(topic, batch({book.hq_id: 2, "another-hq": 9}, 3))[1] == 3
    assert book.conn.execute("SELECT COUNT(*) FROM hq_flags").fetchone()[0] == 0
    # HQ is back as of seq 3, while the store holds HQ's acknowledgement of 5.
    assert book.apply(topic, batch({book.hq_id: 5}, 4, 5, 6))[1] == 6
    assert book.apply(topic, batch({book.hq_id: 5}, 7))[1] == 7  # said once, not per batch
    flags = book.conn.execute("SELECT kind, subject, detail FROM hq_flags").fetchall()
    assert [(kind, subject, json.loads(detail)) for kind, subject, detail in flags] == [
        ("hq_behind", "s-e", {"acknowledged": 5, "held": 3})]


def test_hq_restored_from_a_backup_recovers_from_the_stores(tmp_path, broker):
    """Fault 9: HQ's database goes back to last night's copy. The stores still hold what
    they sent (retention): HQ sees it is behind, asks, and has every event again; a store
    ahead of HQ in the feed still gets what is new, an erasure included; and what a store no
    longer holds (retention 0 here) is named in an alarm, and its stream flows on."""
    hq_home = tmp_path / "hq"
    hq_home.mkdir()

    def start_hq():
        return subprocess.Popen(
            [sys.executable, "-m", "hub", "--home", str(hq_home), "hq", "run", "--broker",
             broker.url], env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.DEVNULL)

    def at_hq(sql, *args):
        if not (hq_home / "hq.db").exists():
            return None
        with sqlite3.connect(f"file:{hq_home / 'hq.db'}?mode=ro", uri=True, timeout=10) as db:
            try:
                return db.execute(sql, args).fetchone()
            except sqlite3.OperationalError:
                return None

    def applied(store_id):
        return (at_hq("SELECT applied_seq FROM hq_stores WHERE store_id = ?", store_id)
                or [0])[0]

    a, b, c = (make_store(tmp_path, s, broker) for s in ("s-a", "s-b", "s-c"))
    c().settings.chain.sent_retention_days = 0  # C keeps nothing once HQ has it
    hq = start_hq()
    wait_until(lambda: at_hq("SELECT COUNT(*) FROM hq_meta") is not None, timeout=60)
    pubs = [Publisher(s).start() for s in (a, b, c)]
    try:
        guests = [add_member(a(), NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))
                  for n in range(2)]
        add_member(c(), NewMember(name="丙0", phone="13600000000"))
        wait_until(lambda: b().scalar("SELECT COUNT(*) FROM members") == 3, timeout=60)
        wait_until(lambda: applied("s-c") == 1, timeout=30)
        with sqlite3.connect(hq_home / "hq.db") as live, \
                sqlite3.connect(tmp_path / "backup.db") as copy:
            live.backup(copy)  # last night's backup
        guests += [add_member(a(), NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))
                   for n in range(2, 4)]
        for n in (1, 2):
            add_member(c(), NewMember(name=f"丙{n}", phone=f"1360000000{n}"))
        wait_until(lambda: b().scalar("SELECT COUNT(*) FROM members") == 7, timeout=30)
        lost = (applied("s-c") - 1, applied("s-c"))
        assert lost == (2, 3)
        hq.send_signal(signal.SIGKILL)
        hq.wait(10)
        for leftover in hq_home.glob("hq.db*"):
            leftover.unlink()
        shutil.copy(tmp_path / "backup.db", hq_home / "hq.db")
        hq = start_hq()  # HQ is back, as of last night
        erase_member(a(), guests[0]["id"], actor="owner", reason="asked")
        add_member(a(), NewMember(name="客4", phone="13800000004"))
        add_member(c(), NewMember(name="丙3", phone="13600000003"))
        top_a = a().scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
        top_c = c().scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
        wait_until(lambda: applied("s-a") == top_a and applied("s-c") == top_c, timeout=60)
        assert tuple(at_hq("SELECT COUNT(*), COUNT(DISTINCT id) FROM hq_events "
                           "WHERE store_id = 's-a'")) == (top_a, top_a)
        wait_until(lambda: b().scalar("SELECT erased_at FROM members WHERE id = ?",
                                      (guests[0]["id"],)) is not None, timeout=30)
        wait_until(lambda: b().one("SELECT 1 FROM members WHERE name = '客4'"), timeout=30)
        assert at_hq("SELECT COUNT(*) FROM hq_flags WHERE kind = 'hq_behind' AND "
                     "subject = 's-a'")[0] == 1, "HQ says it went back in time, once"
        alarm = json.loads(at_hq("SELECT detail FROM hq_flags WHERE kind = 'events_lost' "
                                 "AND subject = 's-c'")[0])
        assert (alarm["from_seq"], alarm["to_seq"]) == lost
        shown = {s["store_id"]: s for s in json.loads(
            hq_command(hq_home, "stores", "--json").stdout)["stores"]}
        assert "seq 2 to 3" in shown["s-c"]["attention"]
    finally:
        for pub in pubs:
            pub.stop()
        hq.kill()
        hq.wait(10)


def test_two_hq_databases_on_one_broker_each_get_every_event(tmp_path, broker):
    """Fault 11: two HQ receivers on separate databases share the broker's subscription.
    Neither may prune the other's events at the store: each HQ acknowledges as itself, the
    store holds its events until both have them, and both end with every event once."""
    books = [HqBook(tmp_path / f"hq{n}.db") for n in (1, 2)]
    receivers = [Receiver(book, broker.url, client_id=f"hq-{n}").start()
                 for n, book in enumerate(books)]
    for receiver in receivers:
        wait_until(receiver.connected.is_set)
    shop = make_store(tmp_path, "s-t", broker)
    pub = Publisher(shop).start()
    try:
        for n in range(30):
            add_member(shop(), NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))
        for book in books:
            wait_until(lambda book=book: seen_at_hq(book, "s-t") == 30, timeout=60)
            assert tuple(book.conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT seq) FROM hq_events WHERE store_id = 's-t'"
            ).fetchone()) == (30, 30)
        assert len({book.hq_id for book in books}) == 2
        wait_until(lambda: shop().scalar("SELECT COUNT(*) FROM sync_hq_acks "
                                         "WHERE applied_seq = 30") == 2)
    finally:
        pub.stop()
        for receiver in receivers:
            receiver.stop()


def test_an_older_store_keeps_what_it_cannot_apply_as_a_conflict(store):
    """Fault 10: a newer store's event type, or a field this version's guests do not have,
    is a conflict at an older store, never dropped without a word."""
    apply_page(store, [
        {"store": "s-new", "seq": 1, "id": "e-1", "type": "dish.rated", "ts": "t",
         "data": {"dish": "面", "stars": 5}},
        {"store": "s-new", "seq": 2, "id": "e-2", "type": "member.created", "ts": "t",
         "data": {"id": "m-1", "name": "王芳", "phone": "13800138000",
                  "wechat_openid": "o-1", "created_at": "t", "updated_at": "t"}}], 2)
    kept = {c["event_id"]: c["reason"] for c in conflicts(store)}
    assert "dish.rated" in kept["e-1"]
    assert "wechat_openid" in kept["e-2"]


def test_the_protocol_is_the_schema_hq_and_stores_migrated_to():
    """Fault 10: the protocol version is not a hand-kept constant: one more migration is one
    more protocol version."""
    from hub.domain.schema import STEPS
    from sync.protocol import protocol_of

    assert PROTOCOL == protocol_of(STEPS) == len(STEPS)
    assert protocol_of((*STEPS, ("9999_next", "SELECT 1;"))) == PROTOCOL + 1


def test_a_store_newer_than_hq_waits_and_gets_no_approvals(hq_db, tmp_path, broker, monkeypatch):
    """Fault 10: a store upgraded before HQ says its protocol at birth. Its events wait at
    the store (nothing is parked again and again, nothing is lost), HQ approves no spend for
    it, and `laoke hq stores` says why."""
    book = HqBook(hq_db)
    book.conn.execute("INSERT INTO hq_stored_value (member_id, balance_fen) VALUES ('g', 9000)")
    receiver = Receiver(book, broker.url).start()
    monkeypatch.setattr("sync.publisher.PROTOCOL", PROTOCOL + 1)  # a hub one migration on
    newer = make_store(tmp_path, "s-n", broker)
    pub = Publisher(newer).start()
    try:
        add_member(newer(), NewMember(name="王芳", phone="13800138000"))
        wait_until(lambda: pub.state()["refused"] is not None, timeout=30)
        assert f"HQ reads protocol {PROTOCOL}" in pub.state()["refused"]
        assert newer().scalar("SELECT COUNT(*) FROM outbox") == 1
        assert seen_at_hq(book, "s-n") == 0
        answer = book.authorise("s-n", "g", 1_000)
        assert not answer["approved"] and "upgrade HQ" in answer["error"]
        shown = {s["store_id"]: s for s in book.stores()}
        assert shown["s-n"]["schema"] == PROTOCOL + 1 and shown["s-n"]["readable"] is False
        assert "NEWER THAN HQ" in hq_command(tmp_path, "stores", "--db", str(hq_db)).stdout
    finally:
        pub.stop()
        receiver.stop()


def test_sent_events_stay_until_every_hq_has_them_then_for_the_retention(store, clock):
    """Fault 9 and 11 at the store: an event leaves the outbox once every HQ it heard from
    has it, is kept `sent_retention_days` more, and an erasure reaches what is kept too."""
    store.settings.broker.url = "mqtt://127.0.0.1:1"  # never connected: only its books
    pub = Publisher(lambda: store)
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    top = store.scalar("SELECT MAX(seq) FROM outbox")
    pub._acknowledged("hq-1", 0, None)
    pub._acknowledged("hq-2", top, None)
    assert store.scalar("SELECT COUNT(*) FROM outbox") == top, "hq-1 has none of them yet"
    pub._acknowledged("hq-1", top, None)
    assert store.scalar("SELECT COUNT(*) FROM outbox") == 0
    assert store.scalar("SELECT COUNT(*) FROM sent_events") == top
    erase_member(store, guest["id"], actor="owner", reason="asked")
    assert store.scalar("SELECT COUNT(*) FROM sent_events WHERE data LIKE '%王芳%' OR "
                        "data LIKE '%13800138000%'") == 0
    clock.advance(days=store.settings.chain.sent_retention_days, seconds=1)
    pub._acknowledged("hq-1", top + 1, None)
    assert store.scalar("SELECT COUNT(*) FROM sent_events") == 1, "only the erasure is kept"
