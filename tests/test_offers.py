"""Offers owners ask for, on a real store: a template that issues at most so many coupons
(前100名注册送), exactly that many under concurrent issue, and what the store's own slips do
once it has."""

from __future__ import annotations

import pytest

from hub.domain.coupons import create_template, issue_coupon, member_coupons
from hub.domain.errors import CouponsGone, InvalidInput
from hub.domain.members import NewMember, add_member
from printer.slips import print_welcome
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
