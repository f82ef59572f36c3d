"""HQ's book on SQLite and PostgreSQL alike: what differs between the engines
(sync/hq/db.py) behaves the same, and a `--db` that names no usable database is a clear
error (issue 23)."""

import json

import pytest

from sync.hq import HqBook
from sync.hq.db import parse_url, without_password
from sync.protocol import events_topic
from tests.support.chain import hq_command


def test_an_erasure_reaches_hqs_history_and_dead_letters_on_either_engine(hq_db):
    """The redaction HQ does in Python on both engines leaves what SQLite's JSON functions
    leave at a store: the guest's id, nothing personal."""
    book = HqBook(hq_db)
    member = {"id": "m-1", "name": "王芳", "phone": "+8613800138000", "home_store": "s-a"}
    events = [{"store": "s-a", "seq": 1, "id": "e1", "type": "member.created", "ts": "t",
               "data": member},
              {"store": "s-a", "seq": 2, "id": "e2", "type": "card.linked", "ts": "t",
               "data": {"member_id": "m-1", "number": "0100ABCDEF"}},
              {"store": "s-a", "seq": 3, "id": "e3", "type": "wechat.follower", "ts": "t",
               "data": {"member_id": "m-1", "openid": "oW-1", "following": True,
                        "changed_at": "t"}}]
    topic = events_topic("s-a")
    book.apply(topic, json.dumps({"schema": 1, "store": "s-a", "events": events}).encode())
    book.park(topic, json.dumps({"about": member}, ensure_ascii=False).encode(), "a test")
    book.apply(topic, json.dumps({"schema": 1, "store": "s-a", "events": [
        {"store": "s-a", "seq": 4, "id": "e4", "type": "member.erased", "ts": "t",
         "data": {"id": "m-1"}}]}).encode())
    kept = {r["seq"]: json.loads(r["data"]) for r in book.conn.execute(
        "SELECT seq, data FROM hq_events WHERE store_id = ?", ("s-a",))}
    assert kept[1] == {"id": "m-1", "redacted": True}
    assert kept[2] == {"member_id": "m-1", "number": "erased"}
    assert kept[3] == {"member_id": "m-1", "openid": "erased", "following": True,
                       "changed_at": "t"}, "the WeChat OpenID too"
    [letter] = book.conn.execute("SELECT payload, reason FROM hq_dead_letters").fetchall()
    assert letter["payload"] is None and "the guest was erased" in letter["reason"]
    assert book.report()["totals"]["members"] == 0
    book.conn.close()


def test_a_database_url_is_read_one_way_and_kept_without_its_password():
    assert parse_url("sqlite:////srv/hq/hq.db") == ("sqlite", "/srv/hq/hq.db")
    assert parse_url("sqlite:///hq.db") == ("sqlite", "hq.db")
    assert parse_url("postgresql://hq@db/laoke") == ("postgresql", "postgresql://hq@db/laoke")
    for bad in ("sqlite://", "mysql://db/laoke"):
        with pytest.raises(ValueError):
            parse_url(bad)
    assert without_password("postgresql://hq:s3cret@db:5432/laoke") == \
        "postgresql://hq@db:5432/laoke"


def test_a_database_hq_cannot_reach_is_a_one_line_error_and_remembers_nothing(tmp_path):
    home = tmp_path / "hq"
    gone = hq_command(home, "stores", "--db", "postgresql://laoke:pw@127.0.0.1:1/x",
                      check=False)
    assert gone.returncode == 2 and gone.stderr.startswith(
        "laoke: HQ's database postgresql://laoke@127.0.0.1:1/x: ")
    assert gone.stderr.count("\n") == 1 and ":pw@" not in gone.stderr
    assert list(home.iterdir()) == [], "nothing written"


def test_an_event_that_cannot_apply_is_parked_alone_and_the_batch_around_it_applies(hq_db):
    """The book's one transaction per batch, on either engine: an event that fails in the
    middle of a batch (a stored-value entry with no guest) rolls back alone, is parked once,
    and the events before and after it are applied, with the store's watermark past it."""
    book = HqBook(hq_db)
    orders = [{"store": "s-a", "seq": n, "id": f"e{n}", "type": "order.created", "ts": "t",
               "data": {"id": f"o{n}", "total_fen": 100 * n, "discount_fen": 0,
                        "created_at": "t"}} for n in (1, 2, 4, 5)]
    poison = {"store": "s-a", "seq": 3, "id": "e3", "type": "stored_value.entry", "ts": "t",
              "data": {"id": "x", "amount_fen": 500}}
    batch = {"schema": 1, "store": "s-a", "events": [*orders[:2], poison, *orders[2:]]}
    assert book.apply(events_topic("s-a"), json.dumps(batch).encode()) == ("s-a", 5, None)
    report = book.report()["stores"]["s-a"]
    assert (report["orders"], report["revenue_fen"], report["last_seq"]) == (4, 1200, 5)
    [letter] = book.conn.execute("SELECT payload, reason FROM hq_dead_letters").fetchall()
    assert "seq 3" in letter["reason"] and json.loads(bytes(letter["payload"])) == poison
    assert book.conn.execute("SELECT COUNT(*) FROM hq_events").fetchone()[0] == 4
    book.conn.close()


def test_a_batch_finds_the_seqs_hq_holds_by_index_however_long_the_stores_history(tmp_path):
    """The second-writer check runs on every batch: a plan that read the store's whole
    history made HQ slower with every event a store sent (60 ms a batch after 100,000)."""
    from sync.hq.book import SEEN

    book = HqBook(tmp_path / "hq.db")
    try:
        plan = [row[3] for row in book.conn.execute(
            "EXPLAIN QUERY PLAN " + SEEN.format("?, ?, ?"), ("s1", 7, 8, 6))]
        assert any("store_id=? AND seq=?" in step for step in plan), plan
    finally:
        book.conn.close()


def test_what_a_store_sends_of_a_guest_after_their_erasure_is_kept_redacted(hq_db):
    """A store that had not heard of the erasure still links the guest's card: HQ keeps it
    as the erasure leaves a card, whatever the engine."""
    book = HqBook(hq_db)
    topic = events_topic("s-b")
    book.apply(events_topic("s-a"), json.dumps({"schema": 1, "store": "s-a", "events": [
        {"store": "s-a", "seq": 1, "id": "e1", "type": "member.erased", "ts": "t",
         "data": {"id": "m-1"}}]}).encode())
    book.apply(topic, json.dumps({"schema": 1, "store": "s-b", "events": [
        {"store": "s-b", "seq": 1, "id": "f1", "type": "card.linked", "ts": "t",
         "data": {"member_id": "m-1", "number": "0100ABCDEF"}}]}).encode())
    [kept] = [json.loads(r[0]) for r in book.conn.execute(
        "SELECT data FROM hq_events WHERE store_id = 's-b'")]
    assert kept == {"member_id": "m-1", "number": "erased"}
    book.conn.close()
