"""Offers owners ask for, on a real store: a template that issues at most so many coupons
(前100名注册送), exactly that many under concurrent issue, and what the store's own slips do
once it has; the paid mystery box drawn fairly (chi-square, fixed seeds) and paid once; the
menu's 新品 tag as an audience rule."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from hub.domain import mystery
from hub.domain.audience import Audience, pick
from hub.domain.campaigns import create_campaign, run_campaign
from hub.domain.checkout import CheckoutRequest, checkout, quote
from hub.domain.config import BoxPrize, MysteryBoxSettings
from hub.domain.coupons import Line, create_template, issue_coupon, member_coupons
from hub.domain.errors import CouponsGone, IdempotencyConflict, InsufficientBalance, InvalidInput
from hub.domain.ledgers import top_up
from hub.domain.members import NewMember, add_member, points_balance, stored_value_balance
from hub.domain.menu import MenuLine, retire_dish, save_dish
from hub.domain.reports import report
from printer.slips import print_welcome
from tests.support.replay import replayed
from tests.test_concurrency import attempt, run_in_threads


@pytest.mark.parametrize("cap", [0, -1, 1.5, "100", True])
def test_a_cap_is_a_whole_number_of_coupons(store, cap):
    with pytest.raises(InvalidInput):
        create_template(store, "前100名", "amount_off", amount_fen=2000, max_issued=cap)
    assert store.scalar("SELECT COUNT(*) FROM coupon_templates") == 0


def test_a_capped_template_issues_exactly_its_cap_under_concurrent_issue(store, guest):
    template = create_template(store, "前5名", "amount_off", amount_fen=2000, max_issued=5)
    results = run_in_threads(store, [
        attempt(lambda s: issue_coupon(s, template["id"], guest["id"])) for _ in range(12)])
    issued = [r for r in results if isinstance(r, dict)]
    assert len(issued) == 5 and len({c["code"] for c in issued}) == 5
    assert all(isinstance(r, CouponsGone) for r in results if not isinstance(r, dict))
    assert store.scalar("SELECT COUNT(*) FROM coupons WHERE template_id = ?",
                        (template["id"],)) == 5
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'coupon.issued'") == 5
    with pytest.raises(CouponsGone):
        issue_coupon(store, template["id"], guest["id"])


def test_the_welcome_slip_prints_without_the_coupon_once_the_cap_is_reached(store):
    create_template(store, "前1名注册送", "amount_off", amount_fen=2000, max_issued=1)
    store.settings.printing.welcome_coupon_template = "前1名注册送"
    first, second = (add_member(store, NewMember(name=n, phone=p))["id"]
                     for n, p in (("甲", "13500000001"), ("乙", "13500000002")))
    assert print_welcome(store, first)["coupon_code"] is not None
    late = print_welcome(store, second)
    assert late["coupon_code"] is None and late["state"] == "queued", \
        "the second guest still gets their slip, without the offer that ran out"
    assert [len(member_coupons(store, m)) for m in (first, second)] == [1, 0]


# -- the paid mystery box ----------------------------------------------------------------------

PRIZES = [("新菜品尝", 6, "新菜品尝券", 0), ("双倍积分", 3, "", 200), ("免单", 1, "免单券", 0)]


@pytest.fixture
def box_store(store):
    create_template(store, "新菜品尝券", "free_dish", dish="酸汤肥牛")
    create_template(store, "免单券", "amount_off", amount_fen=30000)
    store.settings.mystery_box = MysteryBoxSettings(price_fen=9900, prizes=[
        BoxPrize(name=n, weight=w, coupon_template=t, points=p) for n, w, t, p in PRIZES])
    return store


def chi_square(observed, weights):
    total = sum(observed)
    return sum((o - total * w / sum(weights)) ** 2 / (total * w / sum(weights))
               for o, w in zip(observed, weights, strict=True))


def test_the_draw_follows_the_weights(box_store):
    prizes = box_store.settings.mystery_box.prizes
    rng = random.Random(2026)
    counts = Counter(mystery.draw(prizes, rng).name for _ in range(20_000))
    weights = [w for _, w, _, _ in PRIZES]
    # df = 2: above 13.82 has a chance under 0.1 % for a fair draw.
    assert chi_square([counts[n] for n, *_ in PRIZES], weights) < 13.82
    assert chi_square([counts[n] for n, *_ in PRIZES], [1, 1, 1]) > 1000, \
        "the statistic tells a draw that ignored the weights"


def test_boxes_sold_at_the_till_reveal_fair_prizes_and_the_report_counts_them(box_store, guest):
    rng = random.Random(7)
    opened = [mystery.open_box(box_store, mystery.box_sale(box_store, f"r{n}", guest["id"],
                                                           "wechat"), rng)
              for n in range(150)]
    counts = Counter(b["prize"] for b in opened)
    assert chi_square([counts[n] for n, *_ in PRIZES], [w for _, w, _, _ in PRIZES]) < 13.82
    result = report(box_store, "boxes")
    takings, earned = box_store.totals(
        "SELECT SUM(total_fen - discount_fen), SUM(points_earned) FROM orders")
    assert result["boxes"] == 150 and result["takings_fen"] == takings
    assert takings < 150 * 9900, "a guest's tier discount applies to the box as to any bill"
    assert {p["prize"]: p["boxes"] for p in result["prizes"]} == dict(counts)
    assert points_balance(box_store, guest["id"]) == earned + 200 * counts["双倍积分"]
    assert len(member_coupons(box_store, guest["id"])) == counts["新菜品尝"] + counts["免单"]


def test_a_box_paid_from_stored_value_is_paid_exactly_once(box_store, guest):
    top_up(box_store, guest["id"], 20_000)
    results = run_in_threads(box_store, [attempt(lambda s: mystery.open_box(
        s, mystery.box_sale(s, "till-1-0042", guest["id"], "stored_value"),
        random.Random(1))) for _ in range(6)])
    assert all(isinstance(r, dict) for r in results), results
    assert sum(not r["again"] for r in results) == 1
    assert len({(r["order_id"], r["prize"]) for r in results}) == 1
    assert stored_value_balance(box_store, guest["id"]) == 20_000 - 9900
    assert box_store.scalar("SELECT COUNT(*) FROM mystery_boxes") == 1
    assert box_store.scalar("SELECT COUNT(*) FROM orders") == 1


def test_a_box_that_cannot_be_paid_reveals_nothing(box_store, guest):
    with pytest.raises(InsufficientBalance):
        mystery.open_box(box_store, mystery.box_sale(box_store, "r1", guest["id"],
                                                     "stored_value"))
    assert [box_store.scalar(f"SELECT COUNT(*) FROM {t}") for t in
            ("mystery_boxes", "orders", "coupons")] == [0, 0, 0]
    box_store.settings.mystery_box.price_fen = 0
    with pytest.raises(InvalidInput):
        mystery.box_sale(box_store, "r2", guest["id"], "cash")


def test_a_box_is_on_the_outbox_so_hq_and_a_restored_hub_know_what_it_revealed(
        box_store, guest, tmp_path, clock):
    rng = random.Random(3)
    sales = [mystery.box_sale(box_store, f"till-1-{n}", guest["id"], "cash") for n in range(12)]
    for sale in sales:
        mystery.open_box(box_store, sale, rng)
    with replayed(box_store, tmp_path / "restored.db", box_store.settings, clock) as restored:
        assert report(restored, "boxes") == report(box_store, "boxes")
        with pytest.raises(IdempotencyConflict):  # refused, never a second box
            mystery.open_box(restored, sales[0], random.Random(99))
        assert restored.scalar("SELECT COUNT(*) FROM mystery_boxes") == 12
        assert restored.scalar("SELECT COUNT(*) FROM coupons") == \
            box_store.scalar("SELECT COUNT(*) FROM coupons")


def test_a_double_points_prize_doubles_the_guests_next_bill_once_within_its_days(
        store, guest, tmp_path, clock):
    store.settings.mystery_box = MysteryBoxSettings(price_fen=9900, prizes=[
        BoxPrize(name="双倍积分", weight=1, points_multiplier_pct=200, boost_days=30)])
    box = mystery.open_box(store, mystery.box_sale(store, "r1", guest["id"], "cash"))
    assert (box["prize"], box["boost_pct"], box["points"]) == ("双倍积分", 200, 0)

    def bill(key):
        return checkout(store, CheckoutRequest(key, [Line("水煮鱼", 1, 12800)],
                                               member_id=guest["id"]))["points_earned"]

    other = mystery.open_box(store, mystery.box_sale(store, "r0", guest["id"], "cash"))
    assert store.scalar("SELECT boost_order_id FROM mystery_boxes WHERE order_id = ?",
                        (box["order_id"],)) is None, "another box's sale is no meal"
    shown = quote(store, CheckoutRequest("q", [Line("水煮鱼", 1, 12800)],
                                         member_id=guest["id"]))["points_earned"]
    doubled, again, plain = bill("next"), bill("then"), bill("after")
    assert shown == doubled == again == 2 * plain > 0, \
        "the quote shows it; once per box: the next two bills, then none"
    used = [json.loads(r[0]) for r in store.conn.execute(
        "SELECT data FROM outbox WHERE type = 'mystery_box.boost_used' ORDER BY seq")]
    assert [u["order_id"] for u in used] == [box["order_id"], other["order_id"]], \
        "the one that ends first goes first"
    [prize] = report(store, "boxes")["prizes"]
    assert prize["boosts_used"] == 2

    late = mystery.open_box(store, mystery.box_sale(store, "r2", guest["id"], "cash"))
    with replayed(store, tmp_path / "restored.db", store.settings, clock) as restored:
        assert restored.scalar("SELECT COUNT(*) FROM mystery_boxes WHERE boost_order_id IS "
                               "NULL") == 1, "the used one stays used after a restore"
    clock.advance(days=31)
    assert bill("a-month-on") < 2 * plain, "its days are over"
    assert store.scalar("SELECT boost_order_id FROM mystery_boxes WHERE order_id = ?",
                        (late["order_id"],)) is None
    triple = create_campaign(store, {
        "name": "三倍积分", "audience": {}, "control_pct": 0,
        "offer": {"type": "points", "multiplier_pct": 300, "days": 7}, "active": True})
    run_campaign(store, triple["id"])
    fresh = mystery.open_box(store, mystery.box_sale(store, "r3", guest["id"], "cash"))
    assert bill("with-both") == 3 * plain, "the higher boost counts"
    assert store.scalar("SELECT boost_order_id FROM mystery_boxes WHERE order_id = ?",
                        (fresh["order_id"],)) is None, "the box's waits for a bill it makes"
    with pytest.raises(ValueError, match="above 100"):
        BoxPrize(name="半倍", weight=1, points_multiplier_pct=50)
    with pytest.raises(ValueError, match="one of the three"):
        BoxPrize(name="两样", weight=1, points=100, points_multiplier_pct=200)


# -- first tastings of new dishes ----------------------------------------------------------------

def test_regulars_who_have_not_tasted_a_new_dish_are_its_audience(store, clock):
    save_dish(store, {"code": "SF01", "name": "酸汤肥牛", "category": "热菜", "price_fen": 8800,
                      "tags": ["新品", "中辣"]}, actor="owner")
    save_dish(store, {"code": "MF01", "name": "面", "category": "主食", "price_fen": 1800},
              actor="owner")
    people = {name: add_member(store, NewMember(name=name, phone=phone))["id"] for name, phone
              in [("尝过", "13500000011"), ("没尝过", "13500000012"), ("新客", "13500000013")]}
    for n in range(3):
        for name in ("尝过", "没尝过"):
            checkout(store, CheckoutRequest(f"{name}-{n}", [MenuLine("MF01", 1)],
                                            member_id=people[name]))
    checkout(store, CheckoutRequest("taste", [MenuLine("SF01", 1)], member_id=people["尝过"]))
    rules = Audience(new_dish_untasted=True, frequency_min=3)
    assert [p.member_id for p in pick(store, rules)] == [people["没尝过"]]
    assert people["新客"] in [p.member_id for p in pick(store,
                                                        Audience(new_dish_untasted=True))]
    retire_dish(store, "SF01", actor="owner")
    assert pick(store, rules) == [], "no new dish on the menu: nobody to invite"


def test_a_template_named_in_the_settings_is_one_this_store_may_issue(store):
    """Templates of the whole chain come down the feed, some for other stores only: a name
    in this store's settings (the receipt's next coupon, the welcome, a prize) must not pick
    another store's newer one of the same name, whose coupons this store could not take."""
    from hub.domain.coupons import template_by_name

    ours = create_template(store, "下次立减10元", "amount_off", amount_fen=1000)
    chain = create_template(store, "下次立减10元", "amount_off", amount_fen=1000,
                            stores=[store.store_id, "shop-2"])
    assert template_by_name(store, "下次立减10元") == chain["id"], "the newest, it is ours too"
    theirs = create_template(store, "下次立减10元", "amount_off", amount_fen=3000,
                             stores=["shop-2"])
    assert theirs["created_at"] >= chain["created_at"]
    assert template_by_name(store, "下次立减10元") == chain["id"]
    assert template_by_name(store, "没有这个") is None and ours["id"]
