"""Shifts: which person works on which paired device, right now.

Staff sign in once with their PIN on a tablet (or the console) and everything the device does
is theirs until the shift ends: at sign-out, when another person signs in on the same device
(a shared tablet switches in two taps), after `[shifts] idle_minutes` with no request, or at
the store's closing time. A lapsed shift is closed the moment anything asks for it, and the
scheduler closes the rest, so attribution never outlives the person standing at the device.
The close time of a lapsed shift is when it lapsed (last activity plus the idle time, or the
closing time), not when somebody noticed: hours worked come from these rows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .clock import day_bounds, from_iso, to_iso
from .errors import InvalidInput, NotYourShift, ShiftNotFound
from .ids import new_id
from .store import Store

ACTIVE_EVERY = timedelta(minutes=1)  # how stale last_active_at may get before a write


def ends_by(store: Store, opened: datetime) -> datetime:
    """The first local closing time after `opened`."""
    zone = ZoneInfo(store.settings.timezone)
    hour, minute = (int(part) for part in store.settings.shifts.closing.split(":"))
    local = opened.astimezone(zone)
    closing = datetime.combine(local.date(), time(hour, minute), zone)
    if closing <= local:
        closing = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), zone)
    return closing


def _lapse(store: Store, shift: dict[str, Any], now: datetime) -> tuple[str, str] | None:
    """(closed_at, why) when the shift has lapsed by `now`, else None."""
    idle = from_iso(shift["last_active_at"]) + timedelta(minutes=store.settings.shifts.idle_minutes)
    closing = from_iso(shift["ends_by"])
    if now < idle and now < closing:
        return None
    return (to_iso(idle), "idle") if idle <= closing else (to_iso(closing), "closing")


def _close(store: Store, shift: dict[str, Any], closed_at: str, why: str) -> dict[str, Any]:
    store.conn.execute("UPDATE shifts SET closed_at = ?, closed_by = ? WHERE id = ?",
                       (closed_at, why, shift["id"]))
    closed = {**shift, "closed_at": closed_at, "closed_by": why}
    store.emit("shift.closed", {k: closed[k] for k in ("id", "device_id", "staff_id",
                                                       "opened_at", "closed_at", "closed_by")})
    return closed


def _open_row(store: Store, device_id: str) -> dict[str, Any] | None:
    row = store.one("SELECT s.*, st.name, st.role, st.active FROM shifts s "
                    "JOIN staff st ON st.id = s.staff_id "
                    "WHERE s.device_id = ? AND s.closed_at IS NULL", (device_id,))
    return None if row is None else dict(row)


def view(shift: dict[str, Any]) -> dict[str, Any]:
    """A shift as the API answers it: its person without PIN or active flag."""
    return {"id": shift["id"], "device_id": shift["device_id"], "opened_at": shift["opened_at"],
            "ends_by": shift["ends_by"], "closed_at": shift.get("closed_at"),
            "closed_by": shift.get("closed_by"),
            "staff": {"id": shift["staff_id"], "name": shift["name"], "role": shift["role"]}}


def open_shift(store: Store, device_id: str, staff: dict[str, Any]) -> dict[str, Any]:
    """Sign `staff` in on the device: the same person again keeps their shift, another person
    ends the one open there (a switch)."""
    now = store.now()
    with store.write():
        current = _open_row(store, device_id)
        if current is not None:
            lapsed = _lapse(store, current, now)
            if lapsed is None and current["staff_id"] == staff["id"]:
                store.conn.execute("UPDATE shifts SET last_active_at = ? WHERE id = ?",
                                   (to_iso(now), current["id"]))
                return view({**current, "last_active_at": to_iso(now)})
            _close(store, current, *(lapsed or (to_iso(now), "switch")))
        shift = {"id": new_id(), "device_id": device_id, "staff_id": staff["id"],
                 "opened_at": to_iso(now), "last_active_at": to_iso(now),
                 "ends_by": to_iso(ends_by(store, now))}
        store.conn.execute("INSERT INTO shifts (id, device_id, staff_id, opened_at, "
                           "last_active_at, ends_by) VALUES (:id, :device_id, :staff_id, "
                           ":opened_at, :last_active_at, :ends_by)", shift)
        store.emit("shift.opened", {k: shift[k] for k in ("id", "device_id", "staff_id",
                                                          "opened_at")})
        store.audit(f"device:{device_id}", "shift.open", shift["id"], {"staff": staff["id"]})
    return view({**shift, "name": staff["name"], "role": staff["role"]})


def current_shift(store: Store, device_id: str) -> dict[str, Any] | None:
    """The device's open shift, kept alive by this request; a lapsed one is closed first.

    Asked on every request, so the common case is one indexed read and no write.
    """
    shift = _open_row(store, device_id)
    if shift is None:
        return None
    now = store.now()
    lapsed = _lapse(store, shift, now)
    if lapsed is not None or not shift["active"]:
        with store.write():
            still = _open_row(store, device_id)  # another request may have closed it
            if still is not None and still["id"] == shift["id"]:
                _close(store, shift, *(lapsed or (to_iso(now), "sign_out")))
        return None
    if shift["last_active_at"] < to_iso(now - ACTIVE_EVERY):
        with store.write():
            store.conn.execute("UPDATE shifts SET last_active_at = ? WHERE id = ?",
                               (to_iso(now), shift["id"]))
    return view(shift)


def close_shift(store: Store, shift_id: str, device_id: str, any_device: bool = False,
                actor: str = "system") -> dict[str, Any]:
    """Sign out: the device's own shift, or any shift for a role that manages staff."""
    with store.write():
        row = store.one("SELECT s.*, st.name, st.role FROM shifts s JOIN staff st "
                        "ON st.id = s.staff_id WHERE s.id = ?", (shift_id,))
        if row is None:
            raise ShiftNotFound(f"no shift {shift_id!r}")
        shift = dict(row)
        if shift["device_id"] != device_id and not any_device:
            raise NotYourShift("this shift is open on another device")
        if shift["closed_at"] is not None:
            return view(shift)
        lapsed = _lapse(store, shift, store.now())
        closed = _close(store, shift, *(lapsed or (store.now_iso(), "sign_out")))
        store.audit(actor, "shift.close", shift_id)
    return view(closed)


def close_lapsed(store: Store) -> int:
    """Close every shift past its idle time or closing time (the scheduler's tick)."""
    now = store.now()
    rows = [dict(r) for r in store.conn.execute(
        "SELECT * FROM shifts WHERE closed_at IS NULL AND (ends_by <= ? OR last_active_at <= ?)",
        (to_iso(now), to_iso(now - timedelta(minutes=store.settings.shifts.idle_minutes))))]
    if not rows:
        return 0
    with store.write():
        for shift in rows:
            lapsed = _lapse(store, shift, now)
            if lapsed is not None:
                _close(store, shift, *lapsed)
    return len(rows)


def shifts_of_day(store: Store, day: date) -> list[dict[str, Any]]:
    """The shifts that overlap a local day of the store, oldest first, with their person."""
    lo, hi = day_bounds(store.settings.timezone, day)
    return [view(dict(r)) for r in store.conn.execute(
        "SELECT s.*, st.name, st.role FROM shifts s JOIN staff st ON st.id = s.staff_id "
        "WHERE s.opened_at < ? AND COALESCE(s.closed_at, s.ends_by) > ? ORDER BY s.opened_at",
        (hi, lo))]


def on_duty(store: Store) -> list[dict[str, Any]]:
    """The people signed in somewhere now (first name once): whom the kiosk offers as the
    staff member who invited a guest to join."""
    now = store.now()
    rows = store.conn.execute(
        "SELECT s.*, st.name, st.role FROM shifts s JOIN staff st ON st.id = s.staff_id "
        "WHERE s.closed_at IS NULL AND st.active = 1 ORDER BY st.name").fetchall()
    people: dict[str, dict[str, Any]] = {}
    for row in rows:
        if _lapse(store, dict(row), now) is None:
            people.setdefault(row["staff_id"], {"id": row["staff_id"], "name": row["name"]})
    return list(people.values())


def check_on_duty(store: Store, staff_id: str) -> str:
    """`staff_id` when that person is signed in now, else InvalidInput: a sign-up credits
    only someone actually working."""
    if not any(person["id"] == staff_id for person in on_duty(store)):
        raise InvalidInput("invited_by: nobody of that id is on shift now")
    return staff_id


def seated_in_shifts(store: Store, staff_id: str, member_id: str) -> bool:
    """Whether the guest was checked in today (by anyone) while one of this person's shifts
    was open: the guests a waiter may read without being given a key. A waiter who signs out
    and back in on a shared tablet keeps the guests of their earlier shift today."""
    zone = ZoneInfo(store.settings.timezone)
    since, _ = day_bounds(store.settings.timezone, store.now().astimezone(zone).date())
    return store.one(
        "SELECT 1 FROM shifts s JOIN visits v ON v.member_id = ? "
        "AND v.visited_at >= s.opened_at AND v.visited_at < COALESCE(s.closed_at, '9') "
        "WHERE s.staff_id = ? AND s.opened_at >= ? LIMIT 1",
        (member_id, staff_id, since)) is not None
