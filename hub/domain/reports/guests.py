"""When guests come and whether they come back: the peak hours, repurchase, cohorts, RFM,
and the guests to win back or to wish a happy birthday."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypedDict

from ..audience import RFM_GROUPS, Audience, Pick, moved_to_delivery, pick, rfm_group
from ..clock import from_iso
from ..store import Store
from .period import Days, Period

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Hours(TypedDict):
    weekdays: list[str]
    covers: list[list[int]]  # a row per weekday, Monday first; a column per hour


class MonthReturn(TypedDict):
    month: str
    members: int
    returning: int
    rate: float


class Repurchase(TypedDict):
    months: list[MonthReturn]


class MonthOnYear(TypedDict):
    month: str
    members: int
    returning: int
    rate: float
    last_year_members: int
    last_year_returning: int
    last_year_rate: float | None  # None: no guest ordered in that month a year before
    change_pct: float | None  # the rate's change on last year's, in percent of it


class RepurchaseYoy(TypedDict):
    compared: list[MonthOnYear]
    this_year: MonthReturn  # over all the period's months (member-months), month "all"
    last_year: MonthReturn
    change_pct: float | None


class Cohort(TypedDict):
    month: str
    members: int
    retention: list[float]  # month 0 (the signup month) first


class Cohorts(TypedDict):
    cohorts: list[Cohort]


class Rfm(TypedDict):
    members: int
    groups: dict[str, int]


class GuestRow(TypedDict):
    id: str
    name: str | None
    tier: str
    birthday: str | None
    last_seen: str | None


class Lapsed(TypedDict):
    count: int
    bands: dict[str, int]
    guests: list[GuestRow]


class Birthdays(TypedDict):
    count: int
    guests: list[GuestRow]


class MovedGuest(TypedDict):
    id: str
    name: str | None
    tier: str
    earlier_orders: int
    earlier_dine_in: int
    recent_orders: int
    recent_delivery: int


class ChannelShift(TypedDict):
    earlier: Days
    count: int
    moved: list[MovedGuest]


class GuestMix(TypedDict):
    """One guest's orders in the period by how they came: at the table, to take away,
    delivered by the shop itself, and delivered by each platform."""

    id: str
    name: str | None
    tier: str
    orders: int
    dine_in: int
    takeaway: int
    delivery: int
    meituan: int
    eleme: int


class GuestChannels(TypedDict):
    count: int  # guests with an order that counts in the period
    mixes: dict[str, int]  # guests by the ways they came ("dine_in+meituan": both, no other)
    by_guest: list[GuestMix]  # the most orders first, at most GUESTS_LISTED


def hours(store: Store, period: Period) -> Hours:
    """Covers by weekday (Monday first) x hour of day: the peak-hour heat map."""
    grid = [[0] * 24 for _ in range(7)]
    rows = store.conn.execute(
        "SELECT CAST(strftime('%w', visited_at, ?) AS INTEGER) AS dow, "
        "CAST(strftime('%H', visited_at, ?) AS INTEGER) AS hour, SUM(party_size) "
        "FROM visits WHERE visited_at >= ? AND visited_at < ? GROUP BY dow, hour",
        (period.shift, period.shift, period.lo, period.hi))
    for dow, hour, covers in rows:
        grid[(dow + 6) % 7][hour] = covers
    return {"weekdays": WEEKDAYS, "covers": grid}


def repurchase(store: Store, period: Period) -> Repurchase:
    """Per month: members who ordered, and the share of them who had ordered in an earlier
    month (orders that count). Whole months are read from `member_months`, the trigger-kept
    rollup; the days of a month the period cuts, from the orders themselves."""
    start, after = period.start, period.end + timedelta(days=1)
    first = start if start.day == 1 else _next_month(start)
    stop = after.replace(day=1)  # the first day after the period's last whole month
    if first < stop:
        whole = (first.isoformat()[:7], (stop - timedelta(days=1)).isoformat()[:7])
        cuts = [(start, first), (stop, after)]
    else:
        whole, cuts = ("", ""), [(start, after), (after, after)]
    bounds = [Period(store, lo, hi - timedelta(days=1)) if lo < hi else None for lo, hi in cuts]
    edges = [(b.lo, b.hi) if b else ("", "") for b in bounds]
    rows = store.conn.execute(
        "WITH monthly AS (SELECT month, member_id FROM member_months "
        "  WHERE month BETWEEN ? AND ? UNION "
        "  SELECT strftime('%Y-%m', created_at, ?), member_id FROM counted_orders "
        "  WHERE member_id IS NOT NULL AND ((created_at >= ? AND created_at < ?) "
        "  OR (created_at >= ? AND created_at < ?))) "
        "SELECT m.month, COUNT(*), SUM(EXISTS (SELECT 1 FROM member_months p "
        "  WHERE p.member_id = m.member_id AND p.month < m.month)) "
        "FROM monthly m GROUP BY m.month ORDER BY m.month",
        (*whole, period.shift, *edges[0], *edges[1]))
    return {"months": [_month_return(r[0], r[1], r[2]) for r in rows]}


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_return(month: str, members: int, returning: int) -> MonthReturn:
    return MonthReturn(month=month, members=members, returning=returning,
                       rate=round(returning / members, 4) if members else 0.0)


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)


def _change(now: float, before: float | None) -> float | None:
    return round(100 * (now - before) / before, 1) if before else None


def repurchase_yoy(store: Store, period: Period) -> RepurchaseYoy:
    """Repurchase this year against the same months last year: each month's returning rate
    (the `repurchase` report's) next to the same month a year before, and both over the whole
    period (returning member-months over member-months). "Up 18%" is `change_pct` 18."""
    now = repurchase(store, period)["months"]
    before = {m["month"]: m for m in repurchase(store, Period(
        store, _year_before(period.start), _year_before(period.end)))["months"]}
    compared = []
    for month in now:
        year, number = month["month"].split("-")
        old = before.get(f"{int(year) - 1:04d}-{number}")
        old_rate = old["rate"] if old else None
        compared.append(MonthOnYear(
            **month, last_year_members=old["members"] if old else 0,
            last_year_returning=old["returning"] if old else 0,
            last_year_rate=old_rate, change_pct=_change(month["rate"], old_rate)))
    this_year = _month_return("all", sum(m["members"] for m in now),
                              sum(m["returning"] for m in now))
    last_year = _month_return("all", sum(m["members"] for m in before.values()),
                              sum(m["returning"] for m in before.values()))
    return {"compared": compared, "this_year": this_year, "last_year": last_year,
            "change_pct": _change(this_year["rate"], last_year["rate"]
                                  if last_year["members"] else None)}


def cohorts(store: Store, period: Period, months: int = 12) -> Cohorts:
    """Guests who signed up in each month of the period, and the share of them who ordered in
    each month after (month 0 is the signup month)."""
    rows = store.conn.execute(
        "WITH cohort AS (SELECT id, strftime('%Y-%m', created_at, :shift) AS month FROM members "
        "  WHERE created_at >= :lo AND created_at < :hi), "
        "active AS (SELECT DISTINCT o.member_id, strftime('%Y-%m', o.created_at, :shift) AS month "
        "  FROM counted_orders o JOIN cohort c ON c.id = o.member_id) "
        "SELECT c.month, (CAST(substr(a.month, 1, 4) AS INTEGER) * 12 "
        "  + CAST(substr(a.month, 6, 2) AS INTEGER)) - (CAST(substr(c.month, 1, 4) AS INTEGER) "
        "  * 12 + CAST(substr(c.month, 6, 2) AS INTEGER)) AS offset, COUNT(*) "
        "FROM cohort c JOIN active a ON a.member_id = c.id GROUP BY 1, 2",
        {"shift": period.shift, "lo": period.lo, "hi": period.hi}).fetchall()
    sizes = dict(store.conn.execute(
        "SELECT strftime('%Y-%m', created_at, ?), COUNT(*) FROM members "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1 ORDER BY 1",
        (period.shift, period.lo, period.hi)).fetchall())
    active = {(month, offset): count for month, offset, count in rows}
    return {"cohorts": [
        Cohort(month=month, members=size,
               retention=[round(active.get((month, n), 0) / size, 4) for n in range(months + 1)])
        for month, size in sizes.items()]}


def rfm(store: Store, period: Period) -> Rfm:
    """Members by recency, frequency and money over the period, in named groups."""
    end = period.hi
    rows = store.conn.execute(
        "SELECT member_id, julianday(?) - julianday(MAX(created_at)) AS recency, "
        "COUNT(*) AS frequency, SUM(total_fen - discount_fen - refunded_fen) AS monetary "
        "FROM counted_orders "
        "WHERE member_id IS NOT NULL AND created_at >= ? AND created_at < ? "
        "GROUP BY member_id", (end, period.lo, period.hi)).fetchall()
    groups = dict.fromkeys(RFM_GROUPS, 0)
    spend = sorted(r["monetary"] for r in rows)
    median = spend[len(spend) // 2] if spend else 0
    for row in rows:
        groups[rfm_group(row["recency"], row["frequency"], row["monetary"], median)] += 1
    return {"members": len(rows), "groups": groups}


def _guests(store: Store, picks: list[Pick], limit: int = 500) -> list[GuestRow]:
    guests = []
    for p in picks[:limit]:
        row = store.totals("SELECT name, tier, birthday FROM members WHERE id = ?",
                           (p.member_id,))
        guests.append(GuestRow(id=p.member_id, name=row["name"], tier=row["tier"],
                               birthday=row["birthday"], last_seen=p.last_seen or None))
    return guests


def lapsed(store: Store, period: Period) -> Lapsed:
    """Guests not seen for 90 days or more, now (whatever the period), by how long they have
    stayed away; the most recently lost first: the easiest to win back."""
    picks = pick(store, Audience(lapsed_days=90))
    bands = {"90-179": 0, "180-364": 0, "365+": 0}
    now = store.now()
    for p in picks:
        away = (now - from_iso(p.last_seen)).days
        bands["365+" if away >= 365 else "180-364" if away >= 180 else "90-179"] += 1
    return {"count": len(picks), "bands": bands, "guests": _guests(store, picks)}


def birthdays(store: Store, period: Period) -> Birthdays:
    """Guests with a birthday in the next 30 days, now (whatever the period)."""
    picks = pick(store, Audience(birthday_within=30))
    return {"count": len(picks), "guests": _guests(store, picks)}


def channel_shift(store: Store, period: Period) -> ChannelShift:
    """Guests who moved from the table to delivery: mostly dine-in over the same number of
    days just before the period, mostly delivery in it (the audience rule
    `moved_to_delivery_days`, over these days)."""
    days = period.end - period.start + timedelta(days=1)
    earlier = Period(store, period.start - days, period.start - timedelta(days=1))
    shifts = moved_to_delivery(store, earlier.lo, period.lo, period.hi)
    moved = []
    for shift in shifts[:500]:
        row = store.totals("SELECT name, tier FROM members WHERE id = ?", (shift["member_id"],))
        moved.append(MovedGuest(id=shift["member_id"], name=row["name"], tier=row["tier"],
                                earlier_orders=shift["earlier_orders"],
                                earlier_dine_in=shift["earlier_dine_in"],
                                recent_orders=shift["recent_orders"],
                                recent_delivery=shift["recent_delivery"]))
    return {"earlier": earlier.json(), "count": len(shifts), "moved": moved}


GUESTS_LISTED = 500
# A platform's delivery counts under its platform; "delivery" is the shop's own.
WAYS = ("dine_in", "takeaway", "delivery", "meituan", "eleme")


def guest_channels(store: Store, period: Period) -> GuestChannels:
    """Each guest's channel mix over the period: how many came only to the table, only by
    delivery (and on which platform), or both, and each guest's orders by way, from every
    order that is theirs (a platform's once claimed or joined) and counts (none a platform
    cancelled or refunded)."""
    ways: dict[str, dict[str, int]] = {}
    for member_id, channel, platform, orders in store.conn.execute(
            "SELECT o.member_id, o.channel, d.platform, COUNT(*) FROM counted_orders o "
            "LEFT JOIN delivery_orders d ON d.order_id = o.id WHERE o.member_id IS NOT NULL "
            "AND o.created_at >= ? AND o.created_at < ? GROUP BY o.member_id, o.channel, "
            "d.platform", (period.lo, period.hi)):
        way = platform if channel == "delivery" and platform in WAYS else channel
        mine = ways.setdefault(member_id, dict.fromkeys(WAYS, 0))
        mine[way] += orders
    mixes: dict[str, int] = {}
    for mine in ways.values():
        mix = "+".join(way for way, orders in mine.items() if orders)
        mixes[mix] = mixes.get(mix, 0) + 1
    ranked = sorted(ways.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    listed = []
    for member_id, mine in ranked[:GUESTS_LISTED]:
        row = store.totals("SELECT name, tier FROM members WHERE id = ?", (member_id,))
        listed.append(GuestMix(id=member_id, name=row["name"], tier=row["tier"],
                               orders=sum(mine.values()), dine_in=mine["dine_in"],
                               takeaway=mine["takeaway"], delivery=mine["delivery"],
                               meituan=mine["meituan"], eleme=mine["eleme"]))
    return {"count": len(ways),
            "mixes": dict(sorted(mixes.items(), key=lambda item: (-item[1], item[0]))),
            "by_guest": listed}
