"""What a platform took back stays out of the takings: a whole order cancelled or refunded
leaves every figure, and a part refund (a drink missing from the bag) comes off the order's
takings in the reports, the day's figures and the guests' spend, once however often the
platform says it."""

from __future__ import annotations

import json
from datetime import date

import pytest

from hub.domain.audience import pick
from hub.domain.dashboard import day_figures
from hub.domain.delivery import (
    PartRefund,
    end_order,
    import_orders,
    join,
    receive_eleme,
    receive_meituan,
    refund_part,
)
from hub.domain.errors import NotFound
from hub.domain.members import NewMember, add_member
from tests.support.platforms import Eleme, Meituan
from tests.test_delivery import SECRET_ELM, SECRET_MT, rows

DAY = date(2026, 11, 25)
FILE = rows(("MT-1", "2026-11-25T12:00:00+08:00", "u-77", "", "宫保鸡丁", "2", "3800", "900"),
            ("MT-2", "2026-11-25T18:10:00+08:00", "u-77", "", "酸辣汤", "1", "2200", "300"))


def test_a_cancelled_platform_order_leaves_the_days_figures_and_the_guests_spend(store, clock):
    clock.current = clock.current.replace(year=2026, month=11, day=26)
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    import_orders(store, "meituan", FILE)
    join(store, "meituan", "u-77", guest["id"], actor="test")
    assert [p.member_id for p in pick(store, {"spend_min_fen": 9800})] == [guest["id"]]
    end_order(store, "meituan", "MT-1", "cancelled")
    figures = day_figures(store, DAY)
    assert (figures.orders, figures.revenue_fen) == (1, 2200)
    assert pick(store, {"spend_min_fen": 2201}) == [], "the cancelled 76 yuan is not spend"
    assert [p.member_id for p in pick(store, {"spend_min_fen": 2200, "frequency_max": 1})] == \
        [guest["id"]]


def _takings(store):
    from hub.domain.reports import report

    figures = report(store, "channels", DAY, DAY)["channels"]
    summary = report(store, "summary", DAY, DAY)
    return ([(c["platform"], c["orders"], c["revenue_fen"]) for c in figures],
            summary["revenue_fen"], day_figures(store, DAY).revenue_fen)


def test_a_part_refund_comes_off_the_takings_once_and_never_past_the_order(store, clock):
    from hub.domain.profiles import guest_history

    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    import_orders(store, "meituan", FILE)
    join(store, "meituan", "u-77", guest["id"], actor="test")
    drink = PartRefund("meituan", "MT-1", "R-1", 1500, [("宫保鸡丁", 1)])
    assert refund_part(store, drink, actor="meituan") is True
    assert refund_part(store, drink, actor="meituan") is False, "the same refund again"
    assert _takings(store) == ([("meituan", 2, 8300)], 8300, 8300)
    history = {o["id"]: o for o in guest_history(store, guest["id"])["orders"]}
    assert sorted(o["refunded_fen"] for o in history.values()) == [0, 1500]
    lines = store.scalar("SELECT SUM(qty) FROM order_lines")
    assert lines == 3, "the order's lines stand: the kitchen made them"

    assert refund_part(store, PartRefund("meituan", "MT-1", "R-2", 99_999), actor="meituan")
    assert store.scalar("SELECT SUM(amount_fen) FROM delivery_refunds") == 7600, \
        "never more than the order took"
    assert not refund_part(store, PartRefund("meituan", "MT-1", "R-3", 1), actor="meituan")
    with pytest.raises(NotFound):  # not taken: the platform pushes it again
        refund_part(store, PartRefund("meituan", "MT-9", "R-4", 100))
    end_order(store, "meituan", "MT-2", "refunded")
    assert not refund_part(store, PartRefund("meituan", "MT-2", "R-5", 100)), "it ended"
    assert _takings(store) == ([("meituan", 1, 0)], 0, 0)
    assert [tuple(r) for r in store.conn.execute(
        "SELECT refund_id, asked_fen, amount_fen FROM delivery_refunds ORDER BY rowid")] == [
        ("R-1", 1500, 1500), ("R-2", 99_999, 6100), ("R-3", 1, 0)], \
        "what each said is kept, and what it took off"
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.part_refunded'") \
        == 3


def test_a_refund_a_file_and_a_push_both_tell_is_taken_off_once(store):
    import_orders(store, "meituan", FILE)
    with_refund = [{**row, "refunded_fen": "1500" if row["dish"] == "宫保鸡丁" else ""}
                   for row in FILE]
    assert refund_part(store, PartRefund("meituan", "MT-1", "RF-1", 1500))  # the push first
    assert import_orders(store, "meituan", with_refund)["refunded"] == 0, "the file adds none"
    assert import_orders(store, "meituan", [{**r, "refunded_fen": "2000" if r["dish"] ==
                                             "宫保鸡丁" else ""} for r in FILE])["refunded"] == 1
    assert _takings(store)[1] == 9800 - 2000, "a later file's total adds what is new of it"
    assert not refund_part(store, PartRefund("meituan", "MT-1", "RF-2", 500)), \
        "the push of a refund the file had already counted"
    assert refund_part(store, PartRefund("meituan", "MT-1", "RF-3", 300))
    assert _takings(store)[1] == 9800 - 2300, "the pushes' sum has passed the file's total"


def test_a_hub_restored_from_hq_knows_the_part_refunds(store, tmp_path, settings, clock):
    from tests.support.replay import replayed

    import_orders(store, "meituan", FILE)
    refund_part(store, PartRefund("meituan", "MT-1", "R-1", 1500, [("宫保鸡丁", 1)]))
    with replayed(store, tmp_path / "restored.db", settings, clock) as restored:
        assert _takings(restored) == _takings(store) == ([("meituan", 2, 8300)], 8300, 8300)
        assert not refund_part(restored, PartRefund("meituan", "MT-1", "R-1", 1500))


def test_the_platforms_part_refund_pushes_take_off_what_they_paid_back(store, settings, clock):

    settings.delivery.meituan.app_secret = SECRET_MT
    settings.delivery.eleme.app_secret = SECRET_ELM
    now = int(clock().timestamp())
    meituan = Meituan("unused", "app-1", SECRET_MT)
    url = "https://shop.example/api/v1/delivery/meituan/"
    receive_meituan(store, url + "order", "order", meituan.signed(url + "order", Meituan.order(
        "MT-9", [("宫保鸡丁", 2, "38"), ("米饭", 2, "3")], ctime=now), timestamp=now))
    part = {"order_id": "MT-9", "refund_id": "RF-1", "money": "3.00", "ctime": now,
            "reason": "少送米饭", "food": json.dumps([{"food_name": "米饭", "count": 1,
                                                       "refund_price": 3}],
                                                     ensure_ascii=False)}
    asked = meituan.signed(url + "partrefund", {**part, "notify_type": "part"}, timestamp=now)
    assert receive_meituan(store, url + "partrefund", "partrefund", asked).changed is False, \
        "asked is not yet paid back"
    agreed = meituan.signed(url + "partrefund", {**part, "notify_type": "agree"},
                            timestamp=now)
    assert receive_meituan(store, url + "partrefund", "partrefund", agreed).changed is True
    retried = meituan.signed(url + "partrefund", {**part, "notify_type": "agree"},
                             timestamp=now + 5)
    assert receive_meituan(store, url + "partrefund", "partrefund", retried).changed is False
    assert tuple(store.one("SELECT amount_fen, dishes FROM delivery_refunds")) == (
        300, '[{"dish": "米饭", "qty": 1}]')

    eleme = Eleme("unused", "app-2", SECRET_ELM)
    ms = now * 1000
    receive_eleme(store, eleme.signed(10, Eleme.order("E-7", [("酸辣汤", 2, 22.0)]),
                                      timestamp=ms))
    part_refund = {"orderId": "E-7", "refundStatus": "successful", "refundType": "part",
                   "totalPrice": 22.0, "updateTime": now,
                   "goodsList": [{"name": "酸辣汤", "quantity": 1, "price": 22.0}]}
    assert receive_eleme(store, eleme.signed(33, part_refund, timestamp=ms)).changed
    assert not receive_eleme(store, eleme.signed(33, part_refund, timestamp=ms)).changed, \
        "the same refund in another push"
    states = dict(store.conn.execute("SELECT platform_order_id, state FROM delivery_orders"))
    assert states == {"MT-9": "placed", "E-7": "placed"}, "a part refund ends no order"
    assert store.scalar("SELECT SUM(amount_fen) FROM delivery_refunds") == 300 + 2200
    whole = {**part_refund, "refundType": "normal"}
    assert receive_eleme(store, eleme.signed(33, whole, timestamp=ms)).changed
    assert store.scalar("SELECT state FROM delivery_orders WHERE platform_order_id = 'E-7'") \
        == "refunded"


URL = "https://shop.example/api/v1/delivery/meituan/"


@pytest.fixture
def pushes(settings, clock):
    settings.delivery.meituan.app_secret = SECRET_MT
    settings.delivery.eleme.app_secret = SECRET_ELM
    return (Meituan("unused", "app-1", SECRET_MT), Eleme("unused", "app-2", SECRET_ELM),
            int(clock().timestamp()))


def meituan_push(store, platform, event, fields, now):
    return receive_meituan(store, URL + event, event,
                           platform.signed(URL + event, fields, timestamp=now))


def test_what_comes_before_its_order_is_not_taken_and_lands_on_the_platforms_retry(
        store, pushes):
    meituan, _, now = pushes
    part = {"order_id": "MT-5", "notify_type": "agree", "money": "3", "ctime": now,
            "refund_id": "RF-9"}
    with pytest.raises(NotFound):
        meituan_push(store, meituan, "partrefund", part, now)
    with pytest.raises(NotFound):
        meituan_push(store, meituan, "cancel", {"order_id": "MT-6"}, now)
    assert store.scalar("SELECT COUNT(*) FROM delivery_pushes") == 0, "none was taken"
    meituan_push(store, meituan, "order", Meituan.order("MT-5", [("米饭", 2, "3")]), now)
    assert meituan_push(store, meituan, "partrefund", part, now + 30).changed
    assert store.scalar("SELECT amount_fen FROM delivery_refunds") == 300


def test_a_refund_whose_dish_list_is_odd_still_takes_the_money_and_is_keyed_without_an_id(
        store, pushes):
    meituan, eleme, now = pushes
    meituan_push(store, meituan, "order", Meituan.order("MT-7", [("酸辣汤", 2, "22")]), now)
    odd = json.dumps([{"food_name": "酸辣汤", "count": 0}, {"count": 1}, "汤",
                      {"food_name": "酸辣汤", "count": "1"}], ensure_ascii=False)
    first = {"order_id": "MT-7", "notify_type": "agree", "money": "22", "ctime": now,
             "food": odd}
    assert meituan_push(store, meituan, "partrefund", first, now).changed
    assert meituan_push(store, meituan, "partrefund", first, now + 9).changed is False, \
        "the same refund pushed again without a refund_id"
    second = {**first, "money": "5", "food": "[]"}
    assert meituan_push(store, meituan, "partrefund", second, now + 20).changed, \
        "another refund of the order"
    assert [tuple(r) for r in store.conn.execute(
        "SELECT amount_fen, dishes FROM delivery_refunds ORDER BY amount_fen")] == [
        (500, "[]"), (2200, '[{"dish": "酸辣汤", "qty": 1}]')]

    ms = now * 1000
    receive_eleme(store, eleme.signed(10, Eleme.order("E-9", [("米饭", 3, 3.0)]), timestamp=ms))
    part = {"orderId": "E-9", "refundType": "part", "totalPrice": 3.0, "goodsList": None}
    push = eleme.signed(33, part, timestamp=ms, request_id="req-77")
    assert receive_eleme(store, push).changed
    assert store.scalar("SELECT refund_id FROM delivery_refunds WHERE platform = 'eleme'") \
        == "req-77", "no updateTime: the push's requestId, which a retry keeps"


@pytest.mark.parametrize("placeholder", ["0", "-1", "null", "000000", " "])
def test_a_placeholder_open_uid_makes_nobody_a_platform_user(store, pushes, placeholder):
    meituan, _, now = pushes
    fields = {**Meituan.order("MT-8", [("米饭", 1, "3")]), "openUid": placeholder}
    meituan_push(store, meituan, "order", fields, now)
    assert store.scalar("SELECT platform_user_id FROM delivery_orders") is None


def test_the_guests_tier_reads_what_they_paid_less_what_was_paid_back(store, settings):
    from hub.domain.tiers import rolling_spend

    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    import_orders(store, "meituan", FILE)
    join(store, "meituan", "u-77", guest["id"], actor="test")
    assert rolling_spend(store, guest["id"]) == 9800
    refund_part(store, PartRefund("meituan", "MT-1", "R-1", 5000))
    end_order(store, "meituan", "MT-2", "cancelled")
    assert rolling_spend(store, guest["id"]) == 2600


def test_hqs_totals_leave_out_what_the_platforms_took_back(store, hq_db):
    from sync.hq import HqBook
    from tests.support.chain import hand_to_hq

    book = HqBook(hq_db)
    try:
        import_orders(store, "meituan", FILE)
        hand_to_hq(book, store)
        assert book.report()["stores"][store.store_id]["revenue_fen"] == 9800
        refund_part(store, PartRefund("meituan", "MT-1", "R-1", 1500))
        end_order(store, "meituan", "MT-2", "cancelled")
        hand_to_hq(book, store)
        figures = book.report()["stores"][store.store_id]
        assert (figures["orders"], figures["revenue_fen"]) == (1, 7600 - 1500)
        # A book from before HQ kept what ended: it learns it from the events it has.
        with book.write() as conn:
            conn.execute("UPDATE hq_orders SET ended = 0")
            conn.execute("DELETE FROM hq_meta WHERE key = 'orders_ended'")
        book.conn.close()
        book = HqBook(hq_db)
        assert book.report()["stores"][store.store_id]["orders"] == 1
    finally:
        book.conn.close()
