"""Points across a chain follow the stored-value rule (issue 15 fault 6): HQ approves a
redemption online; offline a store redeems only from the slice HQ reserved for it; every
store ends with the same ledger."""

import threading

import pytest

from sync.hq import HqBook, Receiver
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub, wait_until


def points_ledger(home, member_id):
    """A store's points entries of the guest, read from its database as HQ would compare."""
    with home_db(home) as db:
        return sorted(db.execute("SELECT id, delta, kind FROM points_ledger WHERE "
                                 "member_id = ?", (member_id,)).fetchall())


def guest_with_points(a, b, book):
    """A guest who joined at store A with 100 points, once B and HQ know them."""
    from hub.domain.ledgers import adjust_points
    from hub.domain.members import NewMember, add_member, points_balance

    guest = add_member(a(), NewMember(name="王芳", phone="13800138000"))
    adjust_points(a(), guest["id"], 100, "welcome", actor="owner")
    wait_until(lambda: points_balance(b(), guest["id"]) == 100, timeout=30)
    wait_until(lambda: book.conn.execute("SELECT balance FROM hq_points WHERE "
                                         "member_id = ?", (guest["id"],)).fetchone())
    return guest


def test_the_same_points_redeemed_at_two_stores_at_once_go_through_once(hq_db, tmp_path, broker):
    """Both stores know the guest's 100 points; both tills redeem all of them at the same
    moment, inside the pull lag. One is refused, and both stores end with one ledger."""
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    a = RunningHub(tmp_path / "a", "--broker", broker.url, "--store-id", "s-a").start(timeout=90)
    b = RunningHub(tmp_path / "b", "--broker", broker.url, "--store-id", "s-b").start(timeout=90)
    try:
        with a.client() as till_a, b.client() as till_b:
            guest = till_a.post("/members", json={"name": "王芳", "phone": "13800138000",
                                                 "marketing_consent": True}).json()
            earned = till_a.post("/checkouts", json={
                "member_id": guest["id"],
                "lines": [{"dish": "套餐", "qty": 1, "unit_price_fen": 10_000}]},
                headers={"Idempotency-Key": "a-earn"})
            assert earned.json()["points_balance"] == 100, earned.text
            wait_until(lambda: till_b.get(f"/members/{guest['id']}").status_code == 200 and
                       till_b.get(f"/members/{guest['id']}").json()["points_balance"] == 100,
                       timeout=60)
            for till in (till_a, till_b):
                wait_until(lambda till=till: till.get("/health").json()["sync"]["connected"])
            answers: dict[str, int] = {}
            texts: dict[str, str] = {}

            def redeem(name, till):
                answer = till.post("/checkouts", json={
                    "member_id": guest["id"], "redeem_points": 100,
                    "lines": [{"dish": "面", "qty": 1, "unit_price_fen": 5_000}]},
                    headers={"Idempotency-Key": f"{name}-redeem"})
                answers[name], texts[name] = answer.status_code, answer.text

            tills = [threading.Thread(target=redeem, args=(name, till))
                     for name, till in (("a", till_a), ("b", till_b))]
            for till in tills:
                till.start()
            for till in tills:
                till.join()
            assert sorted(answers.values()) == [201, 409], texts

            def settled():
                return all(t.get("/health").json()["sync"]["backlog"] == 0
                           for t in (till_a, till_b)) and \
                    points_ledger(a.home, guest["id"]) == points_ledger(b.home, guest["id"])

            wait_until(settled, timeout=60)
            ledger = points_ledger(a.home, guest["id"])
            assert sum(delta for _id, delta, _kind in ledger) >= 0
            assert [kind for _id, _delta, kind in ledger].count("redeem") == 1
            for till in (till_a, till_b):
                assert till.get("/health").json()["sync"]["conflicts"] == 0
    finally:
        a.stop()
        b.stop()
        receiver.stop()


def test_points_offline_are_redeemed_only_from_the_stores_slice(hq_db, tmp_path, broker):
    """HQ reserves a slice of the guest's points for the store that asked; cut off, that
    store redeems only within it, the other store only what HQ has not promised, and when
    the link is back every store holds the same ledger and HQ holds what each may spend."""
    from hub.domain.authority import POINTS, slice_left
    from hub.domain.checkout import CheckoutRequest, authorise, checkout
    from hub.domain.coupons import Line
    from hub.domain.errors import InsufficientPoints
    from hub.domain.members import points_balance
    from hub.domain.replica import conflicts, feed_position
    from sync.publisher import Publisher
    from tests.support.chain import make_store

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url, slice_points=30).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    for shop in (a, b):
        shop().settings.points.earn_per_yuan = 0  # only the redemptions move the balance
    pub_a, pub_b = Publisher(a).start(), Publisher(b).start()
    try:
        guest = guest_with_points(a, b, book)

        def redeem(shop, publisher, key, points):
            """What the till's API does: ask HQ (or fall back to the slice), then check out."""
            req = CheckoutRequest(key, [Line("套餐", 1, 5_000)], member_id=guest["id"],
                                  redeem_points=points)
            authorised = authorise(publisher, shop(), req)
            checkout(shop(), authorised)
            return authorised.points_auth

        assert redeem(b, pub_b, "b-1", 10).startswith("hq:")
        assert slice_left(b(), guest["id"], POINTS) == 30, "HQ reserved B a slice"
        wait_until(lambda: b().scalar("SELECT COUNT(*) FROM outbox") == 0, timeout=30)
        pub_b.stop()  # B is cut off
        with pytest.raises(InsufficientPoints, match="at most 30"):
            redeem(b, pub_b, "b-2", 40)
        assert redeem(b, pub_b, "b-3", 30) == "slice"
        with pytest.raises(InsufficientPoints, match="has 60 points"):
            redeem(a, pub_a, "a-1", 70)  # 100 - 10 redeemed - 30 held for B
        assert redeem(a, pub_a, "a-2", 60).startswith("hq:")
        pub_b = Publisher(b).start()  # B is back
        for shop in (a, b):
            wait_until(lambda shop=shop: shop().scalar("SELECT COUNT(*) FROM outbox") == 0,
                       timeout=30)
        top = book.conn.execute("SELECT MAX(hq_seq) FROM hq_events").fetchone()[0]
        for shop in (a, b):
            wait_until(lambda shop=shop: feed_position(shop()) >= top, timeout=30)
    finally:
        pub_a.stop()
        pub_b.stop()
        receiver.stop()
    ledgers = [sorted(map(tuple, shop().conn.execute(
        "SELECT id, delta, note IS NOT NULL FROM points_ledger WHERE member_id = ?",
        (guest["id"],)))) for shop in (a, b)]
    assert ledgers[0] == ledgers[1]
    assert points_balance(a(), guest["id"]) == points_balance(b(), guest["id"]) == 0
    assert conflicts(a()) == conflicts(b()) == []
    assert book.conn.execute("SELECT balance FROM hq_points WHERE member_id = ?",
                             (guest["id"],)).fetchone()[0] == 0
    for sid, shop in (("s-a", a), ("s-b", b)):  # HQ holds for each store what it may spend
        held = book.conn.execute("SELECT COALESCE(SUM(amount), 0) FROM hq_points_holds "
                                 "WHERE member_id = ? AND store_id = ? AND open = 1",
                                 (guest["id"], sid)).fetchone()[0]
        assert held == slice_left(shop(), guest["id"], POINTS) == 0, sid


def test_a_managers_correction_down_takes_hqs_word_or_the_slice_as_a_redemption_does(
        hq_db, tmp_path, broker):
    """Taking points off a guest is a debit like a redemption: at a chain store it needs
    HQ's approval, or, cut off, comes out of the store's slice; else two stores could each
    take the same points off."""
    from hub.domain.authority import POINTS, authorise_debit, slice_left
    from hub.domain.errors import InsufficientPoints
    from hub.domain.ledgers import adjust_points
    from sync.publisher import Publisher
    from tests.support.chain import make_store

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url, slice_points=30).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    pub_a, pub_b = Publisher(a).start(), Publisher(b).start()
    try:
        guest = guest_with_points(a, b, book)
        wait_until(lambda: pub_b.connected.is_set())

        def correct(shop, publisher, points):
            """What the API does: ask HQ (or fall back to the slice), then take them off."""
            auth = authorise_debit(publisher, shop(), POINTS, guest["id"], points)
            adjust_points(shop(), guest["id"], -points, "wrongly earned", actor="manager",
                          auth=auth)
            return auth

        assert correct(b, pub_b, 10).startswith("hq:")
        assert slice_left(b(), guest["id"], POINTS) == 30, "HQ reserved B a slice"
        wait_until(lambda: b().scalar("SELECT COUNT(*) FROM outbox") == 0, timeout=30)
        pub_b.stop()  # B is cut off
        with pytest.raises(InsufficientPoints, match="at most 30"):
            correct(b, pub_b, 40)
        with pytest.raises(InsufficientPoints, match="at most 30"):  # the CLI: no link at all
            adjust_points(b(), guest["id"], -40, "wrongly earned", actor="owner")
        assert correct(b, pub_b, 30) == "slice"
        with pytest.raises(InsufficientPoints, match="has 60 points"):
            correct(a, pub_a, 70)  # 100 - 10 taken off - 30 held for B
        assert correct(a, pub_a, 60).startswith("hq:")
        pub_b = Publisher(b).start()
        for shop in (a, b):
            wait_until(lambda shop=shop: shop().scalar("SELECT COUNT(*) FROM outbox") == 0,
                       timeout=30)
        wait_until(lambda: book.conn.execute("SELECT balance FROM hq_points WHERE member_id = "
                                             "?", (guest["id"],)).fetchone()[0] == 0, timeout=30)
    finally:
        pub_a.stop()
        pub_b.stop()
        receiver.stop()
