"""A store's day at a glance: what the owner asks first, computed from the books."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .clock import day_bounds, to_iso
from .segments import birthdays, lapsed
from .store import Store


@dataclass
class DayFigures:
    day: date
    covers: int
    orders: int
    revenue_fen: int
    member_orders: int
    returning_orders: int
    new_members: int
    top_dishes: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class DaySummary:
    today: DayFigures
    same_day_last_week: DayFigures
    members: int
    lapsed_90: int
    birthdays_7: int


def change_pct(now: int, before: int) -> str:
    """"+12%" against last week; "—" when there was nothing to compare with."""
    return "—" if not before else f"{(now - before) * 100 / before:+.0f}%"


def day_figures(store: Store, day: date, until: datetime | None = None) -> DayFigures:
    """Figures for one local day; `until` cuts it at a time of day to compare like with like."""
    start, end = day_bounds(store.settings.timezone, day)
    if until is not None:
        end = min(end, to_iso(until))
    covers = store.scalar("SELECT COALESCE(SUM(party_size), 0) FROM visits "
                          "WHERE visited_at >= ? AND visited_at < ?", (start, end))
    orders, revenue, member_orders = store.totals(
        "SELECT COUNT(*), COALESCE(SUM(total_fen - discount_fen - refunded_fen), 0), "
        "COUNT(member_id) FROM counted_orders WHERE created_at >= ? AND created_at < ?",
        (start, end))
    returning = store.scalar(
        "SELECT COUNT(*) FROM counted_orders o WHERE o.created_at >= ? AND o.created_at < ? "
        "AND o.member_id IS NOT NULL AND EXISTS (SELECT 1 FROM counted_orders p "
        "WHERE p.member_id = o.member_id AND p.created_at < ?)", (start, end, start))
    new_members = store.scalar("SELECT COUNT(*) FROM members WHERE created_at >= ? "
                               "AND created_at < ?", (start, end))
    top = store.conn.execute(
        "SELECT l.dish, SUM(l.qty) AS qty FROM order_lines l JOIN counted_orders o "
        "ON o.id = l.order_id "
        "WHERE o.created_at >= ? AND o.created_at < ? AND l.dish <> '米饭' "
        "GROUP BY l.dish ORDER BY qty DESC, l.dish LIMIT 5", (start, end)).fetchall()
    return DayFigures(day=day, covers=covers, orders=orders, revenue_fen=revenue,
                      member_orders=member_orders, returning_orders=returning,
                      new_members=new_members, top_dishes=[(r[0], r[1]) for r in top])


def day_summary(store: Store) -> DaySummary:
    tz = ZoneInfo(store.settings.timezone)
    now = store.now().astimezone(tz)
    last_week = now - timedelta(days=7)
    return DaySummary(
        today=day_figures(store, now.date(), until=now),
        same_day_last_week=day_figures(store, last_week.date(), until=last_week),
        members=store.scalar("SELECT COUNT(*) FROM members WHERE erased_at IS NULL"),
        lapsed_90=len(lapsed(store, 90)),
        birthdays_7=len(birthdays(store, 7)),
    )
