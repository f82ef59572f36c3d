"""The reports' rollups against plain Python over the raw rows, after checkouts, delivery
orders, a cancellation and a refund, on a store built with them and on one migrated to them;
and an order a platform cancelled or refunded changes no report at all."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.demo_data import generate
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.clock import from_iso
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.delivery import (
    PlatformLine,
    PlatformOrder,
    end_order,
    join,
    land_order,
    unjoin,
)
from hub.domain.members import erase_member
from hub.domain.reports import REPORTS, report
from hub.domain.schema import STEPS
from hub.domain.store import Store
from hub.domain.tables import open_tab
from hub.domain.visits import check_in
from tests.conftest import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
SPAN = (date(2026, 10, 1), date(2026, 11, 25))
# Every report that reads orders or their lines.
ORDER_REPORTS = ("dishes", "pairings", "staff", "channels", "summary", "repurchase",
                 "repurchase_yoy", "cohorts", "rfm", "commission", "dish_mix",
                 "ordered_without", "occupancy", "campaign_roi", "boxes", "channel_shift",
                 "guest_channels", "forecast")


def _platform_order(number: int, at: datetime, dishes: list[tuple[str, int, int]]
                    ) -> PlatformOrder:
    return PlatformOrder("meituan", f"MT-{number}", at.isoformat().replace("+00:00", "Z"),
                         [PlatformLine(name, qty, price) for name, qty, price in dishes],
                         commission_fen=500)


def _deliveries(store: Store, start: int) -> list[str]:
    """Three platform orders with dishes on the menu (a soup and a main among them)."""
    dishes = [(r[0], r[1]) for r in store.conn.execute(
        "SELECT name, price_fen FROM menu_dishes ORDER BY category, code LIMIT 40")]
    at = store.now() - timedelta(days=3)
    return [land_order(store, _platform_order(start + n, at + timedelta(hours=n), [
        (dishes[n][0], 2, dishes[n][1]), (dishes[-1 - n][0], 1, dishes[-1 - n][1])]))[0]
        for n in range(3)]


def _local(iso: str) -> datetime:
    return from_iso(iso).astimezone(TZ)


def expected_facts(store: Store) -> dict[str, object]:
    """Every rollup worked out again from the raw rows, leaving out the orders a platform
    ended: local times through zoneinfo, categories through the menu as the line's code,
    else its name, files it."""
    ended = {r[0] for r in store.conn.execute(
        "SELECT order_id FROM delivery_orders WHERE state <> 'placed'")}
    by_code = dict(store.conn.execute("SELECT code, category FROM menu_dishes").fetchall())
    by_name = dict(store.conn.execute(
        "SELECT name, category FROM menu_dishes ORDER BY rowid").fetchall())
    orders = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT id, created_at, member_id FROM orders") if r[0] not in ended}
    lines: dict[str, list[tuple[str, str | None, int, int]]] = defaultdict(list)
    for order_id, dish, code, qty, price in store.conn.execute(
            "SELECT order_id, dish, code, qty, unit_price_fen FROM order_lines"):
        if order_id in orders:
            lines[order_id].append((dish, code, qty, price))
    days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    pairs: Counter[tuple[str, str, str]] = Counter()
    hours: Counter[tuple[str, int, str, str]] = Counter()
    baskets: dict[str, tuple[str, str | None, frozenset[str]]] = {}
    basket_dishes: Counter[tuple[str, frozenset[str], str, str]] = Counter()
    months: Counter[tuple[str, str]] = Counter()
    for order_id, (at, member) in orders.items():
        when = _local(at)
        day = when.date().isoformat()
        if member is not None:
            months[(day[:7], member)] += 1
        sold = lines[order_id]
        for dish, code, qty, price in sold:
            days[(day, dish)][0] += qty
            days[(day, dish)][1] += qty * price
            hours[(day, when.hour, dish, code or "")] += qty
        for dish in {d for d, *_ in sold}:
            days[(day, dish)][2] += 1
        for a in {d for d, *_ in sold}:
            for b in {d for d, *_ in sold}:
                if a < b:
                    pairs[(day, a, b)] += 1
        filed = {(by_code.get(code, by_name.get(dish)), dish) for dish, code, _, _ in sold}
        filed = {(category, dish) for category, dish in filed if category is not None}
        if filed:
            categories = frozenset(category for category, _ in filed)
            baskets[order_id] = (day, member, categories)
            for category, dish in filed:
                basket_dishes[(day, categories, category, dish)] += 1
    return {"dish_days": {k: tuple(v) for k, v in days.items()}, "dish_pairs": dict(pairs),
            "dish_hours": dict(hours), "order_baskets": baskets,
            "basket_dishes": dict(basket_dishes), "member_months": dict(months),
            **expected_stays(store, orders)}


def expected_stays(store: Store, orders: dict[str, tuple[str, str | None]]
                   ) -> dict[str, object]:
    """Each visit's stay walked minute by minute: to its tab's close, else its first bill
    (of the orders that count), else 75 minutes (estimated); at most four hours."""
    first_bill: dict[str, str] = {}
    for order_id, visit, at in store.conn.execute(
            "SELECT id, visit_id, created_at FROM orders WHERE visit_id IS NOT NULL"):
        if order_id in orders and (visit not in first_bill or at < first_bill[visit]):
            first_bill[visit] = at
    ends = {**first_bill, **dict(store.conn.execute(
        "SELECT visit_id, closed_at FROM tabs WHERE closed_at IS NOT NULL").fetchall())}
    minutes: Counter[tuple[str, str, int]] = Counter()
    visits: Counter[tuple[str, int]] = Counter()
    for visit, at, party in store.conn.execute(
            "SELECT id, visited_at, party_size FROM visits"):
        begin = _local(at).replace(second=0, microsecond=0)
        finish = _local(ends[visit]).replace(second=0, microsecond=0) if visit in ends \
            else begin
        estimated = finish <= begin
        finish = begin + timedelta(minutes=75) if estimated else \
            min(finish, begin + timedelta(hours=4))
        visits[(begin.date().isoformat(), int(estimated))] += 1
        minute = begin
        while minute < finish:
            minutes[(begin.date().isoformat(), minute.date().isoformat(), minute.hour)] += party
            minute += timedelta(minutes=1)
    return {"stay_hours": dict(minutes), "visit_stays": dict(visits)}


def stored_facts(store: Store) -> dict[str, object]:
    """The rollups as the triggers keep them (a basket's categories as a set)."""
    def cats(text: str) -> frozenset[str]:
        return frozenset(text.strip("|").split("|"))

    rows = store.conn.execute
    return {
        "dish_days": {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows(
            "SELECT day, dish, qty, revenue_fen, orders FROM dish_days")},
        "dish_pairs": {(r[0], r[1], r[2]): r[3] for r in rows(
            "SELECT day, dish_a, dish_b, orders FROM dish_pairs")},
        "dish_hours": {(r[0], r[1], r[2], r[3]): r[4] for r in rows(
            "SELECT day, hour, dish, code, qty FROM dish_hours")},
        "order_baskets": {r[0]: (r[1], r[2], cats(r[3])) for r in rows(
            "SELECT order_id, day, member_id, categories FROM order_baskets")},
        "basket_dishes": _summed(((r[0], cats(r[1]), r[2], r[3]), r[4]) for r in rows(
            "SELECT day, categories, category, dish, orders FROM basket_dishes")),
        "member_months": {(r[0], r[1]): r[2] for r in rows(
            "SELECT month, member_id, orders FROM member_months")},
        "stay_hours": {(r[0], r[1], r[2]): r[3] for r in rows(
            "SELECT visit_day, day, hour, seat_minutes FROM stay_hours")},
        "visit_stays": {(r[0], r[1]): r[2] for r in rows(
            "SELECT day, estimated, COUNT(*) FROM visit_stays GROUP BY 1, 2")},
    }


def _summed(items: Iterable[tuple[object, int]]) -> dict[object, int]:
    """Baskets of one set written in another order are one set."""
    total: Counter[object] = Counter()
    for key, count in items:
        total[key] += count
    return dict(total)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A generated store, then checkouts and platform orders on its last days."""
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    clock = FakeClock()
    with Store(tmp_path_factory.mktemp("facts") / "laoke.db", settings, clock) as store:
        generate(store, members=60, days=70, seed=9)
        yield store


def test_the_rollups_match_the_raw_rows_after_checkouts_a_cancel_and_a_refund(shop):
    assert stored_facts(shop) == expected_facts(shop), "as generated"
    landed = _deliveries(shop, 100)
    tab = open_tab(shop, "A1", 3)
    walk_in = check_in(shop, None, "B2", 2)
    check_in(shop, None, "B3", 5)  # never billed: a default stay
    shop.clock.advance(minutes=50)  # type: ignore[attr-defined]
    checkout(shop, CheckoutRequest(idempotency_key="f1", lines=[
        Line("米饭", 2, 300), Line("米饭", 1, 300), Line("不在菜单上的菜", 1, 999)],
        tab_id=tab["id"], visit_id=tab["visit_id"]))
    shop.clock.advance(minutes=300)  # type: ignore[attr-defined]
    checkout(shop, CheckoutRequest(idempotency_key="f2", lines=[Line("米饭", 1, 300)],
                                   visit_id=walk_in["id"]))  # five hours on: the cap
    assert stored_facts(shop) == expected_facts(shop), "after new orders and stays"
    assert end_order(shop, "meituan", "MT-100", "cancelled")
    assert end_order(shop, "meituan", "MT-101", "refunded")
    facts = stored_facts(shop)
    assert facts == expected_facts(shop), "after a cancel and a refund"
    assert landed[0] not in facts["order_baskets"]  # type: ignore[operator]
    assert landed[2] in facts["order_baskets"]  # type: ignore[operator]
    texts = [r[0] for r in shop.conn.execute("SELECT DISTINCT categories FROM order_baskets")]
    assert all(t == "|" + "|".join(sorted(t.strip("|").split("|"))) + "|" for t in texts), \
        "one set, one text: the categories in order, whatever order the lines came in"
    # An ended order placed again (a restore replaying its events) comes back.
    shop.conn.execute("UPDATE delivery_orders SET state = 'placed' WHERE order_id = ?",
                      (landed[1],))
    assert stored_facts(shop) == expected_facts(shop), "placed again"
    shop.conn.execute("UPDATE delivery_orders SET state = 'refunded' WHERE order_id = ?",
                      (landed[1],))
    with pytest.raises(Exception, match="takes no more lines"):
        shop.conn.execute("INSERT INTO order_lines (order_id, line_no, dish, qty, "
                          "unit_price_fen) VALUES (?, 9, '米饭', 1, 300)", (landed[0],))


def test_a_platform_order_that_changes_guest_moves_in_the_rollups_with_them(shop):
    """A join gives a platform user's orders to a member after they landed (issue 20), and an
    unjoin takes them back: the guest's months and baskets follow."""
    member = shop.scalar("SELECT id FROM members ORDER BY id LIMIT 1")
    at = shop.now() - timedelta(days=2)
    dish, price = shop.conn.execute("SELECT name, price_fen FROM menu_dishes LIMIT 1").fetchone()
    land_order(shop, PlatformOrder("meituan", "MT-900", at.isoformat().replace("+00:00", "Z"),
                                   [PlatformLine(dish, 1, price)], platform_user_id="mt-u-9"))
    join(shop, "meituan", "mt-u-9", member, actor="test")
    assert shop.scalar("SELECT COUNT(*) FROM order_baskets b JOIN delivery_orders d ON "
                       "d.order_id = b.order_id WHERE d.platform_order_id = 'MT-900' AND "
                       "b.member_id = ?", (member,)) == 1
    assert stored_facts(shop) == expected_facts(shop), "after a join"
    assert unjoin(shop, "meituan", "mt-u-9", actor="test")
    assert stored_facts(shop) == expected_facts(shop), "after the unjoin"


def test_an_order_a_platform_cancelled_or_refunded_changes_no_report(tmp_path):
    """Before its platform orders land, and after they are cancelled and refunded: every
    order-reading report reads the same; one left placed does change what sold."""
    settings = new_settings("s1")
    clock = FakeClock()
    with Store(tmp_path / "laoke.db", settings, clock) as store:
        generate(store, members=30, days=40, seed=4)
        before = {name: report(store, name, *SPAN) for name in ORDER_REPORTS}
        _deliveries(store, 1)
        for number, state in ((1, "cancelled"), (2, "refunded"), (3, "cancelled")):
            end_order(store, "meituan", f"MT-{number}", state)
        after = {name: report(store, name, *SPAN) for name in ORDER_REPORTS}
        for name in ORDER_REPORTS:
            assert after[name] == before[name], name
        _deliveries(store, 10)
        assert report(store, "dishes", *SPAN) != before["dishes"]
        assert report(store, "summary", *SPAN)["orders"] == before["summary"]["orders"] + 3


def test_a_store_migrated_to_the_rollups_fills_them_from_its_books(tmp_path):
    """A home from before 0036 with a cancelled platform order: opened by this hub, its
    rollups are the raw rows' (the cancelled order out of dish_days too), and its reports
    read as a new store's."""
    settings = new_settings("s1")
    older = STEPS[:[name for name, _ in STEPS].index("0036_report_facts")]
    with Store(tmp_path / "laoke.db", settings, FakeClock(), steps=older) as store:
        generate(store, members=30, days=30, seed=2)
        _deliveries(store, 1)
        end_order(store, "meituan", "MT-2", "cancelled")
    with Store(tmp_path / "laoke.db", settings, FakeClock()) as store:
        assert stored_facts(store) == expected_facts(store)
        assert store.scalar("SELECT COUNT(*) FROM dish_hours") > 0


def test_an_erasure_leaves_the_reports_as_they_were(shop):
    """The rollups hold member ids, as the orders do, and nothing personal: erasing a
    guest (whose orders stay, anonymised) changes no figure."""
    member = shop.scalar("SELECT member_id FROM member_months ORDER BY orders DESC LIMIT 1")
    before = {name: report(shop, name, *SPAN) for name in ("repurchase_yoy", "ordered_without")}
    erase_member(shop, member, actor="test")
    assert {name: report(shop, name, *SPAN) for name in before} == before
    assert stored_facts(shop) == expected_facts(shop)


def test_every_order_report_is_listed_here():
    """A new report over orders must join ORDER_REPORTS (and read counted_orders)."""
    # visits, guests, coupons and calls
    readers = {"hours", "party_sizes", "lapsed", "birthdays", "coupons", "churn"}
    assert set(REPORTS) - readers == set(ORDER_REPORTS)
