"""The call list on a real store: who is on it and in what order, a call's round trip
(logged, sent or posted, called again on its day), the churn report against a direct count,
the campaign results split by who was called, and what an erasure leaves."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest

from hub.domain import calls
from hub.domain.campaigns import campaign_results, create_campaign, run_campaign
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line, create_template, member_coupons
from hub.domain.errors import InvalidInput, MemberErased, MemberNotFound
from hub.domain.members import NewMember, add_member, erase_member
from hub.domain.reports import report
from hub.domain.staff import add_staff
from hub.domain.visits import check_in
from printer.escpos_decode import decode
from printer.slips import print_posted_coupon


def dine(store, member_id, staff_id, key, lines):
    visit = check_in(store, member_id, "A1", 2, staff_id=staff_id)
    checkout(store, CheckoutRequest(key, lines, member_id=member_id, visit_id=visit["id"]))


@pytest.fixture
def regulars(store, clock):
    """Two lapsed regulars worth different sums, one who came once, one who came last week."""
    anna = add_staff(store, "安娜", "waiter", "1111")
    bo = add_staff(store, "博文", "waiter", "2222")
    people = {name: add_member(store, NewMember(name=name, phone=phone))["id"] for name, phone
              in [("李姐", "13800138001"), ("张先生", "13800138002"), ("过客", "13800138003"),
                  ("常客", "13800138004")]}
    clock.advance(days=-200)
    for n, server in enumerate([anna, anna, bo, anna]):
        dine(store, people["李姐"], server["id"], f"li-{n}",
             [Line("酸汤肥牛", 2, 8800), Line("米饭", 2, 300), Line("拍黄瓜", 1, 1800)])
    for n in range(5):
        dine(store, people["张先生"], bo["id"], f"zh-{n}", [Line("面", 1, 1800)])
    dine(store, people["过客"], anna["id"], "once", [Line("烤鱼", 1, 30000)])
    for n in range(4):
        dine(store, people["常客"], bo["id"], f"cu-{n}", [Line("面", 1, 1800)])
    clock.advance(days=193)
    dine(store, people["常客"], bo["id"], "cu-last", [Line("面", 1, 1800)])
    clock.advance(days=7)
    create_template(store, "回来吧", "amount_off", amount_fen=2000, valid_days=60)
    store.settings.calls.coupon_template = "回来吧"
    return {**people, "anna": anna["id"], "bo": bo["id"]}


def test_the_list_ranks_lapsed_regulars_by_what_they_were_worth(store, regulars):
    listed = calls.call_list(store, "device:owner")
    assert [g["member_id"] for g in listed] == [regulars["李姐"], regulars["张先生"]], \
        "the one-time guest is no regular, last week's guest is not lapsed"
    li = listed[0]
    assert (li["phone"], li["visits"], li["spend_fen"], li["days_away"]) == (
        "+8613800138001", 4, 4 * (2 * 8800 + 2 * 300 + 1800), 200)
    assert [d["dish"] for d in li["favourite_dishes"]] == ["酸汤肥牛", "拍黄瓜"], \
        "rice is nobody's favourite"
    assert [(s["name"], s["times"]) for s in li["served_by"]] == [("安娜", 3), ("博文", 1)]
    assert li["last_call"] is None
    audit = store.one("SELECT actor, detail FROM audit_log WHERE action = 'calls.list'")
    assert audit["actor"] == "device:owner" and regulars["李姐"] in audit["detail"], \
        "who saw which guests' phones is on record"
    assert [g["member_id"] for g in calls.call_list(store, "cli", limit=1)] == \
        [regulars["李姐"]]


@pytest.mark.parametrize("outcome, reason, extra", [
    ("hung_up", "moved", {}), ("reached", None, {}), ("reached", "no_answer", {}),
    ("no_answer", "prices", {}), ("reached", "other", {"note": "  "}),
    ("reached", "taste", {"note": "咸" * 501}),
    ("reached", "taste", {"follow_up": "2026-11-24"}), ("reached", "taste", {"follow_up": "明天"}),
    ("reached", "moved", {"send": "post"}), ("reached", "moved", {"address": "上海市"}),
    ("reached", "moved", {"send": "sms"})])
def test_a_bad_call_is_refused_and_nothing_is_kept(store, regulars, outcome, reason, extra):
    with pytest.raises(InvalidInput):
        calls.log_call(store, regulars["李姐"], outcome, reason, **extra)
    assert store.scalar("SELECT COUNT(*) FROM calls") == 0
    assert store.scalar("SELECT COUNT(*) FROM coupons") == 0


def test_a_call_round_trip_sends_posts_and_comes_back_on_its_day(store, regulars, clock):
    li, zhang = regulars["李姐"], regulars["张先生"]
    moved = calls.log_call(store, li, "reached", "moved", note="搬到杭州了", send="post",
                           address="浙江省杭州市西湖区文三路 100 号", actor="cli",
                           staff_id=regulars["anna"])
    assert moved["coupon_code"] and moved["sent"] == "post"
    assert [c["code"] for c in member_coupons(store, li)] == [moved["coupon_code"]]
    job = print_posted_coupon(store, moved["id"])
    slip = decode(store.one("SELECT data FROM print_jobs WHERE id = ?", (job["id"],))["data"])
    assert "收件人: 李姐" in slip.text and "文三路 100 号" in slip.text, \
        "the envelope's name in full and the address head the coupon"
    assert moved["coupon_code"] in slip.text and "20.00" in slip.text

    later = (date(2026, 11, 25) + timedelta(days=3)).isoformat()
    calls.log_call(store, zhang, "no_answer", follow_up=later, send="coupon")
    assert calls.call_list(store, "cli") == [], "both called: none due today"
    clock.advance(days=3)
    again = calls.call_list(store, "cli")
    assert [g["member_id"] for g in again] == [zhang], "a follow-up comes back on its day"
    assert again[0]["last_call"]["reason"] == "no_answer"
    assert again[0]["last_call"]["follow_up"] == later
    assert [c["reason"] for c in calls.member_calls(store, zhang)] == ["no_answer"]
    with pytest.raises(MemberNotFound):
        calls.member_calls(store, "nobody")

    # A guest who comes back and lapses again is due again, whatever the old call said.
    dine(store, li, regulars["bo"], "li-back", [Line("面", 1, 1800)])
    clock.advance(days=91)
    assert li in [g["member_id"] for g in calls.call_list(store, "cli")]


def test_the_churn_report_counts_reasons_by_local_month_as_the_calls_say(store, regulars,
                                                                        clock):
    li, zhang = regulars["李姐"], regulars["张先生"]
    plan = [(li, "reached", "prices"), (zhang, "no_answer", None), (zhang, "reached", "taste"),
            (li, "reached", "other"), (zhang, "reached", "service"), (li, "reached", "moved"),
            (li, "reached", "prices")]
    for member, outcome, reason in plan:
        calls.log_call(store, member, outcome, reason, note="又说" if reason == "other" else "")
        clock.advance(days=5, hours=7)  # crosses into December, and at a UTC day's edge
    direct = Counter((month, reason) for month, reason in store.conn.execute(
        "SELECT strftime('%Y-%m', called_at, '+8 hours'), reason FROM calls"))
    churn = report(store, "churn", date(2026, 11, 1), date(2026, 12, 31))
    got = Counter({(m["month"], reason): n for m in churn["churn"]
                   for reason, n in m["reasons"].items() if n})
    assert got == direct and len({m for m, _ in direct}) == 2
    assert churn["reasons"] == {r: sum(n for (_, rr), n in direct.items() if rr == r)
                                for r in calls.REASONS}
    assert [m["calls"] for m in churn["churn"]] == [
        sum(n for (m, _), n in direct.items() if m == month) for month in ("2026-11", "2026-12")]
    assert report(store, "churn", date(2026, 10, 1), date(2026, 10, 31))["churn"] == []


def test_campaign_results_show_called_and_not_called(store, regulars, clock):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000)
    campaign = create_campaign(store, {
        "name": "win-back", "kind": "win_back", "audience": {"lapsed_days": 90},
        "offer": {"type": "coupon", "template_id": template["id"]}, "channels": [],
        "schedule": {"run": "daily", "at": "10:00"}, "control_pct": 0, "active": True})
    run_campaign(store, campaign["id"])
    clock.advance(hours=1)
    calls.log_call(store, regulars["李姐"], "reached", "prices")
    clock.advance(days=2)
    dine(store, regulars["李姐"], regulars["anna"], "li-won", [Line("面", 1, 1800)])
    results = campaign_results(store, campaign["id"])["calls"]
    targets = store.scalar("SELECT COUNT(*) FROM campaign_targets WHERE campaign_id = ?",
                           (campaign["id"],))
    assert (results["called"]["guests"], results["called"]["returned"],
            results["called"]["spend_fen"]) == (1, 1, 1800)
    assert results["not_called"]["guests"] == targets - 1
    assert results["not_called"]["returned"] == 0


def test_erasure_empties_what_the_guest_told_the_caller(store, regulars):
    li = regulars["李姐"]
    call = calls.log_call(store, li, "reached", "moved", note="搬到杭州 文三路", send="post",
                          address="杭州市文三路 100 号")
    print_posted_coupon(store, call["id"])
    erase_member(store, li, "owner")
    kept = calls.get_call(store, call["id"])
    assert (kept["note"], kept["address"], kept["reason"]) == ("", None, "moved"), \
        "the reason stays for the churn report, the words and the address go"
    assert store.scalar("SELECT COUNT(*) FROM print_jobs WHERE preview LIKE '%文三路%'") == 0
    with pytest.raises(InvalidInput):
        print_posted_coupon(store, call["id"])
    with pytest.raises(MemberErased):
        calls.log_call(store, li, "no_answer")
    assert li not in [g["member_id"] for g in calls.call_list(store, "cli")]


def test_the_command_line_lists_logs_and_reports(tmp_path):
    """`laoke calls` and `laoke report churn` as a user runs them, on a real home."""
    from tests.test_cli import laoke

    member = laoke(tmp_path, "member", "add", "--name", "李姐", "--phone",
                   "13800138001").stdout.strip()
    assert json.loads(laoke(tmp_path, "calls", "list", "--json").stdout) == []
    refused = laoke(tmp_path, "calls", "log", member, "--outcome", "reached", check=False)
    assert refused.returncode == 2 and "reason must be one of" in refused.stderr
    logged = json.loads(laoke(tmp_path, "calls", "log", member, "--outcome", "reached",
                              "--reason", "other", "--note", "换工作了", "--json").stdout)
    assert (logged["call"]["reason"], logged["print_job"]) == ("other", None)
    churn = json.loads(laoke(tmp_path, "report", "churn", "--json").stdout)
    assert churn["reasons"]["other"] == 1 and churn["churn"][0]["calls"] == 1
