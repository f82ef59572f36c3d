"""Stored value across the chain: never overdrawn online or offline, idle slices given back."""



import pytest

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member
from sync.hq import HqBook, Receiver
from sync.publisher import Publisher
from tests.support.chain import hand_to_hq, make_store
from tests.support.hubproc import wait_until


def test_stored_value_is_never_overdrawn_across_stores_online_or_offline(hq_db, tmp_path, broker):
    from dataclasses import replace

    from hub.domain.authority import slice_left
    from hub.domain.checkout import authorise
    from hub.domain.errors import InsufficientBalance
    from hub.domain.ledgers import top_up

    book = HqBook(hq_db)
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
        auth = authorise(publisher, shop(), req).stored_value_auth
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
                             "member_id = ? AND open = 1", (guest["id"],)).fetchone()[0]
    assert held == 500, "B's slice, less what B spent from it offline; every approval closed"
    for publisher in (pub_a, pub_b):
        publisher.stop()
    receiver.stop()


def test_an_idle_slice_goes_back_to_the_chain(hq_db, store, clock, tmp_path):

    from hub.domain.authority import grant_slice, release_idle_slices, slice_left
    from hub.domain.ledgers import top_up

    book = HqBook(hq_db)
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    top_up(store, guest["id"], 10_000)

    def sync():
        hand_to_hq(book, store)

    def held():
        return book.conn.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM hq_holds WHERE "
                                 "kind = 'slice'").fetchone()[0]

    sync()
    answer = book.authorise("s1", guest["id"], 1_000, slice_cap=2_000)
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
