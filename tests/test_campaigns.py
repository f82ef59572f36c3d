"""Campaigns over generated months of trade: who is picked, who is held out, what it earned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.demo_data import generate
from hub.domain.audience import pick
from hub.domain.campaigns import (
    campaign_results,
    create_campaign,
    due_campaigns,
    get_campaign,
    install_builtins,
    list_campaigns,
    run_campaign,
    update_campaign,
)
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.clock import to_iso
from hub.domain.coupons import Line, create_template
from hub.domain.errors import CouponUsed, InvalidInput
from hub.domain.members import NewMember, add_member
from hub.domain.outreach import deliver_held, list_messages
from printer.slips import print_receipt

LINES = [Line("水煮鱼", 1, 12800), Line("米饭", 2, 300)]


def pay(store, member_id, key, lines=LINES, **extra):
    return checkout(store, CheckoutRequest(idempotency_key=key, lines=lines,
                                           member_id=member_id, **extra))


@pytest.fixture
def months(store):
    """Ten months of a small store: regulars, occasional guests and a third who lapsed."""
    store.settings.messaging.webhook_url = "http://127.0.0.1:9/hook"
    generate(store, members=500, days=300, seed=11)
    return store


def win_back(store, **extra):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000,
                               min_spend_fen=5000, valid_days=30)
    spec = {"name": "win-back", "kind": "win_back", "audience": {"lapsed_days": 90},
            "offer": {"type": "coupon", "template_id": template["id"]},
            "message_zh": "{name}，好久不见！送您{offer}，券码 {code}，{until}前有效。"
                          "{unsubscribe}",
            "message_en": "{name}, we miss you: {offer}, code {code}.",
            "channels": ["webhook"], "schedule": {"run": "daily", "at": "10:00"},
            "control_pct": 25, "active": True, **extra}
    return create_campaign(store, spec)


def lapsed_by_sql(store, days, consent_only):
    """Independent of the audience compiler: last seen from visits and orders in Python."""
    seen = {}
    for member_id, at in store.conn.execute(
            "SELECT member_id, visited_at FROM visits WHERE member_id IS NOT NULL "
            "UNION ALL SELECT member_id, created_at FROM orders WHERE member_id IS NOT NULL"):
        seen[member_id] = max(seen.get(member_id, ""), at)
    cutoff = to_iso(store.now() - timedelta(days=days))
    consent = {r[0]: r[1] for r in store.conn.execute(
        "SELECT id, marketing_consent FROM members")}
    return {m for m, at in seen.items() if at < cutoff and (consent[m] or not consent_only)}


def test_the_lapsed_campaign_picks_exactly_the_right_guests(months):
    store = months
    campaign = win_back(store)
    assert campaign["audience"] == {"consent": True, "lapsed_days": 90}, \
        "a campaign that messages reaches only guests who agreed to marketing"
    run = run_campaign(store, campaign["id"])
    targets = {r[0]: dict(r) for r in store.conn.execute(
        "SELECT member_id, * FROM campaign_targets WHERE campaign_id = ?", (campaign["id"],))}
    expected = lapsed_by_sql(store, 90, consent_only=True)
    without_consent = lapsed_by_sql(store, 90, consent_only=False) - expected
    assert len(expected) > 30 and len(without_consent) > 15
    assert set(targets) == expected
    assert not without_consent & set(targets)
    assert run["new"] == len(expected) == run["treated"] + run["control"]

    control = [m for m, t in targets.items() if t["arm"] == "control"]
    treated = [m for m, t in targets.items() if t["arm"] == "treated"]
    # Each guest's arm is a fixed draw from random ids: the share is tested on many draws
    # below; 45 guests at 25 % only show that both arms are used (0 control: p < 1e-5).
    assert control and treated
    assert all(targets[m]["coupon_code"] is None for m in control)
    messages = list_messages(store, campaign["id"], limit=1000)
    assert {m["member_id"] for m in messages} == set(treated), "the control group gets nothing"
    assert all(m["status"] == "queued" and m["address"].startswith("+86") for m in messages)
    first = messages[0]
    name = store.scalar("SELECT name FROM members WHERE id = ?", (first["member_id"],))
    code = targets[first["member_id"]]["coupon_code"]
    assert first["body"].startswith(f"{name}，好久不见！送您20.00元（满50.00元可用），券码 {code}")
    assert first["body"].endswith("回复TD退订")

    again = run_campaign(store, campaign["id"])
    assert again["new"] == 0, "tomorrow's run does not pick the same lapse twice"


def test_results_equal_a_direct_count_of_the_books(months, clock):
    store = months
    campaign = win_back(store)
    run_campaign(store, campaign["id"])
    targets = store.conn.execute("SELECT member_id, arm, coupon_code FROM campaign_targets "
                                 "WHERE campaign_id = ? ORDER BY member_id",
                                 (campaign["id"],)).fetchall()
    treated = [t for t in targets if t["arm"] == "treated"]
    control = [t for t in targets if t["arm"] == "control"]
    clock.advance(days=2)
    for n, target in enumerate(treated[:12]):
        pay(store, target["member_id"], f"back-{n}",
            coupon_code=target["coupon_code"] if n < 9 else None)
    for n, target in enumerate(control[:3]):
        pay(store, target["member_id"], f"ctl-{n}")
    clock.advance(days=40)
    pay(store, treated[20]["member_id"], "too-late")  # after the 30-day window

    results = campaign_results(store, campaign["id"])
    arms = results["arms"]
    assert arms["treated"]["guests"] == len(treated)
    assert arms["control"]["guests"] == len(control)
    assert arms["treated"]["coupons_issued"] == len(treated)
    assert arms["control"]["coupons_issued"] == 0
    assert arms["treated"]["coupons_redeemed"] == 9
    assert arms["treated"]["returned"] == 12 and arms["control"]["returned"] == 3
    window_end = {}
    for t in store.conn.execute("SELECT member_id, targeted_at FROM campaign_targets"):
        window_end[t[0]] = (t[1], to_iso(store.now() - timedelta(days=40)
                                         + timedelta(days=28)))
    for arm, group in (("treated", treated), ("control", control)):
        ids = [t["member_id"] for t in group]
        spend = 0
        for member_id in ids:
            start, end = window_end[member_id]
            spend += store.scalar(
                "SELECT COALESCE(SUM(total_fen - discount_fen), 0) FROM orders "
                "WHERE member_id = ? AND created_at > ? AND created_at < ?",
                (member_id, start, end))
        assert arms[arm]["spend_fen"] == spend
    assert results["lift"]["return_rate_pts"] == round(
        100 * (round(12 / len(treated), 4) - round(3 / len(control), 4)), 2)
    assert results["messages"]["queued"] == len(treated)


def test_coupon_from_a_campaign_is_redeemed_once_at_checkout(months):
    store = months
    campaign = win_back(store, control_pct=0)
    run_campaign(store, campaign["id"])
    target = store.one("SELECT * FROM campaign_targets WHERE campaign_id = ? LIMIT 1",
                       (campaign["id"],))
    paid = pay(store, target["member_id"], "with-coupon", coupon_code=target["coupon_code"])
    assert paid["coupon_discount_fen"] == 2000
    with pytest.raises(CouponUsed):
        pay(store, target["member_id"], "again", coupon_code=target["coupon_code"])


def test_schedule_runs_daily_from_its_hour(store, clock):
    campaign = create_campaign(store, {"name": "生日", "kind": "birthday",
                                       "audience": {"birthday_within": 3},
                                       "schedule": {"run": "daily", "at": "12:00"}})
    assert due_campaigns(store) == [], "switched off"
    update_campaign(store, campaign["id"], {"active": True})
    assert due_campaigns(store) == [campaign["id"]]  # 12:30 in Shanghai
    run_campaign(store, campaign["id"])
    assert due_campaigns(store) == []
    clock.advance(hours=23)  # 11:30 the next day
    assert due_campaigns(store) == []
    clock.advance(hours=1)
    assert due_campaigns(store) == [campaign["id"]]


def test_birthday_occasion_is_once_a_year(store, clock):
    guest = add_member(store, NewMember(name="李雷", phone="13900000001", birthday="1990-11-27",
                                        marketing_consent=True))
    campaign = create_campaign(store, {"name": "生日", "kind": "birthday",
                                       "audience": {"birthday_within": 3}, "control_pct": 0})
    assert run_campaign(store, campaign["id"])["treated"] == 1
    clock.advance(days=1)
    assert run_campaign(store, campaign["id"])["new"] == 0
    clock.advance(days=365)
    assert run_campaign(store, campaign["id"])["treated"] == 1, "next year's birthday"
    occasions = [r[0] for r in store.conn.execute(
        "SELECT occasion FROM campaign_targets WHERE member_id = ? ORDER BY occasion",
        (guest["id"],))]
    assert occasions == ["birthday:2026", "birthday:2027"]


def test_member_day_half_price_replaces_the_tier_discount(store, guest):
    install_builtins(store)
    day = next(c for c in list_campaigns(store) if c["kind"] == "member_day")
    assert pay(store, guest["id"], "before")["promo_discount_fen"] == 0, "switched off"
    update_campaign(store, day["id"], {"active": True})
    paid = pay(store, guest["id"], "wednesday")  # the test clock says Wednesday
    assert paid["promo_discount_fen"] == (12800 + 600) // 2
    assert paid["tier_discount_fen"] == 0
    assert pay(store, None, "walk-in")["promo_discount_fen"] == 0, "members only"
    update_campaign(store, day["id"], {"offer": {"type": "member_price", "percent_off": 50,
                                                 "weekday": 4}})
    assert pay(store, guest["id"], "not-thursday")["promo_discount_fen"] == 0
    uses = campaign_results(store, day["id"])["checkout_uses"]
    assert uses == {"orders": 1, "discount_fen": 6700, "points": 0}


def test_referral_rewards_both_guests_on_the_first_payment_only(store, guest):
    install_builtins(store)
    referral = next(c for c in list_campaigns(store) if c["kind"] == "referral")
    update_campaign(store, referral["id"], {"active": True})
    friend = add_member(store, NewMember(name="韩梅梅", phone="13900000002",
                                         referred_by=guest["id"]))
    pay(store, friend["id"], "first")
    pay(store, friend["id"], "second")
    reasons = store.conn.execute("SELECT member_id, delta FROM points_ledger "
                                 "WHERE reason = 'referral' ORDER BY delta").fetchall()
    assert [(r[0], r[1]) for r in reasons] == [(friend["id"], 100), (guest["id"], 200)]


def test_tier_upgrade_gift_prints_on_the_receipt(store, guest):
    install_builtins(store)
    gift = next(c for c in list_campaigns(store) if c["kind"] == "tier_upgrade")
    update_campaign(store, gift["id"], {"active": True, "control_pct": 0})
    paid = pay(store, guest["id"], "big", lines=[Line("帝王蟹", 1, 260000)])
    assert paid["tier"] == "silver"
    target = store.one("SELECT * FROM campaign_targets WHERE campaign_id = ?", (gift["id"],))
    assert target["occasion"] == "tier:silver" and target["coupon_code"]
    [held] = list_messages(store, gift["id"])
    assert held["status"] == "held" and held["channel"] == "receipt"
    job = print_receipt(store, paid["order_id"])
    assert "恭喜王芳升级" in job["preview"] and target["coupon_code"] in job["preview"]
    assert list_messages(store, gift["id"])[0]["status"] == "delivered"
    assert deliver_held(store, guest["id"], "receipt") == [], "a held message prints once"


def test_points_offer_doubles_points_for_the_treated_only(store, guest):
    campaign = create_campaign(store, {
        "name": "双倍积分", "audience": {"tiers": ["member"]}, "control_pct": 0,
        "offer": {"type": "points", "multiplier_pct": 200, "days": 7}, "active": True})
    run_campaign(store, campaign["id"])
    assert pay(store, guest["id"], "double")["points_earned"] == 2 * (13400 // 100)


def test_a_points_offer_works_whatever_the_campaign_kind(store, guest):
    birthday = create_campaign(store, {
        "name": "生日三倍积分", "kind": "birthday", "audience": {"tiers": ["member"]},
        "control_pct": 0, "offer": {"type": "points", "multiplier_pct": 300, "days": 7},
        "active": True})
    run_campaign(store, birthday["id"])
    assert pay(store, guest["id"], "triple")["points_earned"] == 3 * (13400 // 100)


def test_bad_campaigns_are_refused_with_the_reason(store):
    cases = [
        ({"name": "x", "kind": "member_day"}, "schedule.run"),
        ({"name": "x", "audience": {"lapsed": 3}}, "audience.lapsed: unknown field"),
        ({"name": "x", "channels": ["webhook"]}, "needs a message"),
        ({"name": "x", "message_zh": "{nmae}", "channels": ["webhook"]}, "unknown placeholder"),
        ({"name": "x", "offer": {"type": "coupon"}}, "template_id"),
        ({"name": "x", "offer": {"type": "coupon", "template_id": "nope"}}, "no coupon template"),
        ({"name": "x", "control_pct": 95}, "control_pct"),
    ]
    for spec, reason in cases:
        with pytest.raises(InvalidInput) as refused:
            create_campaign(store, spec)
        assert reason in str(refused.value), (spec, str(refused.value))
    assert store.scalar("SELECT COUNT(*) FROM campaigns") == 0


def test_builtins_are_installed_once_and_switched_off(store):
    assert install_builtins(store) == 6
    assert install_builtins(store) == 0
    kinds = {c["kind"]: c["active"] for c in list_campaigns(store)}
    assert kinds == {"win_back": False, "birthday": False, "member_day": False,
                     "referral": False, "tier_upgrade": False, "mystery_box": False}
    box = next(c for c in list_campaigns(store) if c["kind"] == "mystery_box")
    assert get_campaign(store, box["id"])["offer"]["type"] == "mystery"


def test_audience_rules(store, clock):
    def member(phone, **extra):
        return add_member(store, NewMember(name="客" + phone[-2:], phone=phone, **extra))["id"]

    spicy = member("13900000011", spice_level="mild", tags=["商务"])
    fish = member("13900000012", notes="爱吃鱼")
    once = member("13900000013")
    delivery = member("13900000014")
    for n in range(3):
        pay(store, fish, f"fish-{n}", lines=[Line("水煮鱼", 1, 12800)])
    pay(store, once, "once", lines=[Line("米饭", 1, 300)])
    box = [Line("外卖套餐", 1, 5000)]
    pay(store, delivery, "d1", lines=box, channel="delivery")
    pay(store, delivery, "d2", lines=box, channel="delivery")

    def ids(**rules):
        return {p.member_id for p in pick(store, rules)}

    assert ids(taste="微辣") == {spicy}
    assert ids(taste="鱼") == {fish}
    assert ids(tags=["商务"]) == {spicy}
    assert ids(favourite_dish="水煮鱼") == {fish}
    assert ids(first_visit_only=True) == {once}
    assert ids(delivery_only=True) == {delivery}
    assert ids(frequency_min=2) == {fish, delivery}
    assert ids(spend_min_fen=30000) == {fish}
    assert ids(rfm="champions") == {fish}
    assert ids(frequency_min=2, delivery_only=True) == {delivery}
    clock.advance(days=91)
    assert ids(lapsed_days=90) == {fish, once, delivery}
    with pytest.raises(InvalidInput, match="audience: rfm"):
        pick(store, {"rfm": "whales"})


def test_member_stats_follow_the_books(months, clock):
    store = months
    clock.advance(days=1)
    member_id = store.scalar("SELECT id FROM members LIMIT 1")
    pay(store, member_id, "one-more", channel="delivery")
    kept = {r[0]: tuple(r[1:]) for r in store.conn.execute(
        "SELECT m.id, orders, deliveries, visits, last_seen FROM member_stats s "
        "JOIN members m ON m.rowid = s.member_rowid")}
    counted = {r[0]: tuple(r[1:]) for r in store.conn.execute(
        "SELECT member_id, SUM(o), SUM(d), SUM(v), MAX(at) FROM ("
        " SELECT member_id, 1 AS o, channel = 'delivery' AS d, 0 AS v, created_at AS at "
        " FROM orders WHERE member_id IS NOT NULL UNION ALL "
        " SELECT member_id, 0, 0, 1, visited_at FROM visits WHERE member_id IS NOT NULL) "
        "GROUP BY member_id")}
    assert kept == counted and kept[member_id][3] == store.now_iso()


def test_the_control_draw_holds_out_the_campaigns_share_of_guests():
    """The arm is a hash of the campaign, the guest and the occasion: over many guests the
    held-out share is the campaign's control_pct, and the same inputs draw the same arm."""
    from hub.domain.campaigns import _share
    from hub.domain.ids import new_id

    campaign = new_id()
    draws = [_share(campaign, new_id(), "2026-11") for _ in range(20_000)]
    held_out = sum(d < 25 for d in draws) / len(draws)
    assert abs(held_out - 0.25) < 0.02  # 6.5 standard deviations at 20,000 draws
    assert min(draws) == 0 and max(draws) == 99
    guest = new_id()
    assert _share(campaign, guest, "2026-11") == _share(campaign, guest, "2026-11")
