"""Reports checked against independent SQL on generated data, and a store with known answers."""

import json
import os
import subprocess
import sys
import typing
from datetime import date

import pytest

from hub.demo_data import generate
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.errors import InvalidInput
from hub.domain.members import NewMember, add_member
from hub.domain.reports import REPORTS, Answer, Report, report
from tests.support.hubproc import ROOT


@pytest.fixture
def demo(store):
    generate(store, members=300, days=120, seed=11)
    return store


YEAR = (date(2025, 1, 1), date(2027, 1, 1))


def test_dishes_match_an_independent_count(demo):
    dishes = report(demo, "dishes", *YEAR)["dishes"]
    expected = {r[0]: (r[1], r[2]) for r in demo.conn.execute(
        "SELECT dish, SUM(qty), SUM(qty * unit_price_fen) FROM order_lines GROUP BY dish")}
    assert {d["dish"]: (d["qty"], d["revenue_fen"]) for d in dishes} == expected
    quantities = [d["qty"] for d in dishes]
    assert quantities == sorted(quantities, reverse=True), "most sold first"


def test_pairings_match_an_independent_count(demo):
    from collections import Counter
    from itertools import combinations

    baskets: dict[str, set[str]] = {}
    for order_id, dish in demo.conn.execute("SELECT order_id, dish FROM order_lines"):
        baskets.setdefault(order_id, set()).add(dish)
    together = Counter(pair for dishes in baskets.values()
                       for pair in combinations(sorted(dishes), 2))
    alone = Counter(dish for dishes in baskets.values() for dish in dishes)
    result = report(demo, "pairings", *YEAR)
    assert result["orders"] == len(baskets)
    assert result["pairs"], "a store sells dishes together"
    for pair in result["pairs"]:
        a, b = pair["dish_a"], pair["dish_b"]
        assert pair["orders"] == together[(a, b)]
        assert pair["lift"] == round(together[(a, b)] * len(baskets) / (alone[a] * alone[b]), 3)
    assert all(p["lift"] > 1 for p in result["pairs"]), "real pairings only"
    counts = [p["orders"] for p in result["pairs"]]
    assert counts == sorted(counts, reverse=True)
    lifts = {pair: n * len(baskets) / (alone[pair[0]] * alone[pair[1]])
             for pair, n in together.items()}
    assert counts[0] == max(n for pair, n in together.items() if round(lifts[pair], 3) > 1)


def test_dish_rollup_files_an_order_under_the_local_day(store, clock):
    from datetime import UTC, datetime

    clock.current = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    checkout(store, CheckoutRequest("late", [Line("面", 2, 1800), Line("饺子", 1, 2600),
                                             Line("面", 1, 1800)]))
    day = report(store, "dishes", date(2026, 11, 25), date(2026, 11, 25))["dishes"]
    assert day == [{"dish": "面", "qty": 3, "revenue_fen": 5400},
                   {"dish": "饺子", "qty": 1, "revenue_fen": 2600}]
    assert report(store, "dishes", date(2026, 11, 26), date(2026, 11, 26))["dishes"] == []
    checkout(store, CheckoutRequest("rice", [Line("米饭", 1, 300)]))  # 面 + 饺子: lift 2
    pairs = report(store, "pairings", date(2026, 11, 25), date(2026, 11, 25))["pairs"]
    assert [(p["dish_a"], p["dish_b"], p["orders"], p["lift"]) for p in pairs] == [
        ("面", "饺子", 1, 2.0)]


def test_cohorts_with_known_answers(store, clock):
    november = [add_member(store, NewMember(name=f"客{n}", phone=f"1390000{n:04d}"))
                for n in range(4)]
    for n, guest in enumerate(november[:2]):
        checkout(store, CheckoutRequest(f"n{n}", [Line("面", 1, 1800)], member_id=guest["id"]))
    clock.advance(days=31)  # December
    december = add_member(store, NewMember(name="新客", phone="13900009999"))
    checkout(store, CheckoutRequest("d0", [Line("面", 1, 1800)], member_id=november[0]["id"]))
    checkout(store, CheckoutRequest("d1", [Line("面", 1, 1800)], member_id=november[3]["id"]))
    checkout(store, CheckoutRequest("d2", [Line("面", 1, 1800)], member_id=december["id"]))
    cohorts = report(store, "cohorts", date(2026, 11, 1), date(2026, 12, 31))["cohorts"]
    assert [(c["month"], c["members"], c["retention"][:3]) for c in cohorts] == [
        ("2026-11", 4, [0.5, 0.5, 0.0]), ("2026-12", 1, [1.0, 0.0, 0.0])]


def test_staff_report_counts_returning_guests_and_signups(demo):
    staff = {s["id"]: s for s in report(demo, "staff", *YEAR)["staff"]}
    seen: set[str] = set()
    returning: dict[str, int] = {}
    for member_id, staff_id in demo.conn.execute(
            "SELECT member_id, staff_id FROM visits ORDER BY visited_at"):
        if member_id is not None and member_id in seen:
            returning[staff_id] = returning.get(staff_id, 0) + 1
        seen.add(member_id)
    signups = dict(demo.conn.execute("SELECT signed_up_by, COUNT(*) FROM members "
                                     "WHERE signed_up_by IS NOT NULL GROUP BY 1").fetchall())
    assert signups and sum(signups.values()) < 300, "some signed up at the kiosk"
    for staff_id, person in staff.items():
        assert person["returning_guests"] == returning.get(staff_id, 0)
        assert person["signups"] == signups.get(staff_id, 0)


def test_coupons_lapsed_and_birthdays(demo):
    from hub.domain.segments import birthdays, lapsed

    templates = report(demo, "coupons", *YEAR)["templates"]
    assert sum(t["issued"] for t in templates) == demo.scalar("SELECT COUNT(*) FROM coupons")
    assert sum(t["redeemed"] for t in templates) == demo.scalar(
        "SELECT COUNT(*) FROM coupon_redemptions")
    gone = report(demo, "lapsed")
    assert gone["count"] == len(lapsed(demo, 90)) == sum(gone["bands"].values()) > 0
    assert [g["id"] for g in gone["guests"]] == lapsed(demo, 90)[:500]
    soon = report(demo, "birthdays")
    assert [g["id"] for g in soon["guests"]] == birthdays(demo, 30)[:500]


def test_hours_channels_staff_and_summary_add_up(demo):
    grid = report(demo, "hours", *YEAR)["covers"]
    assert sum(map(sum, grid)) == demo.scalar("SELECT SUM(party_size) FROM visits")
    assert max(grid[5]) > max(grid[0]), "Saturday's peak is above Monday's"
    channels = report(demo, "channels", *YEAR)["channels"]
    assert sum(c["orders"] for c in channels) == demo.scalar("SELECT COUNT(*) FROM orders")
    staff = report(demo, "staff", *YEAR)["staff"]
    assert sum(s["covers"] for s in staff) == demo.scalar(
        "SELECT SUM(party_size) FROM visits WHERE staff_id IS NOT NULL")
    summary = report(demo, "summary", *YEAR)
    assert summary["stored_value_float_fen"] == demo.scalar(
        "SELECT SUM(amount_fen) FROM stored_value_ledger")
    rfm = report(demo, "rfm", *YEAR)
    assert sum(rfm["groups"].values()) == rfm["members"] == demo.scalar(
        "SELECT COUNT(DISTINCT member_id) FROM orders")


def test_a_store_where_exactly_30_percent_come_back(store, clock):
    guests = [add_member(store, NewMember(name=f"客{n}", phone=f"1390000{n:04d}"))
              for n in range(10)]
    for n, guest in enumerate(guests[:3]):  # November: three first visits
        checkout(store, CheckoutRequest(f"nov-{n}", [Line("面", 1, 1800)], member_id=guest["id"]))
    clock.advance(days=31)  # December: all ten order
    for n, guest in enumerate(guests):
        checkout(store, CheckoutRequest(f"dec-{n}", [Line("面", 1, 1800)], member_id=guest["id"]))
    months = report(store, "repurchase", date(2026, 11, 1), date(2026, 12, 31))["months"]
    assert months == [{"month": "2026-11", "members": 3, "returning": 0, "rate": 0.0},
                      {"month": "2026-12", "members": 10, "returning": 3, "rate": 0.3}]


def test_bad_ranges_and_names(store):
    with pytest.raises(InvalidInput):
        report(store, "nonsense")
    with pytest.raises(InvalidInput):
        report(store, "dishes", date(2026, 2, 1), date(2026, 1, 1))


def test_every_report_is_offered_under_its_one_name(store):
    # The names live apart from the reports, so offering them loads no query.
    from hub.cli.reports import report_cmd
    from hub.domain.report_names import REPORT_NAMES
    from hub.domain.reports import REPORTS

    assert tuple(REPORTS) == REPORT_NAMES
    choice = next(p for p in report_cmd.params if p.name == "name")
    assert tuple(choice.type.choices) == REPORT_NAMES
    for name in REPORT_NAMES:
        assert report(store, name)["report"] == name
    code = "import sys, hub.domain.report_names; print('hub.domain.reports' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert loaded.stdout.strip() == "False"


def test_each_report_answers_its_named_shape_and_report_names_no_other_key(store):
    """mypy holds every answer's keys to Report; this holds Report to the answers (no key
    left from a report that no longer has it), and each query to its own shape at run time."""
    answers = typing.get_args(Answer)
    assert set(Report.__annotations__) - {"report", "period"} == {
        key for answer in answers for key in answer.__annotations__}
    for name, query in REPORTS.items():
        shape = typing.get_type_hints(query)["return"]
        assert report(store, name).keys() - {"report", "period"} == set(
            shape.__annotations__), name


def test_the_command_prints_the_spec_shape(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_HOME": str(tmp_path)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "hub", *a], capture_output=True,  # noqa: E731
                                    text=True, env=env, timeout=120)
    assert run("demo-data", "--members", "100", "--days", "30").returncode == 0
    out = json.loads(run("report", "dishes", "--json").stdout)
    assert set(out["dishes"][0]) == {"dish", "qty", "revenue_fen"}
    bad = run("report", "dishes", "--from", "2026-13-01")
    assert bad.returncode == 2 and bad.stderr.startswith("laoke: --from must be YYYY-MM-DD")


def test_forecast_beats_same_weekday_last_week_on_the_demo_store(store):
    generate(store, members=400, days=150, seed=21)
    result = report(store, "forecast")
    backtest = result["backtest"]
    assert backtest["days"] == 28
    assert backtest["mape"] < backtest["naive_mape"], backtest
    week = result["next_week"]
    assert len(week) == 7 and week[0] == result["tomorrow"]
    saturday = next(d for d in week if d["weekday"] == "Sat")
    monday = next(d for d in week if d["weekday"] == "Mon")
    assert saturday["covers"] > monday["covers"], "the weekly rhythm is in the forecast"
    hours = saturday["hours"]
    assert abs(sum(hours.values()) - saturday["covers"]) <= 2
    assert max(hours, key=hours.get) in ("12", "18", "19", 12, 18, 19)
    assert saturday["prepare"] and saturday["prepare"][0]["qty"] > 0
    rainy = report(store, "forecast", weather=0.8)["next_week"]
    assert sum(d["covers"] for d in rainy) < sum(d["covers"] for d in week)
    with pytest.raises(InvalidInput, match="forecast only"):
        report(store, "dishes", weather=0.8)


def test_holidays_lift_the_forecast(store):
    from hub.domain.reports.forecast import History

    generate(store, members=200, days=120, seed=3)
    history = History(store, date(2026, 11, 25))
    national_day = date(2026, 10, 1)
    assert national_day in history.holidays
    assert history.holiday_lift(date(2026, 11, 25)) > 0
