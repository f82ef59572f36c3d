import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain import database
from hub.domain.errors import InsufficientBalance, InsufficientPoints, InvalidInput
from hub.domain.ledgers import (
    add_points_entry,
    adjust_points,
    expire_points,
    points_entries,
    redeem_points,
    refund_stored_value,
    spend_stored_value,
    stored_value_entries,
    top_up,
)
from hub.domain.members import points_balance, stored_value_balance


def earn(store, member_id, points):
    from hub.domain.ledgers import earn_expiry

    with store.write():
        add_points_entry(store, member_id, points, "earn", expires_at=earn_expiry(store))


def test_points_balance_is_the_sum(store, guest):
    earn(store, guest["id"], 100)
    redeem_points(store, guest["id"], 30)
    adjust_points(store, guest["id"], 5, "birthday goodwill", actor="manager")
    assert points_balance(store, guest["id"]) == 75
    assert [e["kind"] for e in points_entries(store, guest["id"])] == ["earn", "redeem", "adjust"]


def test_redeeming_more_than_the_balance_is_refused(store, guest):
    earn(store, guest["id"], 10)
    with pytest.raises(InsufficientPoints):
        redeem_points(store, guest["id"], 11)
    with pytest.raises(InsufficientPoints):
        adjust_points(store, guest["id"], -11, "typo", actor="manager")
    assert points_balance(store, guest["id"]) == 10


def test_the_schema_refuses_a_negative_balance_whatever_writes(store, guest):
    with pytest.raises(InsufficientPoints), store.write():
        add_points_entry(store, guest["id"], -1, "redeem")
    with pytest.raises(InsufficientBalance), store.write():
        from hub.domain.ledgers import add_stored_value_entry

        add_stored_value_entry(store, guest["id"], -1, "spend")


def test_ledgers_are_append_only(store, guest):

    earn(store, guest["id"], 10)
    with pytest.raises(database.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE points_ledger SET delta = 1000")
    with pytest.raises(database.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM points_ledger")


def test_adjustments_need_a_reason_and_are_audited(store, guest):
    with pytest.raises(InvalidInput):
        adjust_points(store, guest["id"], 5, " ", actor="manager")
    adjust_points(store, guest["id"], 5, "complaint", actor="manager")
    row = store.one("SELECT actor, action FROM audit_log WHERE action = 'points.adjust'")
    assert tuple(row) == ("manager", "points.adjust")


def test_points_expire_oldest_first(store, guest, clock):
    store.settings.points.expire_days = 30
    earn(store, guest["id"], 100)
    clock.advance(days=20)
    earn(store, guest["id"], 50)
    redeem_points(store, guest["id"], 40)  # taken from the first lot
    clock.advance(days=11)  # the first lot (60 left of it) has expired
    assert expire_points(store) == 60
    assert points_balance(store, guest["id"]) == 50
    assert expire_points(store) == 0, "expiry is idempotent"
    clock.advance(days=30)
    assert expire_points(store, guest["id"]) == 50
    assert points_balance(store, guest["id"]) == 0


def test_in_a_chain_only_the_guests_home_store_expires_their_points(store, guest, clock):
    """Every store holds the guest's whole ledger; if each expired the same lots, the guest
    would lose them once per store and the relayed entries would clash. The night's expiry is
    the home store's alone (issue 15: every store ends with the same ledger)."""
    store.settings.points.expire_days = 30
    earn(store, guest["id"], 100)
    clock.advance(days=31)
    with store.write():  # a guest who signed up at another store of the chain
        store.conn.execute("UPDATE members SET home_store = 's9' WHERE id = ?", (guest["id"],))
    assert expire_points(store) == 0, "another store's guest: their home store expires them"
    assert points_balance(store, guest["id"]) == 100
    with store.write():
        store.conn.execute("UPDATE members SET home_store = ? WHERE id = ?",
                           (store.store_id, guest["id"]))
    assert expire_points(store) == 100


def test_stored_value_top_up_spend_refund(store, guest):
    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line

    assert top_up(store, guest["id"], 50_000, bonus_fen=5_000) == 55_000
    assert spend_stored_value(store, guest["id"], 20_000) == 35_000
    with pytest.raises(InsufficientBalance):
        spend_stored_value(store, guest["id"], 35_001)
    order = checkout(store, CheckoutRequest("k", [Line("酸菜鱼", 1, 9800)],
                                            member_id=guest["id"], stored_value_fen=9800))
    assert order["stored_value_fen"] == 25_200
    with pytest.raises(InvalidInput):
        refund_stored_value(store, order["order_id"], 9801, "too much", actor="owner")
    assert refund_stored_value(store, order["order_id"], 9800, "dish sent back",
                               actor="owner") == 35_000
    with pytest.raises(InvalidInput):
        refund_stored_value(store, order["order_id"], 1, "again", actor="owner")
    kinds = [e["kind"] for e in stored_value_entries(store, guest["id"])]
    assert kinds == ["topup", "bonus", "spend", "spend", "refund"]
    assert stored_value_balance(store, guest["id"]) == sum(
        e["amount_fen"] for e in stored_value_entries(store, guest["id"]))


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100", 10**9])
def test_bad_amounts_are_refused(store, guest, amount):
    with pytest.raises(InvalidInput):
        top_up(store, guest["id"], amount)
    assert store.scalar("SELECT COUNT(*) FROM stored_value_ledger") == 0


operations = st.lists(st.tuples(st.sampled_from(["topup", "spend", "earn", "redeem"]),
                                st.integers(min_value=1, max_value=5000)), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_balance_always_equals_sum_and_never_goes_negative(store, guest, ops):
    expected_points = points_balance(store, guest["id"])
    expected_value = stored_value_balance(store, guest["id"])
    for kind, amount in ops:
        try:
            if kind == "topup":
                top_up(store, guest["id"], amount)
                expected_value += amount
            elif kind == "spend":
                spend_stored_value(store, guest["id"], amount)
                expected_value -= amount
            elif kind == "earn":
                earn(store, guest["id"], amount)
                expected_points += amount
            else:
                redeem_points(store, guest["id"], amount)
                expected_points -= amount
        except (InsufficientBalance, InsufficientPoints):
            pass
        assert stored_value_balance(store, guest["id"]) == expected_value >= 0
        assert points_balance(store, guest["id"]) == expected_points >= 0
    assert expected_value == sum(e["amount_fen"] for e in stored_value_entries(store, guest["id"]))
    assert expected_points == sum(e["delta"] for e in points_entries(store, guest["id"]))
