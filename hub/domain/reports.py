"""The owner's reports over any date range: what sells, when guests come, who comes back.

Dates are the store's local days; times in the database are UTC, so each query shifts them
by the store's UTC offset (China keeps one all year; a zone with summer time is shifted by
its offset at the start of the range).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .audience import RFM_GROUPS, Audience, pick, rfm_group
from .clock import from_iso, parse_day, to_iso
from .errors import InvalidInput
from .store import Store

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def parse_range(start: str | None, end: str | None,
                names: tuple[str, str] = ("from", "to")) -> tuple[date | None, date | None]:
    """A report's first and last day as typed (YYYY-MM-DD, or none), or InvalidInput naming
    the one that is wrong as the caller calls it (`--from` on the command line)."""
    try:
        return (parse_day(start, names[0]) if start else None,
                parse_day(end, names[1]) if end else None)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


class Period:
    """[start, end] in local days, with the UTC bounds and offset the SQL needs."""

    def __init__(self, store: Store, start: date | None, end: date | None) -> None:
        tz = ZoneInfo(store.settings.timezone)
        today = store.now().astimezone(tz).date()
        self.end = end or today
        self.start = start or self.end - timedelta(days=29)
        if self.start > self.end:
            raise InvalidInput("the report's start is after its end")
        begin = datetime.combine(self.start, time(0), tzinfo=tz)
        finish = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz)
        self.lo, self.hi = to_iso(begin.astimezone(UTC)), to_iso(finish.astimezone(UTC))
        offset = begin.utcoffset() or timedelta(0)
        self.shift = f"{int(offset.total_seconds() // 60):+d} minutes"

    def days(self) -> tuple[str, str]:
        """The local days, for tables keyed by day."""
        return self.start.isoformat(), self.end.isoformat()

    def json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def dishes(store: Store, period: Period) -> dict[str, Any]:
    """Most sold first, from the per-day rollup the order-line trigger keeps."""
    rows = store.conn.execute(
        "SELECT dish, SUM(qty) AS qty, SUM(revenue_fen) AS revenue_fen "
        "FROM dish_days WHERE day BETWEEN ? AND ? GROUP BY dish "
        "ORDER BY qty DESC, revenue_fen DESC, dish", period.days())
    return {"dishes": [dict(r) for r in rows]}


def pairings(store: Store, period: Period, top: int = 30) -> dict[str, Any]:
    """Dishes ordered together more often than chance: how many orders had both, and the
    lift (above 1 is a real pairing; rice, ordered with everything, has about 1 and is
    left out), the most frequent first."""
    orders = store.scalar("SELECT COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ?",
                          (period.lo, period.hi))
    alone = dict(store.conn.execute(
        "SELECT dish, SUM(orders) FROM dish_days WHERE day BETWEEN ? AND ? GROUP BY dish",
        period.days()).fetchall())
    pairs = []
    for a, b, together in store.conn.execute(
            "SELECT dish_a, dish_b, SUM(orders) FROM dish_pairs WHERE day BETWEEN ? AND ? "
            "GROUP BY dish_a, dish_b", period.days()):
        lift = round(together * orders / (alone[a] * alone[b]), 3)
        if lift <= 1:
            continue
        # Confidence: of the orders with the one dish, the share that also had the other.
        pairs.append({"dish_a": a, "dish_b": b, "orders": together,
                      "support": round(together / orders, 4),
                      "confidence_a_b": round(together / alone[a], 4),
                      "confidence_b_a": round(together / alone[b], 4), "lift": lift})
    pairs.sort(key=lambda p: (-p["orders"], -p["lift"], p["dish_a"], p["dish_b"]))
    return {"orders": orders, "pairs": pairs[:top]}


def hours(store: Store, period: Period) -> dict[str, Any]:
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


def repurchase(store: Store, period: Period) -> dict[str, Any]:
    """Per month: members who ordered, and the share of them who had ordered before."""
    rows = store.conn.execute(
        "WITH firsts AS (SELECT member_id, MIN(created_at) AS first_at FROM orders "
        "  WHERE member_id IS NOT NULL GROUP BY member_id), "
        "monthly AS (SELECT DISTINCT strftime('%Y-%m', o.created_at, ?) AS month, o.member_id "
        "  FROM orders o WHERE o.member_id IS NOT NULL AND o.created_at >= ? "
        "  AND o.created_at < ?) "
        "SELECT m.month, COUNT(*) AS members, "
        "SUM(strftime('%Y-%m', f.first_at, ?) < m.month) AS came_back "
        "FROM monthly m JOIN firsts f ON f.member_id = m.member_id "
        "GROUP BY m.month ORDER BY m.month", (period.shift, period.lo, period.hi, period.shift))
    months = [{"month": r[0], "members": r[1], "returning": r[2],
               "rate": round(r[2] / r[1], 4) if r[1] else 0.0} for r in rows]
    return {"months": months}


def cohorts(store: Store, period: Period, months: int = 12) -> dict[str, Any]:
    """Guests who signed up in each month of the period, and the share of them who ordered in
    each month after (month 0 is the signup month)."""
    rows = store.conn.execute(
        "WITH cohort AS (SELECT id, strftime('%Y-%m', created_at, :shift) AS month FROM members "
        "  WHERE created_at >= :lo AND created_at < :hi), "
        "active AS (SELECT DISTINCT o.member_id, strftime('%Y-%m', o.created_at, :shift) AS month "
        "  FROM orders o JOIN cohort c ON c.id = o.member_id) "
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
        {"month": month, "members": size,
         "retention": [round(active.get((month, n), 0) / size, 4) for n in range(months + 1)]}
        for month, size in sizes.items()]}


def rfm(store: Store, period: Period) -> dict[str, Any]:
    """Members by recency, frequency and money over the period, in named groups."""
    end = period.hi
    rows = store.conn.execute(
        "SELECT member_id, julianday(?) - julianday(MAX(created_at)) AS recency, "
        "COUNT(*) AS frequency, SUM(total_fen - discount_fen) AS monetary FROM orders "
        "WHERE member_id IS NOT NULL AND created_at >= ? AND created_at < ? "
        "GROUP BY member_id", (end, period.lo, period.hi)).fetchall()
    groups = dict.fromkeys(RFM_GROUPS, 0)
    spend = sorted(r["monetary"] for r in rows)
    median = spend[len(spend) // 2] if spend else 0
    for row in rows:
        groups[rfm_group(row["recency"], row["frequency"], row["monetary"], median)] += 1
    return {"members": len(rows), "groups": groups}


def staff(store: Store, period: Period) -> dict[str, Any]:
    """Per staff member: covers served, returning guests among them, orders, average ticket,
    and the members they signed up."""
    served = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT v.staff_id, SUM(v.party_size), SUM(v.member_id IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM visits p WHERE p.member_id = v.member_id "
        "  AND p.visited_at < v.visited_at)) "
        "FROM visits v WHERE v.visited_at >= ? AND v.visited_at < ? GROUP BY v.staff_id",
        (period.lo, period.hi))}
    signups = dict(store.conn.execute(
        "SELECT signed_up_by, COUNT(*) FROM members WHERE created_at >= ? AND created_at < ? "
        "AND signed_up_by IS NOT NULL GROUP BY signed_up_by", (period.lo, period.hi)).fetchall())
    sold = {r[0]: (r[1], r[2]) for r in store.conn.execute(
        "SELECT staff_id, COUNT(*), SUM(total_fen - discount_fen) FROM orders "
        "WHERE created_at >= ? AND created_at < ? GROUP BY staff_id", (period.lo, period.hi))}
    people = []
    for row in store.conn.execute("SELECT id, name, role FROM staff ORDER BY name"):
        covers, back = served.get(row["id"], (0, 0))
        orders, revenue = sold.get(row["id"], (0, 0))
        people.append({"id": row["id"], "name": row["name"], "role": row["role"],
                       "covers": covers, "returning_guests": back, "orders": orders,
                       "revenue_fen": revenue,
                       "average_ticket_fen": revenue // orders if orders else 0,
                       "signups": signups.get(row["id"], 0)})
    return {"staff": people}


def channels(store: Store, period: Period) -> dict[str, Any]:
    rows = store.conn.execute(
        "SELECT channel, COUNT(*) AS orders, SUM(total_fen - discount_fen) AS revenue_fen "
        "FROM orders WHERE created_at >= ? AND created_at < ? GROUP BY channel "
        "ORDER BY orders DESC", (period.lo, period.hi))
    return {"channels": [dict(r) for r in rows]}


def summary(store: Store, period: Period) -> dict[str, Any]:
    """Average ticket, money held for guests, points owed, coupons used."""
    orders, revenue = store.one(
        "SELECT COUNT(*), COALESCE(SUM(total_fen - discount_fen), 0) FROM orders "
        "WHERE created_at >= ? AND created_at < ?", (period.lo, period.hi))
    redeemed = store.scalar("SELECT COUNT(*) FROM coupon_redemptions WHERE redeemed_at >= ? "
                            "AND redeemed_at < ?", (period.lo, period.hi))
    issued = store.scalar("SELECT COUNT(*) FROM coupons WHERE issued_at >= ? AND issued_at < ?",
                          (period.lo, period.hi))
    points = store.scalar("SELECT COALESCE(SUM(delta), 0) FROM points_ledger")
    return {
        "orders": orders, "revenue_fen": revenue,
        "average_ticket_fen": revenue // orders if orders else 0,
        "stored_value_float_fen": store.scalar(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger"),
        "points_liability": points,
        "points_liability_fen": points * store.settings.points.fen_per_point,
        "coupons_issued": issued, "coupons_redeemed": redeemed,
    }


def coupons(store: Store, period: Period) -> dict[str, Any]:
    """Per coupon template: issued in the period, and how many of those were redeemed."""
    rows = store.conn.execute(
        "SELECT t.name AS template, COUNT(*) AS issued, COUNT(r.code) AS redeemed, "
        "COALESCE(SUM(r.discount_fen), 0) AS discount_fen FROM coupons c "
        "JOIN coupon_templates t ON t.id = c.template_id "
        "LEFT JOIN coupon_redemptions r ON r.code = c.code "
        "WHERE c.issued_at >= ? AND c.issued_at < ? GROUP BY t.id ORDER BY issued DESC, t.name",
        (period.lo, period.hi)).fetchall()
    return {"templates": [{**dict(r), "rate": round(r["redeemed"] / r["issued"], 4)}
                          for r in rows]}


def _guests(store: Store, picks: list[Any], limit: int = 500) -> list[dict[str, Any]]:
    guests = []
    for p in picks[:limit]:
        row = store.one("SELECT name, tier, birthday FROM members WHERE id = ?", (p.member_id,))
        guests.append({"id": p.member_id, "name": row["name"], "tier": row["tier"],
                       "birthday": row["birthday"], "last_seen": p.last_seen or None})
    return guests


def lapsed(store: Store, period: Period) -> dict[str, Any]:
    """Guests not seen for 90 days or more, now (whatever the period), by how long they have
    stayed away; the most recently lost first: the easiest to win back."""
    picks = pick(store, Audience(lapsed_days=90))
    bands = {"90-179": 0, "180-364": 0, "365+": 0}
    now = store.now()
    for p in picks:
        away = (now - from_iso(p.last_seen)).days
        bands["365+" if away >= 365 else "180-364" if away >= 180 else "90-179"] += 1
    return {"count": len(picks), "bands": bands, "guests": _guests(store, picks)}


def birthdays(store: Store, period: Period) -> dict[str, Any]:
    """Guests with a birthday in the next 30 days, now (whatever the period)."""
    picks = pick(store, Audience(birthday_within=30))
    return {"count": len(picks), "guests": _guests(store, picks)}


def forecast(store: Store, period: Period, weather: float = 1.0) -> dict[str, Any]:
    """Covers for the days after the period's end (see forecast.py), with its backtest;
    `weather` scales it (0.85: rain ahead)."""
    from .forecast import forecast as ahead

    return ahead(store, period.end, weather=weather)


REPORTS = {"dishes": dishes, "pairings": pairings, "hours": hours, "repurchase": repurchase,
           "cohorts": cohorts, "rfm": rfm, "coupons": coupons, "lapsed": lapsed,
           "birthdays": birthdays,
           "staff": staff, "channels": channels, "summary": summary, "forecast": forecast}


def report(store: Store, name: str, start: date | None = None, end: date | None = None,
           weather: float | None = None) -> dict[str, Any]:
    if name not in REPORTS:
        raise InvalidInput(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
    period = Period(store, start, end)
    if weather is None:
        return {"report": name, "period": period.json(), **REPORTS[name](store, period)}
    if name != "forecast":
        raise InvalidInput("weather goes with the forecast only")
    if not 0.1 <= weather <= 3:
        raise InvalidInput("weather is a factor between 0.1 and 3 (0.85: rain ahead)")
    return {"report": name, "period": period.json(), **forecast(store, period, weather)}
