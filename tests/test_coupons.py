import pytest

from hub.domain.codes import canonical, group
from hub.domain.config import new_settings
from hub.domain.coupons import (
    Line,
    coupon_view,
    create_template,
    issue_coupon,
    member_coupons,
    redeem_coupon,
)
from hub.domain.errors import (
    CouponExpired,
    CouponForged,
    CouponNotApplicable,
    CouponNotFound,
    CouponUsed,
    InvalidInput,
)
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store

BILL = [Line("宫保鸡丁", 2, 4800), Line("米饭", 2, 300)]  # 10,200 fen


@pytest.fixture
def twenty_off(store):
    return create_template(store, "满100减20", "amount_off", amount_fen=2000,
                           min_spend_fen=10000, valid_days=30)


def test_issued_codes_are_unique_and_signed(store, guest, twenty_off):
    codes = {issue_coupon(store, twenty_off["id"], guest["id"])["code"] for _ in range(50)}
    assert len(codes) == 50
    code = next(iter(codes))
    assert coupon_view(store, group(code).lower())["code"] == code, "typed back loosely"
    assert canonical(code.replace("0", "O")) == code, "O and 0 are the same at the till"


def test_a_forged_code_is_told_apart_offline(store, tmp_path, twenty_off):
    code = issue_coupon(store, twenty_off["id"])["code"]
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    with pytest.raises(CouponForged):
        coupon_view(store, tampered)
    with pytest.raises(CouponForged):
        coupon_view(store, "not a code!")
    other_chain = new_settings("s9")
    with Store(tmp_path / "other.db", other_chain) as stranger, pytest.raises(CouponForged):
        coupon_view(stranger, code)
    same_chain = new_settings("s2")
    same_chain.chain.key = store.settings.chain.key
    with Store(tmp_path / "s2.db", same_chain) as sister, pytest.raises(CouponNotFound):
        coupon_view(sister, code)  # genuine, just not synced there yet


def test_amount_off_redeems_exactly_once(store, guest, twenty_off):
    code = issue_coupon(store, twenty_off["id"], guest["id"])["code"]
    assert redeem_coupon(store, code, guest["id"], BILL) == 2000
    with pytest.raises(CouponUsed):
        redeem_coupon(store, code, guest["id"], BILL)
    assert store.scalar("SELECT COUNT(*) FROM coupon_redemptions") == 1


def test_conditions(store, guest, twenty_off, clock):
    code = issue_coupon(store, twenty_off["id"], guest["id"])["code"]
    with pytest.raises(CouponNotApplicable, match=r"100\.00"):
        redeem_coupon(store, code, guest["id"], [Line("米饭", 1, 300)])
    other = add_member(store, NewMember(name="李四", phone="13900139000"))
    with pytest.raises(CouponNotApplicable, match="another guest"):
        redeem_coupon(store, code, other["id"], BILL)
    clock.advance(days=31)
    with pytest.raises(CouponExpired):
        redeem_coupon(store, code, guest["id"], BILL)
    assert member_coupons(store, guest["id"], usable_only=True) == []


def test_percent_and_free_dish_and_store_limits(store, guest):
    pct = create_template(store, "八折", "percent_off", percent_off=20)
    assert redeem_coupon(store, issue_coupon(store, pct["id"])["code"], None, BILL) == 2040
    noodle = create_template(store, "生日面", "free_dish", dish="担担面")
    code = issue_coupon(store, noodle["id"], guest["id"])["code"]
    with pytest.raises(CouponNotApplicable, match="担担面"):
        redeem_coupon(store, code, guest["id"], BILL)
    assert redeem_coupon(store, code, guest["id"], [*BILL, Line("担担面", 1, 1800)]) == 1800
    elsewhere = create_template(store, "分店券", "amount_off", amount_fen=500, stores=["s2"])
    with pytest.raises(CouponNotApplicable, match="store"):
        redeem_coupon(store, issue_coupon(store, elsewhere["id"])["code"], None, BILL)


@pytest.mark.parametrize("kwargs", [
    {"kind": "amount_off", "amount_fen": 0},
    {"kind": "percent_off", "percent_off": 101},
    {"kind": "free_dish"},
    {"kind": "bogus"},
    {"kind": "amount_off", "amount_fen": 100, "valid_days": 0},
    {"kind": "amount_off", "amount_fen": 100, "stores": "s1"},
])
def test_bad_templates_are_refused(store, kwargs):
    with pytest.raises(InvalidInput):
        create_template(store, "x", **kwargs)
    assert store.scalar("SELECT COUNT(*) FROM coupon_templates") == 0
