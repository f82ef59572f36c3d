"""The chain stays exact under faults (issue 15): each test makes one fault happen with real
parts (mosquitto, hub processes, HQ, SQLite) and checks what every side ends up holding."""

import json

import pytest

from hub.domain.coupons import create_template, issue_coupon
from hub.domain.members import NewMember, add_member, erase_member, link_card
from hub.domain.replica import apply_page, conflicts
from sync.hq import HqBook, Receiver
from sync.publisher import Publisher
from tests.broker import Mosquitto
from tests.hubproc import RunningHub, wait_until
from tests.test_sync import make_store


@pytest.fixture
def broker(tmp_path):
    running = Mosquitto(tmp_path / "broker").start()
    yield running
    running.stop()


def test_an_event_that_cannot_apply_is_a_conflict_and_sync_carries_on(tmp_path, broker):
    """Fault 1: a guest with a card and a coupon, erased at an offline store before it
    reconnects. At the other store the relayed card and coupon point at nobody: they become
    conflicts, and everything after them still arrives."""
    book = HqBook(tmp_path / "hq.db")
    receiver = Receiver(book, broker.url).start()
    a = make_store(tmp_path, "s-a", broker)
    b = RunningHub(tmp_path / "b", "--broker", broker.url, "--store-id", "s-b").start()
    publisher = None
    try:
        template = create_template(a(), "减20", "amount_off", amount_fen=2000)
        guest = add_member(a(), NewMember(name="王芳", phone="13800138000"))
        link_card(a(), guest["id"], "0100ABCDEF")
        issue_coupon(a(), template["id"], guest["id"])
        erase_member(a(), guest["id"], actor="owner", reason="asked")
        later = add_member(a(), NewMember(name="李雷", phone="13900139000"))
        publisher = Publisher(a).start()  # store A comes back online

        with b.client() as api:
            def arrived():
                found = api.get("/members/lookup", params={"phone": "13900139000"})
                return found.status_code == 200 and found.json()["id"] == later["id"]

            wait_until(arrived, timeout=60)
            health = api.get("/health").json()
            assert health["sync"]["conflicts"] >= 2, "the card and the coupon, for a person"
            [sync_worker] = [w for w in health["workers"] if w["name"] == "sync"]
            assert sync_worker["state"] == "running"
            # Still alive: a change made now reaches B too.
            newest = add_member(a(), NewMember(name="韩梅", phone="13700137000"))
            wait_until(lambda: api.get("/members/lookup", params={
                "phone": "13700137000"}).json().get("id") == newest["id"], timeout=60)
    finally:
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
