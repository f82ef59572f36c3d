"""Shifts on the store's own clock: a switch on a shared tablet, idle and closing-time ends
(closed at the moment they lapsed), and the scheduler's sweep."""

from __future__ import annotations

from hub.domain import shifts
from hub.domain.devices import add_device
from hub.domain.staff import add_staff
from hub.domain.visits import check_in


def people(store):
    tablet, _ = add_device(store, "tablet 1", "waiter", actor="test")
    ana = add_staff(store, "安娜", "waiter", "1111")
    bo = add_staff(store, "波", "waiter", "2222")
    return tablet["id"], ana, bo


def test_one_shift_per_device_and_a_switch_ends_the_last(store, clock):
    tablet, ana, bo = people(store)
    first = shifts.open_shift(store, tablet, ana)
    assert shifts.open_shift(store, tablet, ana)["id"] == first["id"], "same person: same shift"
    clock.advance(minutes=20)
    second = shifts.open_shift(store, tablet, bo)
    assert shifts.current_shift(store, tablet)["staff"]["name"] == "波"
    old = store.one("SELECT closed_at, closed_by FROM shifts WHERE id = ?", (first["id"],))
    assert tuple(old) == (second["opened_at"], "switch")
    assert store.scalar("SELECT COUNT(*) FROM shifts WHERE closed_at IS NULL") == 1
    types = [r[0] for r in store.conn.execute("SELECT type FROM outbox ORDER BY seq")]
    assert types[-3:] == ["shift.opened", "shift.closed", "shift.opened"]


def test_an_idle_tablet_signs_its_person_out_as_of_their_last_request(store, clock):
    tablet, ana, _ = people(store)
    opened = shifts.open_shift(store, tablet, ana)
    clock.advance(minutes=30)
    assert shifts.current_shift(store, tablet) is not None  # a request: still working
    clock.advance(minutes=store.settings.shifts.idle_minutes + 1)
    assert shifts.current_shift(store, tablet) is None
    row = store.one("SELECT closed_at, closed_by FROM shifts WHERE id = ?", (opened["id"],))
    assert row["closed_by"] == "idle"
    assert row["closed_at"] == "2026-11-25T05:45:00.000Z", "30 min of work + 45 idle from 12:30"


def test_closing_time_ends_every_shift_and_the_scheduler_sweeps(store, clock):
    store.settings.shifts.closing = "14:00"
    store.settings.shifts.idle_minutes = 600
    tablet, ana, bo = people(store)
    console, _ = add_device(store, "console", "cashier", actor="test")
    shifts.open_shift(store, tablet, ana)
    shifts.open_shift(store, console["id"], bo)
    clock.advance(hours=2)  # 14:30 in Shanghai
    assert shifts.close_lapsed(store) == 2
    rows = store.conn.execute("SELECT closed_at, closed_by FROM shifts").fetchall()
    assert [tuple(r) for r in rows] == [("2026-11-25T06:00:00.000Z", "closing")] * 2
    # Opened after closing, a shift runs to the next day's closing.
    late = shifts.open_shift(store, tablet, ana)
    assert late["ends_by"] == "2026-11-26T06:00:00.000Z"


def test_a_waiters_guests_are_those_seated_during_their_shifts_today(store, clock, guest):
    tablet, ana, bo = people(store)
    check_in(store, guest["id"], "1", 2)  # before anyone signed in
    assert not shifts.seated_in_shifts(store, ana["id"], guest["id"])
    shift = shifts.open_shift(store, tablet, ana)
    clock.advance(minutes=5)
    check_in(store, guest["id"], "2", 2, staff_id=bo["id"])  # seated by a colleague
    assert shifts.seated_in_shifts(store, ana["id"], guest["id"])
    assert not shifts.seated_in_shifts(store, bo["id"], guest["id"]), "bo has no shift"
    shifts.close_shift(store, shift["id"], tablet)
    assert shifts.seated_in_shifts(store, ana["id"], guest["id"]), "still today's shift"
    clock.advance(days=1)
    assert not shifts.seated_in_shifts(store, ana["id"], guest["id"]), "not tomorrow"


def test_the_rota_shows_the_gap_on_a_forecast_peak_and_hours_worked(store, clock):
    from datetime import date, datetime, timedelta

    from hub.domain.rota import plan, week
    from tests.conftest import START

    tablet, ana, bo = people(store)
    cy = add_staff(store, "辰", "waiter", "3333")
    # Four Wednesdays of history: a lunch peak of 40 covers at 12:00, 6 at 18:00.
    for weeks in range(1, 5):
        wednesday = START - timedelta(weeks=weeks)
        for hour_utc, parties in ((4, (10, 10, 10, 10)), (10, (6,))):
            clock.current = wednesday.replace(hour=hour_utc, minute=10)
            for size in parties:
                check_in(store, None, "1", size)
    clock.current = START
    day = date(2026, 12, 2)  # next Wednesday
    for person in (ana, bo):
        plan(store, person["id"], day, "11:00", "14:00")
    for person in (ana, bo, cy):
        plan(store, person["id"], day, "17:00", "20:00")
    rota = week(store, date(2026, 11, 30))
    hours = {h["hour"]: h for h in next(d for d in rota["days"] if d["date"] == "2026-12-02")
             ["hours"]}
    assert (hours[12]["forecast_covers"], hours[12]["needed"], hours[12]["planned"],
            hours[12]["gap"]) == (40.0, 4, 2, 2), "short by two at the lunch peak"
    assert (hours[18]["needed"], hours[18]["planned"], hours[18]["gap"]) == (1, 3, -2)
    wednesday = next(d for d in rota["days"] if d["date"] == "2026-12-02")
    assert 12 in wednesday["short_hours"] and 18 in wednesday["over_hours"]
    assert {p["name"]: p["planned_hours"] for p in rota["staff"]} == {"安娜": 6.0, "波": 6.0,
                                                                     "辰": 3.0}
    # Hours worked come from sign-ins; two devices at once count the time once.
    console, _ = add_device(store, "console", "cashier", actor="test")
    store.settings.shifts.idle_minutes = 240  # a quiet afternoon: nobody idles out
    first = shifts.open_shift(store, tablet, ana)
    clock.advance(minutes=30)
    second = shifts.open_shift(store, console["id"], ana)
    clock.advance(minutes=30)
    shifts.close_shift(store, second["id"], console["id"])
    clock.advance(hours=2)
    shifts.close_shift(store, first["id"], tablet)
    this_week = week(store, date(2026, 11, 23))
    assert {p["name"]: p["actual_hours"] for p in this_week["staff"]} == {
        "安娜": 3.0, "波": 0.0, "辰": 0.0}
    assert datetime.fromisoformat(this_week["week"]).weekday() == 0
