from datetime import date

from hub.domain.audience import birthday_days
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member, erase_member
from hub.domain.segments import birthdays, lapsed
from hub.domain.visits import check_in


def test_lapsed_means_seen_once_but_not_lately(store, guest, clock):
    newcomer = add_member(store, NewMember(name="李四", phone="13900139000"))
    check_in(store, guest["id"], "A1", 2)
    clock.advance(days=60)
    regular = add_member(store, NewMember(name="张伟", phone="13700137000"))
    checkout(store, CheckoutRequest("t", [Line("面", 1, 1800)], member_id=regular["id"],
                                    channel="takeaway"))
    clock.advance(days=40)
    assert lapsed(store, 90) == [guest["id"]]
    assert newcomer["id"] not in lapsed(store, 30)
    assert set(lapsed(store, 30)) == {guest["id"], regular["id"]}
    erase_member(store, guest["id"], actor="owner")
    assert lapsed(store, 90) == []


def test_birthdays_within_days_in_store_time(store, clock):
    # START is 2026-11-25 12:30 in Shanghai
    soon = add_member(store, NewMember(name="甲", phone="13900139001", birthday="1990-11-28"))
    today = add_member(store, NewMember(name="乙", phone="13900139002", birthday="1985-11-25"))
    add_member(store, NewMember(name="丙", phone="13900139003", birthday="1985-12-25"))
    assert birthdays(store, 7) == [today["id"], soon["id"]]
    assert birthdays(store, 0) == [today["id"]]


def test_leap_day_birthdays_and_year_end():
    assert "02-29" in birthday_days(date(2027, 2, 27), 3)
    assert "02-29" not in birthday_days(date(2028, 2, 27), 1)
    assert birthday_days(date(2026, 12, 30), 3) == ["12-30", "12-31", "01-01", "01-02"]
