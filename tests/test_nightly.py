"""The books close every night on the hub's own scheduler: points run out, tiers follow the
rolling window; once per store-local day, and once after days of downtime."""

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member, member_row, points_balance
from hub.messaging import channels_from
from hub.scheduler import CampaignScheduler


def expiries(store):
    return store.scalar("SELECT COUNT(*) FROM points_ledger WHERE kind = 'expire'")


def test_points_expire_and_tiers_drop_once_a_night_in_store_local_time(store, clock):
    store.settings.points.expire_days = 30
    scheduler = CampaignScheduler(lambda: store, channels_from(store.settings.messaging))
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    checkout(store, CheckoutRequest("k-1", [Line("包桌", 1, 250_000)], member_id=guest["id"]))
    assert member_row(store, guest["id"])["tier"] == "silver"
    earned = points_balance(store, guest["id"])
    assert earned > 0
    scheduler.tick()  # a new home closes its first night at once: nothing is due
    assert expiries(store) == 0 and store.meta("books_closed_day") == "2026-11-24"

    clock.advance(days=31)  # Boxing Day, 12:30 in Shanghai: the points ran out yesterday
    scheduler.tick()
    assert points_balance(store, guest["id"]) == 0 and expiries(store) == 1
    scheduler.tick()
    assert expiries(store) == 1, "once a day"

    clock.advance(days=365)  # a year later: the spend rolled out of the window
    scheduler.tick()
    assert member_row(store, guest["id"])["tier"] == "member"
    assert store.meta("books_closed_day") == "2027-12-25"
    moved = store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'member.updated'")
    scheduler.tick()
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'member.updated'") == moved

    clock.advance(hours=14)  # 02:30 the next morning in Shanghai: that night is not over
    scheduler.tick()
    assert store.meta("books_closed_day") == "2027-12-25"
    clock.advance(hours=2)  # 04:30: it is
    scheduler.tick()
    assert store.meta("books_closed_day") == "2027-12-26"

def test_a_hub_off_for_nights_closes_the_books_once_when_it_is_back(store, clock):
    store.settings.points.expire_days = 10
    scheduler = CampaignScheduler(lambda: store, channels_from(store.settings.messaging))
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    checkout(store, CheckoutRequest("k-1", [Line("面", 1, 5_000)], member_id=guest["id"]))
    scheduler.tick()
    clock.advance(days=20)  # the hub was off for twenty nights
    scheduler.tick()
    scheduler.tick()
    assert expiries(store) == 1 and points_balance(store, guest["id"]) == 0
    assert store.meta("books_closed_day") == "2026-12-14"
