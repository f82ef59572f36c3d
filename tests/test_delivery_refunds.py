"""What a platform took back stays out of the takings: a whole order cancelled or refunded
leaves every figure, and a part refund (a drink missing from the bag) comes off the order's
takings in the reports, the day's figures and the guests' spend, once however often the
platform says it."""

from __future__ import annotations

from datetime import date

from hub.domain.audience import pick
from hub.domain.dashboard import day_figures
from hub.domain.delivery import end_order, import_orders, join
from hub.domain.members import NewMember, add_member
from tests.test_delivery import rows

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
    from hub.domain.delivery import PartRefund, refund_part
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
    assert not refund_part(store, PartRefund("meituan", "MT-9", "R-4", 100)), "no such order"
    end_order(store, "meituan", "MT-2", "refunded")
    assert not refund_part(store, PartRefund("meituan", "MT-2", "R-5", 100)), "it ended"
    assert _takings(store) == ([("meituan", 1, 0)], 0, 0)
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.part_refunded'") \
        == 2


def test_a_hub_restored_from_hq_knows_the_part_refunds(store, tmp_path, settings, clock):
    from hub.domain.delivery import PartRefund, refund_part
    from tests.support.replay import replayed

    import_orders(store, "meituan", FILE)
    refund_part(store, PartRefund("meituan", "MT-1", "R-1", 1500, [("宫保鸡丁", 1)]))
    with replayed(store, tmp_path / "restored.db", settings, clock) as restored:
        assert _takings(restored) == _takings(store) == ([("meituan", 2, 8300)], 8300, 8300)
        assert not refund_part(restored, PartRefund("meituan", "MT-1", "R-1", 1500))


def test_the_platforms_part_refund_pushes_take_off_what_they_paid_back(store, settings, clock):
    import json

    from hub.domain.delivery import receive_eleme, receive_meituan
    from tests.support.platforms import Eleme, Meituan
    from tests.test_delivery import SECRET_ELM, SECRET_MT

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
