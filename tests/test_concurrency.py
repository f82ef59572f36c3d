"""Money under contention: many connections at once, as tablets and the till are."""

import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line, create_template, issue_coupon
from hub.domain.errors import CouponUsed, InsufficientBalance, LaokeError
from hub.domain.ledgers import spend_stored_value, stored_value_entries, top_up
from hub.domain.members import stored_value_balance
from hub.domain.store import Store


def run_in_threads(store, jobs):
    """Run each job on its own connection, all released at the same instant."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def work(index, job):
        with Store(store.path, store.settings, store.clock) as mine:
            barrier.wait()
            results[index] = job(mine)

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def attempt(fn):
    def job(store):
        try:
            return fn(store)
        except LaokeError as error:
            return error
    return job


def test_only_one_of_many_simultaneous_spends_of_the_whole_balance_succeeds(store, guest):
    top_up(store, guest["id"], 10_000)
    results = run_in_threads(store, [
        attempt(lambda s: spend_stored_value(s, guest["id"], 10_000)) for _ in range(8)])
    assert sum(r == 0 for r in results) == 1
    assert all(isinstance(r, InsufficientBalance) for r in results if r != 0)
    assert stored_value_balance(store, guest["id"]) == 0


def test_a_coupon_used_at_two_tills_at_once_is_redeemed_once(store, guest):
    template = create_template(store, "减5", "amount_off", amount_fen=500)
    code = issue_coupon(store, template["id"], guest["id"])["code"]
    lines = [Line("面", 1, 1800)]
    results = run_in_threads(store, [
        attempt(lambda s, i=i: checkout(s, CheckoutRequest(f"till-{i}", lines,
                                                           member_id=guest["id"],
                                                           coupon_code=code)))
        for i in range(6)])
    assert sum(isinstance(r, dict) for r in results) == 1
    assert all(isinstance(r, CouponUsed) for r in results if not isinstance(r, dict))
    assert store.scalar("SELECT COUNT(*) FROM coupon_redemptions") == 1


def test_one_idempotency_key_from_many_retries_makes_one_order(store, guest):
    top_up(store, guest["id"], 5_000)
    request = CheckoutRequest("tablet-7", [Line("面", 1, 1800)], member_id=guest["id"],
                              stored_value_fen=1800)
    results = run_in_threads(store, [lambda s: checkout(s, request) for _ in range(6)])
    assert len({r["order_id"] for r in results}) == 1
    assert sum(not r["replayed"] for r in results) == 1
    assert stored_value_balance(store, guest["id"]) == 3_200


amounts = st.lists(st.tuples(st.booleans(), st.integers(min_value=1, max_value=3000)),
                   min_size=1, max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(amounts, min_size=2, max_size=4), opening=st.integers(0, 5000))
def test_stored_value_never_negative_under_any_interleaving(store, guest, plans, opening):
    if opening:
        top_up(store, guest["id"], opening)

    def plan_job(plan):
        def job(s):
            for is_topup, amount in plan:
                try:
                    if is_topup:
                        top_up(s, guest["id"], amount)
                    else:
                        spend_stored_value(s, guest["id"], amount)
                except InsufficientBalance:
                    pass
                assert stored_value_balance(s, guest["id"]) >= 0
        return job

    run_in_threads(store, [plan_job(plan) for plan in plans])
    entries = stored_value_entries(store, guest["id"])
    running = 0
    for entry in entries:  # in commit order, the balance never dipped below zero
        running += entry["amount_fen"]
        assert running >= 0
    assert stored_value_balance(store, guest["id"]) == running


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=6),
                         min_size=2, max_size=4))
def test_no_coupon_is_ever_redeemed_twice(store, guest, attempts):
    """Tills try coupons in random orders at once; each coupon is used at most once."""
    from hub.domain.coupons import redeem_coupon

    template = create_template(store, "减1", "amount_off", amount_fen=100)
    codes = [issue_coupon(store, template["id"])["code"] for _ in range(4)]
    lines = [Line("面", 1, 1800)]

    def till(picks):
        def job(s):
            used = []
            for pick in picks:
                try:
                    redeem_coupon(s, codes[pick], None, lines)
                    used.append(codes[pick])
                except CouponUsed:
                    pass
            return used
        return job

    used = [code for result in run_in_threads(store, [till(p) for p in attempts])
            for code in result]
    assert len(used) == len(set(used)) == len({codes[p] for picks in attempts for p in picks})
    marks = ",".join("?" * len(codes))
    assert store.scalar(f"SELECT COUNT(*) FROM coupon_redemptions WHERE code IN ({marks})",
                        codes) == len(used)
