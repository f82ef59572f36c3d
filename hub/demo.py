"""`laoke demo`: a generated store on embedded defaults, and what its day looks like.

Until the staff console exists this prints the day's summary; the console will open here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .demo_data import generate
from .domain.dashboard import DayFigures, day_summary
from .domain.errors import InvalidInput
from .home import open_store

DEMO_MEMBERS = 2000
DEMO_DAYS = 365


def _change(now: int, before: int) -> str:
    if before == 0:
        return "—"
    return f"{(now - before) * 100 / before:+.0f}%"


def _line(label: str, figures: DayFigures, before: DayFigures) -> list[str]:
    share = (figures.returning_orders * 100 // figures.member_orders) if figures.member_orders \
        else 0
    return [
        f"{label}  {figures.day.isoformat()}",
        f"  客数 covers          {figures.covers:6d}   ({_change(figures.covers, before.covers)}"
        " vs same weekday last week)",
        f"  订单 orders          {figures.orders:6d}",
        f"  营收 revenue      {figures.revenue_fen / 100:9.2f} 元 "
        f"({_change(figures.revenue_fen, before.revenue_fen)})",
        f"  回头客 returning       {share:3d}%  of member orders",
        f"  新会员 new members   {figures.new_members:6d}",
        "  热销 top dishes      " + "、".join(f"{d}×{q}" for d, q in figures.top_dishes),
    ]


def run_demo(home: Path, echo: Callable[[str], None] = print) -> None:
    with open_store(home) as store:
        has_members = store.scalar("SELECT EXISTS (SELECT 1 FROM members)")
        if has_members and store.meta("demo") is None:
            raise InvalidInput(f"{home} holds a real store; laoke demo needs an empty or demo "
                               "home (pass --home DIR)")
        if not has_members:
            echo(f"building the demo store in {home} …")
            summary = generate(store, members=DEMO_MEMBERS, days=DEMO_DAYS)
            echo(f"  {summary.members} members, {summary.orders} orders over {summary.days} "
                 "days")
        day = day_summary(store)
        echo(f"老客 laoke demo — {store.settings.store_name} ({store.store_id})")
        for text in _line("今天 today", day.today, day.same_day_last_week):
            echo(text)
        echo(f"  会员 members {day.members}   流失 lapsed 90d {day.lapsed_90}   "
             f"近7天生日 birthdays 7d {day.birthdays_7}")
        echo("The live staff console will open here once it exists; try "
             f"`laoke --home {home} member find 138`.")
