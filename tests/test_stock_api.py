"""Stock over the hub's API and in the console (issue 22, part B, items 3 and 4): levels with
the restock alerts, deliveries, waste and counts, the variance and the purchase list (JSON and
XLSX), each as the domain answers it; bad input is a 4xx that writes nothing."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook

from hub.domain.reports.period import Period
from hub.domain.stock import days_left, levels, purchase, variance
from hub.home import open_store
from tests.support.hubproc import RunningHub
from tests.support.menu import laoke
from tests.support.pilot import click, until

MENU = ("\ufeffcode,name,category,price_fen,ingredient,qty,unit,supplier,pack_qty,"
        "delivery_weekdays\n"
        "HS01,宫保鸡丁,热菜,4800,鸡腿肉,0.15,kg,鲜禽行,2,\"1,2,3,4,5,6,7\"\n"
        "HS01,,,,花生,20,g,,,\n"
        "RICE,米饭,主食,300,大米,0.1,kg,粮油店,10,\n")


@pytest.fixture(scope="module")
def stock_hub(tmp_path_factory):
    """A hub whose menu file carried the recipes, and an owner's client."""
    folder = tmp_path_factory.mktemp("stock")
    (folder / "menu.csv").write_text(MENU, encoding="utf-8")
    laoke(folder / "home", "menu", "import", str(folder / "menu.csv"))
    hub = RunningHub(folder / "home").start(timeout=90)  # a loaded CI machine
    owner = hub.client()
    # The first forecast in the hub's process imports the holidays calendars and the first
    # chart matplotlib: seconds each on a loaded machine, more than the client's usual 10 s.
    owner.timeout = httpx.Timeout(60)
    yield hub, owner
    owner.close()
    hub.stop()


def _on_hand(found):
    return {level["ingredient"]: level["on_hand"] for level in found["levels"]}


def test_the_api_records_stock_and_answers_what_the_domain_answers(stock_hub):
    hub, owner = stock_hub
    for path, qty in (("/stock/counts", 2), ("/stock/deliveries", "5"),
                      ("/stock/deliveries", 10)):
        done = owner.post(path, json={"ingredient": "鸡腿肉" if qty != 10 else "大米",
                                      "qty": qty, "note": "周一到货"})
        assert done.status_code == 201, done.text
    assert done.json()["unit"] == "kg" and done.json()["qty"] == 10
    paid = owner.post("/checkouts", json={"lines": [{"code": "HS01", "qty": 3},
                                                    {"code": "RICE", "qty": 2}]},
                      headers={"Idempotency-Key": "stock-api-1"})
    assert paid.status_code == 201, paid.text
    assert owner.post("/stock/waste", json={"ingredient": "鸡腿肉", "qty": 0.4}).status_code \
        == 201
    found = owner.get("/stock/levels").json()
    assert _on_hand(found) == {"鸡腿肉": 6.15, "花生": -60.0, "大米": 9.8}, \
        "2 + 5 - 3 x 0.15 - 0.4; 10 - 2 x 0.1; peanuts never delivered"
    assert owner.post("/stock/counts", json={"ingredient": "鸡腿肉", "qty": "6"}).status_code \
        == 201
    with open_store(hub.home) as store:
        assert owner.get("/stock/levels").json() == {"levels": levels(store),
                                                     "restock": purchase(store)["restock"]}
        assert owner.get("/stock/variance").json() == {
            "variance": variance(store, Period(store, None, None))}
        assert owner.get("/stock/purchase", params={"days": 3}).json() == purchase(store, 3)
        week = purchase(store)
    [before, after] = owner.get("/stock/variance").json()["variance"]
    assert (after["expected"], after["counted"], after["variance"]) == (6.15, 6.0, -0.15)
    assert before["opening"] == 0 and before["counted"] == 2.0

    sheet = owner.get("/stock/purchase/export")
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f'purchase-{week["first_day"]}.xlsx' in sheet.headers["content-disposition"]
    picture = owner.get("/stock/purchase/export", params={"format": "png"})
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.headers["content-type"] == "image/png"
    book = load_workbook(io.BytesIO(sheet.content), read_only=True)
    assert book.sheetnames[-1] == "补货提醒 restock"
    assert book.sheetnames[:-1] == [order["supplier"] or "未指定供应商"
                                    for order in week["suppliers"]]


@pytest.mark.parametrize(("method", "path", "body", "status", "says"), [
    ("POST", "/stock/deliveries", {"ingredient": "牛肉", "qty": 1}, 404, "no ingredient"),
    ("POST", "/stock/deliveries", {"ingredient": "大米", "qty": -1}, 422, "more than 0"),
    ("POST", "/stock/waste", {"ingredient": "大米", "qty": 0}, 422, "more than 0"),
    ("POST", "/stock/counts", {"ingredient": "大米", "qty": "两斤"}, 422, "not a quantity"),
    ("POST", "/stock/counts", {"ingredient": "大米", "qty": 0.0001}, 422, "three decimals"),
    ("POST", "/stock/counts", {"ingredient": "大米", "qty": True}, 422, "qty"),
    ("POST", "/stock/counts", {"ingredient": "大米", "qty": 1, "by": "x"}, 422, "unknown"),
    ("POST", "/stock/counts", {"qty": 1}, 422, "ingredient"),
    ("GET", "/stock/purchase?days=0", None, 422, "days"),
    ("GET", "/stock/purchase/export?days=29", None, 422, "days"),
    ("GET", "/stock/variance?from=2026-13-01", None, 422, "from"),
    ("GET", "/stock/purchase/export?format=pdf", None, 422, "format"),
])
def test_bad_stock_input_is_a_4xx_that_writes_nothing(stock_hub, method, path, body, status,
                                                       says):
    hub, owner = stock_hub
    with open_store(hub.home) as store:
        before = store.scalar("SELECT COUNT(*) FROM stock_entries")
    answer = owner.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["message"], answer.text
    with open_store(hub.home) as store:
        assert store.scalar("SELECT COUNT(*) FROM stock_entries") == before


def test_a_waiter_and_a_cashier_may_not_touch_stock(stock_hub):
    hub, owner = stock_hub
    for role in ("waiter", "cashier"):
        token = owner.post("/devices", json={"name": f"pad-{role}", "role": role}).json()["token"]
        with hub.client(token) as device:
            assert device.get("/stock/levels").status_code == 403
            assert device.post("/stock/waste", json={"ingredient": "大米", "qty": 1}
                               ).status_code == 403


def test_days_left_counts_the_day_it_runs_out_in_part():
    assert days_left(4000, [2000, 3000, 1000]) == 1.67  # 2 left after day one, 2/3 of day two
    assert days_left(6000, [2000, 2000, 3000]) == 2.67
    assert days_left(4000, [2000, 2000, 1000]) == 2.0
    assert days_left(5000, [1000, 1000]) is None, "lasts the whole horizon"
    assert days_left(0, [1000]) == 0.0 and days_left(-500, [1000]) == 0.0


def test_the_console_shows_levels_days_left_the_purchase_list_and_the_variance(
        stock_hub, tmp_path):
    import asyncio

    from textual.widgets import DataTable, Static
    from textual_plotext import PlotextPlot

    from kiosk.client import HubClient
    from kiosk.console import ConsoleApp

    hub, owner = stock_hub
    assert owner.post("/stock/counts", json={"ingredient": "大米", "qty": "9"}).status_code \
        == 201
    with open_store(hub.home) as store:
        week = purchase(store)
        counts = variance(store, Period(store, None, None))
    app = ConsoleApp(HubClient(hub.url, hub.owner_token, pin=hub.pin), language="en",
                     events=False, export_dir=tmp_path / "out")

    async def scenario():
        async with app.run_test(size=(140, 60)) as pilot:
            await pilot.press("f11")
            levels_table = app.query_one("#stock-levels", DataTable)
            await until(pilot, lambda: levels_table.row_count == len(week["stock_days"]))
            shown = [[str(cell) for cell in levels_table.get_row_at(n)]
                     for n in range(levels_table.row_count)]
            short = {a["ingredient"] for a in week["restock"]}
            assert shown == [[("⚠ " if d["ingredient"] in short else "") + d["ingredient"],
                              f"{d['on_hand']:g}", d["unit"],
                              f"> {week['horizon']}" if d["days_left"] is None
                              else f"{d['days_left']:g}"] for d in week["stock_days"]]
            lines = [line for order in week["suppliers"] for line in order["lines"]]
            assert app.query_one("#stock-purchase", DataTable).row_count == len(lines)
            counted = app.query_one("#stock-variance", DataTable)
            assert [str(counted.get_row_at(n)[-1]) for n in range(counted.row_count)] == \
                [f"{row['variance']:+g}" for row in counts]
            assert str(app.query_one("#stock-restock", Static).render()).startswith("Restock")
            drawn = app.query_one("#stock-chart", PlotextPlot).plt.build()
            assert "Days of stock left" in drawn

            await click(pilot, "#export-stock")
            out = tmp_path / "out"
            await until(pilot, lambda: {p.name for p in out.glob("*")} >=
                        {"purchase.xlsx", "purchase.png"})
            await until(pilot, lambda: (out / "purchase.png").stat().st_size > 1000)

    asyncio.run(scenario())
    assert (tmp_path / "out" / "purchase.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sheets = load_workbook(tmp_path / "out" / "purchase.xlsx", read_only=True).sheetnames
    assert sheets[-1] == "补货提醒 restock"
