"""Dish mix, party sizes and occupancy by weekday x daypart, each checked against plain Python
over the rows (local times worked out with zoneinfo, stays walked minute by minute), on a
generated store with tables opened and billed at the till, and on stores with known answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.demo_data import generate
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.clock import from_iso
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.errors import InvalidInput
from hub.domain.reports import report
from hub.domain.store import Store
from hub.domain.tables import open_tab, save_table
from hub.domain.visits import check_in
from tests.conftest import START, FakeClock
from tests.support.hubproc import ROOT

TZ = ZoneInfo("Asia/Shanghai")
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
PARTS = ["late", "breakfast", "lunch", "afternoon", "dinner"]
SPAN = (date(2026, 9, 1), date(2026, 11, 25))


def part_of(hour: int) -> str:
    """The dayparts as the README states them, written out again."""
    if hour < 5 or hour >= 21:
        return "late"
    return "breakfast" if hour < 11 else "lunch" if hour < 14 else \
        "afternoon" if hour < 17 else "dinner"


def local(iso: str) -> datetime:
    return from_iso(iso).astimezone(TZ)


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """A generated store, then an afternoon at the till: tables opened and billed later, a
    check-in billed at the counter, one never billed, and one sitting across lunch's end."""
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    clock = FakeClock()
    with Store(tmp_path_factory.mktemp("traffic") / "laoke.db", settings, clock) as store:
        generate(store, members=150, days=80, seed=5)
        clock.current = START  # 12:30 local, a Wednesday
        tab = open_tab(store, "A1", 3)
        walk_in = check_in(store, None, "B2", 2)
        check_in(store, None, "B3", 5)  # never billed: a default stay
        late_tab = open_tab(store, "包间1", 9)
        clock.advance(minutes=50)
        checkout(store, CheckoutRequest(idempotency_key="t1", lines=[Line("酸辣汤", 2, 2800)],
                                        tab_id=tab["id"], visit_id=tab["visit_id"]))
        checkout(store, CheckoutRequest(idempotency_key="t2", lines=[Line("米饭", 2, 300)],
                                        visit_id=walk_in["id"]))
        clock.advance(minutes=80)  # 14:40: the private room's bill, past lunch
        checkout(store, CheckoutRequest(idempotency_key="t3", lines=[Line("红烧肉", 1, 6800)],
                                        tab_id=late_tab["id"], visit_id=late_tab["visit_id"]))
        yield store


def test_dish_mix_matches_plain_python_and_narrows_to_a_category(busy):
    category_of = dict(busy.conn.execute("SELECT code, category FROM menu_dishes").fetchall())
    by_name = dict(busy.conn.execute("SELECT name, category FROM menu_dishes").fetchall())
    lines = busy.conn.execute(
        "SELECT o.created_at, l.dish, l.code, l.qty FROM orders o JOIN order_lines l "
        "ON l.order_id = o.id").fetchall()
    lo, hi = SPAN
    for category in (None, "汤"):
        grid: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for at, dish, code, qty in lines:
            when = local(at)
            if not lo <= when.date() <= hi:
                continue
            if category and category_of.get(code, by_name.get(dish)) != category:
                continue
            grid[(DAYS[when.weekday()], part_of(when.hour))][dish] += qty
        result = report(busy, "dish_mix", *SPAN, category=category)
        assert result["category"] == category and result["dayparts"] == PARTS
        assert result["qty"] == [[sum(grid[(d, p)].values()) for p in PARTS] for d in DAYS]
        assert sum(map(sum, result["qty"])) > 0
        for cell in result["mix"]:
            sold = grid[(cell["weekday"], cell["daypart"])]
            assert cell["qty"] == sold[cell["dish"]]
            assert cell["share"] == round(sold[cell["dish"]] / sum(sold.values()), 4)
        listed: dict[tuple[str, str], list[int]] = defaultdict(list)
        for cell in result["mix"]:
            listed[(cell["weekday"], cell["daypart"])].append(cell["qty"])
        # each cell lists its five best sellers, the best first
        assert {cell: sorted(qty, reverse=True) for cell, qty in listed.items()} == listed
        assert dict(listed) == {
            cell: sorted(sold.values(), reverse=True)[:5] for cell, sold in grid.items() if sold}
    soups = report(busy, "dish_mix", *SPAN, category="汤")["mix"]
    assert {c["dish"] for c in soups} <= {"酸辣汤", "冬瓜排骨汤"}


def test_a_category_not_on_the_menu_or_on_another_report_is_refused(busy):
    with pytest.raises(InvalidInput, match="no menu category '儿童餐'; the menu has: "):
        report(busy, "dish_mix", category="儿童餐")
    with pytest.raises(InvalidInput, match="dish_mix and ordered_without reports only"):
        report(busy, "dishes", category="汤")


def test_party_sizes_match_plain_python(busy):
    cells: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for at, size in busy.conn.execute("SELECT visited_at, party_size FROM visits"):
        when = local(at)
        if SPAN[0] <= when.date() <= SPAN[1]:
            cells[(DAYS[when.weekday()], part_of(when.hour))][size] += 1
    result = report(busy, "party_sizes", *SPAN)
    for d, day in enumerate(DAYS):
        for p, part in enumerate(PARTS):
            sizes = cells[(day, part)]
            parties = sum(sizes.values())
            expected = round(sum(s * n for s, n in sizes.items()) / parties, 2) if parties else 0
            assert result["average_party"][d][p] == expected, (day, part)
    assert {(c["weekday"], c["daypart"], c["party_size"]): (c["parties"], c["share"])
            for c in result["sizes"]} == {
        (day, part, size): (n, round(n / sum(sizes.values()), 4))
        for (day, part), sizes in cells.items() for size, n in sizes.items()}
    assert result["average_party"][DAYS.index("Wed")][PARTS.index("lunch")] > 0


def test_occupancy_matches_a_minute_by_minute_walk(busy):
    seats = sum(r[0] for r in busy.conn.execute("SELECT seats FROM dining_tables"))
    ends: dict[str, str] = {}
    for visit_id, at in busy.conn.execute("SELECT visit_id, created_at FROM orders "
                                          "WHERE visit_id IS NOT NULL ORDER BY created_at DESC"):
        ends[visit_id] = at  # the first bill wins
    ends.update(busy.conn.execute("SELECT visit_id, closed_at FROM tabs "
                                  "WHERE closed_at IS NOT NULL").fetchall())
    lo, hi = SPAN
    start_of = datetime.combine(lo, datetime.min.time(), TZ)
    end_of = datetime.combine(hi + timedelta(days=1), datetime.min.time(), TZ)
    used: Counter[tuple[str, str]] = Counter()
    visits = estimated = 0
    for visit_id, at, party in busy.conn.execute("SELECT id, visited_at, party_size "
                                                 "FROM visits"):
        begin = local(at)
        if not start_of <= begin < end_of:
            continue
        visits += 1
        finish = local(ends[visit_id]) if visit_id in ends else begin
        if finish <= begin:
            finish, estimated = begin + timedelta(minutes=75), estimated + 1
        finish = min(finish, begin + timedelta(hours=4), end_of)
        minute = begin
        while minute < finish:
            used[(DAYS[minute.weekday()], part_of(minute.hour))] += party
            minute += timedelta(minutes=1)
    days = Counter(DAYS[(lo + timedelta(days=n)).weekday()] for n in range((hi - lo).days + 1))
    hours = {"late": 8, "breakfast": 6, "lunch": 3, "afternoon": 3, "dinner": 4}
    result = report(busy, "occupancy", *SPAN)
    assert result["seats"] == seats and result["visits"] == visits
    assert result["stays_estimated"] == estimated and estimated > 1
    for d, day in enumerate(DAYS):
        for p, part in enumerate(PARTS):
            expected = used[(day, part)] / 60 / (seats * days[day] * hours[part])
            assert result["occupancy"][d][p] == pytest.approx(expected, abs=1e-4), (day, part)
    for row in result["by_daypart"]:
        spent = sum(used[(day, row["daypart"])] for day in DAYS) / 60
        assert row["seat_hours_used"] == pytest.approx(spent, abs=0.1)
        assert row["seat_hours_available"] == seats * days.total() * hours[row["daypart"]]
    # the private room's party of 9 sat from 12:30 to 14:40: 40 minutes of it in the afternoon
    assert used[("Wed", "afternoon")] >= 9 * 40


def test_a_table_of_four_half_full_for_an_hour_of_lunch(tmp_path):
    """Known answers: four seats, two guests from 12:00 to 13:00 on one day: a sixth of
    lunch's twelve seat-hours, nothing anywhere else; Wednesday's lunch the only cell."""
    clock = FakeClock(datetime(2026, 11, 25, 12, 0, tzinfo=TZ))
    with Store(tmp_path / "laoke.db", new_settings("s1"), clock) as store:
        save_table(store, "T1", seats=4, actor="test")
        tab = open_tab(store, "T1", 2)
        clock.advance(hours=1)
        checkout(store, CheckoutRequest(idempotency_key="k", lines=[Line("面", 1, 1800)],
                                        tab_id=tab["id"], visit_id=tab["visit_id"]))
        result = report(store, "occupancy", date(2026, 11, 25), date(2026, 11, 25))
        grid = result["occupancy"]
        assert grid[2][PARTS.index("lunch")] == round(2 / 12, 4)
        assert sum(map(sum, grid)) == round(2 / 12, 4)
        lunch = next(r for r in result["by_daypart"] if r["daypart"] == "lunch")
        assert lunch == {"daypart": "lunch", "seat_hours_used": 2.0,
                         "seat_hours_available": 12.0, "occupancy": round(2 / 12, 4)}
        assert result["stays_estimated"] == 0
        mix = report(store, "dish_mix", date(2026, 11, 25), date(2026, 11, 25))
        assert mix["mix"] == [{"weekday": "Wed", "daypart": "lunch", "dish": "面", "qty": 1,
                               "share": 1.0}]


def test_the_command_takes_a_category(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_HOME": str(tmp_path)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "hub", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=120)
    assert run("demo-data", "--members", "20", "--days", "3").returncode == 0
    out = json.loads(run("report", "dish_mix", "--category", "饮品", "--json").stdout)
    assert out["category"] == "饮品" and out["mix"]
    assert {c["dish"] for c in out["mix"]} <= {"酸梅汤", "鲜榨橙汁", "青岛啤酒", "王老吉"}
    bad = run("report", "hours", "--category", "饮品")
    assert bad.returncode == 2 and "dish_mix and ordered_without reports only" in bad.stderr


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    with Store(tmp_path_factory.mktemp("yoy") / "laoke.db", settings, FakeClock()) as store:
        generate(store, members=60, days=430, seed=8)
        yield store


def test_repurchase_on_last_year_matches_plain_python(two_years):
    firsts: dict[str, str] = {}
    months: dict[str, set[str]] = defaultdict(set)
    for member, at in two_years.conn.execute("SELECT member_id, created_at FROM orders "
                                             "WHERE member_id IS NOT NULL ORDER BY created_at"):
        month = local(at).strftime("%Y-%m")
        firsts.setdefault(member, month)
        months[month].add(member)

    def rate(month: str) -> tuple[int, int]:
        guests = months.get(month, set())
        return len(guests), sum(firsts[g] < month for g in guests)

    result = report(two_years, "repurchase_yoy", date(2026, 6, 1), date(2026, 11, 30))
    assert [m["month"] for m in result["compared"]] == [f"2026-{n:02d}" for n in range(6, 12)]
    for row in result["compared"]:
        members, back = rate(row["month"])
        old_members, old_back = rate(str(int(row["month"][:4]) - 1) + row["month"][4:])
        assert (row["members"], row["returning"]) == (members, back)
        assert (row["last_year_members"], row["last_year_returning"]) == (old_members, old_back)
        old = round(old_back / old_members, 4) if old_members else 0
        assert row["change_pct"] == (round(100 * (row["rate"] - old) / old, 1) if old else None)
    assert any(row["change_pct"] is not None for row in result["compared"])
    total = [rate(f"2026-{n:02d}") for n in range(6, 12)]
    assert result["this_year"]["members"] == sum(m for m, _ in total)
    assert result["this_year"]["returning"] == sum(b for _, b in total)


def test_repurchase_up_half_on_last_november(tmp_path):
    """Known answers: last November two guests ordered, one for the second time (50%); this
    November four, three of them again (75%): up 50% on last year."""
    from hub.domain.members import NewMember, add_member

    clock = FakeClock(datetime(2025, 10, 5, 12, 0, tzinfo=TZ))
    with Store(tmp_path / "laoke.db", new_settings("s1"), clock) as store:
        guests = [add_member(store, NewMember(name=f"客{n}", phone=f"1380013800{n}"))["id"]
                  for n in range(4)]

        def order(member: str, when: datetime) -> None:
            clock.current = when
            checkout(store, CheckoutRequest(idempotency_key=f"{member}{when}", member_id=member,
                                            lines=[Line("面", 1, 1800)]))

        order(guests[0], datetime(2025, 10, 5, 12, 0, tzinfo=TZ))
        order(guests[0], datetime(2025, 11, 5, 12, 0, tzinfo=TZ))
        order(guests[1], datetime(2025, 11, 30, 23, 30, tzinfo=TZ))  # local November
        order(guests[2], datetime(2026, 3, 1, 12, 0, tzinfo=TZ))
        order(guests[3], datetime(2026, 4, 1, 12, 0, tzinfo=TZ))
        for member in (guests[1], guests[2], guests[3]):
            order(member, datetime(2026, 11, 10, 19, 0, tzinfo=TZ))
        new = add_member(store, NewMember(name="新客", phone="13900139000"))["id"]
        order(new, datetime(2026, 11, 11, 19, 0, tzinfo=TZ))
        result = report(store, "repurchase_yoy", date(2026, 11, 1), date(2026, 11, 30))
        assert result["compared"] == [{
            "month": "2026-11", "members": 4, "returning": 3, "rate": 0.75,
            "last_year_members": 2, "last_year_returning": 1, "last_year_rate": 0.5,
            "change_pct": 50.0}]
        assert result["change_pct"] == 50.0
        assert result["last_year"] == {"month": "all", "members": 2, "returning": 1,
                                       "rate": 0.5}


def test_ordered_without_matches_plain_python(busy):
    category_of = dict(busy.conn.execute("SELECT code, category FROM menu_dishes").fetchall())
    by_name = dict(busy.conn.execute("SELECT name, category FROM menu_dishes").fetchall())
    baskets: dict[str, set[str]] = defaultdict(set)
    dishes: dict[str, set[tuple[str, str]]] = defaultdict(set)
    member_of = {}
    for order_id, member, at, dish, code in busy.conn.execute(
            "SELECT o.id, o.member_id, o.created_at, l.dish, l.code FROM orders o "
            "JOIN order_lines l ON l.order_id = o.id"):
        category = category_of.get(code, by_name.get(dish))
        if SPAN[0] <= local(at).date() <= SPAN[1] and category:
            baskets[order_id].add(category)
            dishes[order_id].add((category, dish))
            member_of[order_id] = member
    result = report(busy, "ordered_without", *SPAN)
    assert result["orders"] == len(baskets)
    expected = {}
    for x in set(category_of.values()):
        for y in set(category_of.values()) - {x}:
            gaps = [o for o, cats in baskets.items() if x in cats and y not in cats]
            both = {member_of[o] for o, cats in baskets.items() if {x, y} <= cats}
            known = [o for o in gaps if member_of[o] is not None]
            likely = [o for o in known if member_of[o] in both]
            alone = Counter(d for o in gaps for c, d in dishes[o] if c == x)
            taken = Counter(d for o, cats in baskets.items() if {x, y} <= cats
                            for c, d in dishes[o] if c == y)
            uptake = len(likely) / len(known) if known else None
            expected[(x, y)] = (
                len(gaps), min(alone, key=lambda d: (-alone[d], d)) if alone else "",
                min(taken, key=lambda d: (-taken[d], d)) if taken else None,
                round(uptake, 4) if uptake is not None else None,
                round(len(gaps) * uptake) if uptake else 0)
    top = sorted((k for k, v in expected.items() if v[0]),
                 key=lambda k: (-expected[k][0], k[0], k[1]))[:10]
    assert [(g["category"], g["without"]) for g in result["gaps"]] == top
    for gap in result["gaps"]:
        without, x_dish, y_dish, uptake, orders = expected[(gap["category"], gap["without"])]
        assert gap["orders_without"] == without
        assert gap["combo"][0] == x_dish and (y_dish is None or gap["combo"][1] == y_dish)
        assert (gap["uptake"], gap["expected_orders"]) == (uptake, orders)
    soup = report(busy, "ordered_without", *SPAN, category="热菜")["gaps"]
    assert {g["category"] for g in soup} == {"热菜"}
    assert ("热菜", "汤") in {(g["category"], g["without"]) for g in soup}


def test_a_main_without_soup_and_who_would_take_the_combo(tmp_path):
    """Known answers: guest A has a main with soup once and a main alone twice; guest B a
    main alone once; a walk-in a main alone. Of the three member orders without soup, two are
    A's, who takes soup with a main: uptake 2/3 over the four such orders: 3 expected."""
    from hub.domain.members import NewMember, add_member
    from hub.domain.menu import import_menu

    clock = FakeClock(datetime(2026, 11, 20, 12, 0, tzinfo=TZ))
    with Store(tmp_path / "laoke.db", new_settings("s1"), clock) as store:
        import_menu(store, [{"code": "R1", "name": "回锅肉", "category": "热菜",
                             "price_fen": 4600},
                            {"code": "R2", "name": "鱼香肉丝", "category": "热菜",
                             "price_fen": 4200},
                            {"code": "T1", "name": "酸辣汤", "category": "汤",
                             "price_fen": 2800}], actor="test")
        a, b = (add_member(store, NewMember(name=n, phone=p))["id"]
                for n, p in (("甲", "13800138001"), ("乙", "13800138002")))
        bills = [(a, ("回锅肉", "酸辣汤")), (a, ("回锅肉",)), (a, ("鱼香肉丝",)),
                 (b, ("鱼香肉丝",)), (None, ("鱼香肉丝",))]
        for n, (member, names) in enumerate(bills):
            clock.advance(hours=1)
            checkout(store, CheckoutRequest(
                idempotency_key=f"k{n}", member_id=member,
                lines=[Line(name, 1, 1000) for name in names]))
        result = report(store, "ordered_without", date(2026, 11, 20), date(2026, 11, 20))
        assert result["orders"] == 5
        assert result["gaps"] == [{
            "category": "热菜", "without": "汤", "orders_with": 5, "orders_without": 4,
            "share_without": 0.8, "combo": ["鱼香肉丝", "酸辣汤"], "uptake": round(2 / 3, 4),
            "expected_orders": 3}]


def test_campaign_return_on_spend_matches_the_books(tmp_path):
    """A win-back campaign over generated months: its messages really sent to a stand-in
    gateway at 12 fen each, coupons redeemed, guests of both arms back; cost and the lift's
    revenue recomputed in plain Python from the targets, orders, redemptions and messages."""
    from hub.domain.campaigns import create_campaign, run_campaign
    from hub.domain.coupons import create_template
    from hub.messaging import Dispatcher, channels_from
    from tests.support.standins import Gateway

    gateway = Gateway()
    clock = FakeClock()
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    settings.messaging.webhook_url = gateway.url
    settings.campaigns.message_cost_fen = 12
    try:
        with Store(tmp_path / "laoke.db", settings, clock) as store:
            # Enough lapsed guests (31) that the campaign's draw, new with each run, always
            # leaves seven treated and one in control: 150 members gave 13, and one run in
            # about fifteen had fewer than seven treated.
            generate(store, members=450, days=200, seed=11)
            template = create_template(store, "回归礼券", "amount_off", amount_fen=2000,
                                       min_spend_fen=5000, valid_days=30)
            campaign = create_campaign(store, {
                "name": "win-back", "kind": "win_back", "audience": {"lapsed_days": 90},
                "offer": {"type": "coupon", "template_id": template["id"]},
                "message_zh": "{name}，好久不见！券码 {code}。{unsubscribe}",
                "message_en": "{name}, code {code}.", "channels": ["webhook"],
                "schedule": {"run": "once"}, "control_pct": 30, "active": True})
            run_campaign(store, campaign["id"])
            Dispatcher(store, channels_from(settings.messaging)).run_once()
            targets = store.conn.execute(
                "SELECT member_id, arm, coupon_code, targeted_at FROM campaign_targets "
                "ORDER BY member_id").fetchall()
            treated = [t for t in targets if t["arm"] == "treated"]
            control = [t for t in targets if t["arm"] == "control"]
            assert len(treated) >= 10 and control, "the draw left an arm too small to test"
            clock.advance(days=2)
            for n, target in enumerate(treated[:10]):
                checkout(store, CheckoutRequest(
                    idempotency_key=f"back-{n}", member_id=target["member_id"],
                    lines=[Line("水煮鱼", 1, 12800)],
                    coupon_code=target["coupon_code"] if n < 7 else None))
            checkout(store, CheckoutRequest(idempotency_key="ctl", lines=[Line("米饭", 1, 300)],
                                            member_id=control[0]["member_id"]))
            [row] = report(store, "campaign_roi")["campaigns"]

            sent = store.scalar("SELECT COUNT(*) FROM messages WHERE status IN "
                                "('sent', 'delivered')")
            assert sent == len(gateway.texts) == len(treated) > 0
            spend = {"treated": 0, "control": 0}
            for t in targets:
                until = (from_iso(t["targeted_at"]) + timedelta(days=30)).isoformat()
                for paid, at in store.conn.execute(
                        "SELECT total_fen - discount_fen, created_at FROM orders "
                        "WHERE member_id = ?", (t["member_id"],)):
                    if t["targeted_at"] < at and from_iso(at).isoformat() < until:
                        spend[t["arm"]] += paid
            codes = {t["coupon_code"] for t in treated}
            discount = sum(r[1] for r in store.conn.execute(
                "SELECT code, discount_fen FROM coupon_redemptions") if r[0] in codes)
            lift = round(spend["treated"] - spend["control"] * len(treated) / len(control))
            cost = 12 * sent + discount
            assert discount == 7 * 2000
            assert row == {
                "campaign_id": campaign["id"], "name": "win-back", "treated": len(treated),
                "control": len(control), "messages_paid": sent, "message_cost_fen": 12 * sent,
                "discount_fen": discount, "points_cost_fen": 0, "cost_fen": cost,
                "incremental_revenue_fen": lift, "net_fen": lift - cost,
                "return_on_spend": round(lift / cost, 2)}
    finally:
        gateway.close()
