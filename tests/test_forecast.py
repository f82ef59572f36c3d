"""The forecast plans every channel (issue 22, part C): a dish sold only by delivery is
forecast and bought for, covers stay the guests who sat down, and what a platform cancelled
is not planned for again."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.clock import to_iso
from hub.domain.delivery import PlatformLine, PlatformOrder, end_order, land_order, map_dish
from hub.domain.menu import MenuLine, import_menu
from hub.domain.reports.forecast import forecast
from hub.domain.reports.period import Period
from hub.domain.stock import import_recipes, purchase
from hub.menu_files import read_rows
from tests.conftest import START
from tests.support.menu import MENU_CSV

TODAY = date(2026, 11, 25)  # the fake clock's day in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _trade_every_day(store, clock, weeks: int) -> None:
    """The same day, every day: two tables of two eating a 宫保鸡丁 each, one 宫保鸡丁 taken
    away, three delivery orders of two 外卖鸡腿饭 and a fourth the platform cancels."""
    for back in range(1, 7 * weeks + 1):
        noon = datetime.combine(TODAY - timedelta(days=back), time(12), tzinfo=SHANGHAI)
        clock.current = noon
        for table in (1, 2):
            checkout(store, CheckoutRequest(idempotency_key=f"in-{back}-{table}",
                                            lines=[MenuLine("HS01", 2)], party_size=2))
        checkout(store, CheckoutRequest(idempotency_key=f"away-{back}", channel="takeaway",
                                        lines=[MenuLine("HS01", 1)]))
        for n in range(4):
            land_order(store, PlatformOrder(
                "meituan", f"{back}-{n}", to_iso(noon),
                [PlatformLine("鸡腿饭(外卖)", 2, 2600)]))
        end_order(store, "meituan", f"{back}-3", "cancelled")
    clock.current = START


def test_takeaway_and_delivery_are_planned_and_bought_for_but_seat_nobody(store, clock,
                                                                         tmp_path):
    menu_file = tmp_path / "menu.csv"
    menu_file.write_text(MENU_CSV + "DL01,外卖鸡腿饭,主食,2600,,,0,,delivery only\n",
                         encoding="utf-8")
    import_menu(store, read_rows(menu_file), actor="test")
    import_recipes(store, [
        {"code": "DL01", "ingredient": "鸡腿", "qty": "0.25", "unit": "kg", "supplier": "鲜禽行"},
        {"code": "HS01", "ingredient": "花生", "qty": "20", "unit": "g", "supplier": "干货行"},
    ], actor="test")
    map_dish(store, "meituan", "鸡腿饭(外卖)", "DL01", actor="test")
    _trade_every_day(store, clock, weeks=4)

    week = forecast(store, Period(store, None, None), days_ahead=7, dish_limit=None,
                    backtest_days=0)["next_week"]
    assert [day["date"] for day in week] == [
        (TODAY + timedelta(days=n)).isoformat() for n in range(1, 8)]
    for day in week:
        # Four guests sit down a day; the deliveries and the takeaway seat nobody.
        assert day["covers"] == 4, day
        # 宫保鸡丁: one per guest, and one per four orders away (its one takeaway among the
        # three deliveries that stand); 外卖鸡腿饭: two in each standing delivery.
        assert {d["dish"]: d["qty"] for d in day["prepare"]} == {"宫保鸡丁": 5, "外卖鸡腿饭": 6}

    bought = purchase(store, 7)
    need = {line["ingredient"]: line["need"] for order in bought["suppliers"]
            for line in order["lines"]}
    assert need == {"鸡腿": 7 * 6 * 0.25, "花生": 7 * 5 * 20}
    assert bought["unforecast"] == []
