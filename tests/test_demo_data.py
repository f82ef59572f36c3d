from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hub.demo_data import generate
from hub.domain.errors import InvalidInput


@pytest.fixture
def demo(store):
    generate(store, members=400, days=365, seed=3)
    return store


def test_the_books_add_up(demo):
    assert demo.scalar("SELECT COUNT(*) FROM members") == 400
    assert demo.scalar("PRAGMA foreign_key_check") is None
    mismatched = demo.scalar(
        "SELECT COUNT(*) FROM orders o WHERE total_fen <> "
        "(SELECT SUM(qty * unit_price_fen) FROM order_lines WHERE order_id = o.id)")
    assert mismatched == 0
    for table, column in (("points_ledger", "delta"), ("stored_value_ledger", "amount_fen")):
        lowest = demo.scalar(f"SELECT MIN(s) FROM (SELECT SUM({column}) AS s FROM {table} "
                             "GROUP BY member_id)")
        assert lowest >= 0
    assert demo.scalar("SELECT COUNT(*) FROM outbox") == 0, "generated data is not for HQ"
    from hub.domain.members import NewMember, add_member

    add_member(demo, NewMember(name="新客", phone="13911112222"))
    assert demo.scalar("SELECT MIN(seq) FROM outbox") == 1, "HQ must see no gap"
    assert demo.meta("demo")


def test_the_demo_store_has_a_menu_tables_and_tenders_that_pay_each_bill(demo):
    from hub.domain.menu import menu
    from hub.domain.tables import tables

    dishes = {dish["code"]: dish for dish in menu(demo)}
    assert len(dishes) == 35 and {d["station"] for d in dishes.values()} >= {"热菜间", "吧台"}
    assert any(d["member_price_fen"] for d in dishes.values())
    assert len(tables(demo)) == 22
    assert demo.scalar("SELECT COUNT(*) FROM order_lines WHERE code IS NULL") == 0
    assert demo.scalar("SELECT COUNT(*) FROM order_lines l LEFT JOIN menu_dishes d "
                       "ON d.code = l.code WHERE d.name IS NOT l.dish") == 0
    unpaid = demo.scalar(
        "SELECT COUNT(*) FROM orders o WHERE total_fen - discount_fen - stored_value_paid_fen "
        "<> (SELECT COALESCE(SUM(amount_fen), 0) FROM order_tenders WHERE order_id = o.id)")
    assert unpaid == 0, "tenders and stored value make up every bill"
    methods = {m for (m,) in demo.conn.execute("SELECT DISTINCT method FROM order_tenders")}
    assert methods == {"wechat", "alipay", "cash", "card"}
    assert demo.scalar("SELECT COUNT(*) FROM order_tenders WHERE method = 'cash' AND "
                       "(received_fen < amount_fen OR received_fen % 10000 <> 0)") == 0
    walk_ins = demo.scalar("SELECT COUNT(*) FROM visits WHERE member_id IS NULL")
    assert walk_ins > 0, "walk-ins are covers too"


def test_weekly_and_daily_rhythm_and_lapsed_guests(demo):
    tz = ZoneInfo(demo.settings.timezone)
    hours, weekdays = Counter(), Counter()
    for (at,) in demo.conn.execute("SELECT visited_at FROM visits"):
        local = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz)
        hours[local.hour] += 1
        weekdays[local.weekday()] += 1
    assert hours[12] > hours[15] * 5 and hours[18] > hours[16]
    assert weekdays[5] > weekdays[0] * 1.3, "Saturday is busier than Monday"
    from hub.domain.segments import lapsed

    assert 0.1 < len(lapsed(demo)) / 400 < 0.6
    dishes = demo.conn.execute("SELECT dish FROM order_lines GROUP BY dish").fetchall()
    assert len(dishes) > 20
    assert demo.scalar("SELECT COUNT(DISTINCT tier) FROM members") >= 2


def test_only_into_an_empty_store(demo):
    with pytest.raises(InvalidInput):
        generate(demo, members=10)


def test_same_seed_same_store(tmp_path, settings, clock):
    from hub.domain.store import Store

    names = []
    for n in range(2):
        with Store(tmp_path / f"{n}.db", settings, clock) as store:
            generate(store, members=50, days=30, seed=9)
            names.append([r[0] for r in store.conn.execute(
                "SELECT name FROM members ORDER BY phone")])
    assert names[0] == names[1]
