"""Ingredients (issue 22, part C): recipes in, the stock ledger that adds up, the variance per
count, the purchase list against a hand computation over the forecast, the restock alert at
its edge, and bad input refused with nothing written."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from hub.cli import cli
from hub.demo_data import DISH_CODES, generate
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.errors import InvalidInput, NotFound
from hub.domain.menu import MenuLine, import_menu
from hub.domain.reports.forecast import forecast
from hub.domain.reports.period import Period
from hub.domain.stock import import_recipes, levels, purchase, recipe, record, variance
from hub.domain.store import Store
from hub.home import open_store
from hub.menu_files import read_rows
from hub.report_files import write_purchase
from tests.conftest import FakeClock
from tests.support.menu import MENU_CSV, laoke

RECIPES = [
    {"code": "HS01", "ingredient": "鸡腿肉", "qty": "0.15", "unit": "kg", "supplier": "鲜禽行",
     "pack_qty": "2", "delivery_weekdays": "2,5"},
    {"code": "HS01", "ingredient": "花生", "qty": "20", "unit": "g"},
    {"code": "RICE", "ingredient": "大米", "qty": "0.1", "unit": "公斤", "supplier": "粮油店",
     "pack_qty": "10"},
]


@pytest.fixture
def till(store, tmp_path):
    menu_file = tmp_path / "menu.csv"
    menu_file.write_text(MENU_CSV, encoding="utf-8")
    import_menu(store, read_rows(menu_file), actor="test")
    import_recipes(store, RECIPES, actor="test")
    return store


def _bill(store, key, *lines):
    checkout(store, CheckoutRequest(idempotency_key=key,
                                    lines=[MenuLine(code, qty) for code, qty in lines]))


def _on_hand(store):
    return {level["ingredient"]: level["on_hand"] for level in levels(store)}


def test_each_ingredient_counts_its_use_from_its_own_last_count(till, clock):
    """Counted at different times (or never): the orders are read once for all of them, and
    each ingredient's level starts from its own count."""
    clock.advance(seconds=1)
    _bill(till, "a", ("HS01", 2), ("RICE", 1))
    clock.advance(seconds=1)
    record(till, "鸡腿肉", "count", "10", actor="test")
    clock.advance(seconds=1)
    _bill(till, "b", ("HS01", 1))
    clock.advance(seconds=1)
    record(till, "花生", "count", "500", actor="test")
    clock.advance(seconds=1)
    _bill(till, "c", ("HS01", 2), ("RICE", 3))
    assert _on_hand(till) == {"鸡腿肉": round(10 - 3 * 0.15, 3), "花生": 500 - 2 * 20,
                              "大米": round(-4 * 0.1, 3)}


def test_an_order_paid_the_instant_the_recipe_came_uses_it(store, tmp_path):
    """At the first recipe's very instant (a fake clock that does not move, or the same
    millisecond): the order used it, counted or not before."""
    menu_file = tmp_path / "menu.csv"
    menu_file.write_text(MENU_CSV, encoding="utf-8")
    import_menu(store, read_rows(menu_file), actor="test")
    import_recipes(store, RECIPES, actor="test")
    _bill(store, "at-once", ("RICE", 2))
    assert _on_hand(store)["大米"] == -0.2


def test_a_platform_order_it_cancelled_used_nothing_and_one_it_refunded_was_eaten(till, clock):
    from hub.domain.delivery import end_order, import_orders, map_dish
    from tests.test_delivery import rows

    map_dish(till, "meituan", "宫保鸡丁", "HS01", actor="test")
    clock.advance(seconds=1)
    record(till, "鸡腿肉", "count", "10", actor="test")
    clock.advance(seconds=1)
    at = clock().isoformat()
    import_orders(till, "meituan", rows(*[(n, at, "", "", "宫保鸡丁", "2", "3800", "0")
                                          for n in ("MT-1", "MT-2", "MT-3")]))
    end_order(till, "meituan", "MT-1", "cancelled")
    end_order(till, "meituan", "MT-2", "refunded")
    assert _on_hand(till)["鸡腿肉"] == round(10 - 2 * 2 * 0.15, 3), \
        "MT-2 and MT-3 were cooked and eaten; MT-1 never was"


def test_a_stocktakes_counts_each_use_what_their_own_span_sold(till, clock):
    """Ingredients counted one after another at a stocktake, an order paid in the middle of
    it, one counted on its own, and first counts: read a stocktake at a time, each count
    still gets exactly the orders of its own span, as the count alone would."""
    from hub.domain.stock import _used

    def bills(key, *lines):
        clock.advance(seconds=1)
        _bill(till, key, *lines)

    def stocktake(counts, midway=None):
        for n, (name, qty) in enumerate(counts):
            clock.advance(seconds=40)
            record(till, name, "count", qty, actor="test")
            if n == 0 and midway:
                bills(*midway)  # sold between two counts of the stocktake

    bills("a", ("HS01", 2), ("RICE", 1))
    stocktake([("鸡腿肉", "5"), ("花生", "800"), ("大米", "9")], ("m1", ("HS01", 1)))
    bills("b", ("HS01", 1), ("RICE", 2))
    clock.advance(hours=2)
    record(till, "大米", "count", "8.5", actor="test")  # rice alone, in between
    bills("c", ("HS01", 3), ("RICE", 1))
    clock.advance(days=7)
    stocktake([("花生", "700"), ("鸡腿肉", "4"), ("大米", "8")], ("m2", ("RICE", 4)))
    found = variance(till, Period(till, None, None))
    used = {(row["ingredient"], row["counted"]): row["used"] for row in found}
    assert used == {("鸡腿肉", 5.0): 0.3, ("花生", 800.0): 60.0, ("大米", 9.0): 0.1,
                    ("大米", 8.5): 0.2, ("鸡腿肉", 4.0): 0.75, ("花生", 700.0): 80.0,
                    ("大米", 8.0): 0.5}, \
        "m1, sold after 鸡腿肉 was counted, is 花生's first count's and 鸡腿肉's next one's"
    entries = till.conn.execute("SELECT ingredient, at FROM stock_entries WHERE kind = 'count' "
                                "ORDER BY ingredient, at").fetchall()
    for row in found:  # each against its own span read on its own
        before = [at for name, at in entries if name == row["ingredient"]
                  and at < row["counted_at"]]
        alone = _used(till, till.store_id, before[-1] if before else None, row["counted_at"],
                      [row["ingredient"]]).get(row["ingredient"], 0)
        assert row["used"] == alone / 1000


@pytest.mark.parametrize("seed", range(12))
def test_the_variance_read_a_stocktake_at_a_time_is_each_count_read_alone(till, clock, seed):
    import random

    from hub.domain.stock import _used

    rng = random.Random(seed)
    names = ["鸡腿肉", "花生", "大米"]
    for n in range(40):
        clock.advance(seconds=rng.choice([0, 1, 30, 600, 3 * 3600, 7 * 3600, 86400]))
        if rng.random() < 0.5:
            _bill(till, f"b{n}", (rng.choice(["HS01", "RICE"]), rng.randint(1, 3)))
        else:
            record(till, rng.choice(names), "count", str(rng.randint(0, 50)), actor="test")
    entries = till.conn.execute("SELECT ingredient, at FROM stock_entries WHERE kind = 'count' "
                                "ORDER BY ingredient, at, id").fetchall()
    found = variance(till, Period(till, None, None))
    assert len(found) == len(entries)
    for n, (row, (name, at)) in enumerate(zip(found, entries, strict=True)):
        before = entries[n - 1][1] if n and entries[n - 1][0] == name else None
        alone = _used(till, till.store_id, before, at, [name])
        assert row["used"] == alone.get(name, 0) / 1000, (seed, name, at)


def test_stock_adds_up_and_the_variance_is_what_a_count_finds_missing(till, clock):
    def step(kind, name, qty):
        clock.advance(seconds=1)
        record(till, name, kind, qty, actor="test")

    step("count", "鸡腿肉", "2")
    step("received", "鸡腿肉", "5")
    clock.advance(seconds=1)
    _bill(till, "a", ("HS01", 3), ("RICE", 2))
    step("waste", "鸡腿肉", "0.4")
    clock.advance(seconds=1)
    _bill(till, "b", ("HS01", 1))
    # 2 + 5 - 4 x 0.15 - 0.4 = 6.0
    assert _on_hand(till)["鸡腿肉"] == 6.0
    assert _on_hand(till)["花生"] == -80 and _on_hand(till)["大米"] == -0.2, \
        "used without a count or delivery: the ledger says so rather than hiding it"
    step("count", "鸡腿肉", "3.5")
    assert _on_hand(till)["鸡腿肉"] == 3.5, "a count is where the levels start again"

    # A new recipe counts from now on; what earlier orders used stays as it was.
    clock.advance(seconds=1)
    again = import_recipes(till, RECIPES, actor="test")
    assert (again.changed, again.unchanged) == (0, 2), "the same file again changes nothing"
    import_recipes(till, [{**RECIPES[0], "qty": "0.2"}, RECIPES[1]], actor="test")
    clock.advance(seconds=1)
    _bill(till, "c", ("HS01", 2))
    step("count", "鸡腿肉", "3")

    found = variance(till, Period(till, None, None))
    assert [row["ingredient"] for row in found] == ["鸡腿肉"] * 3
    first, second, third = found
    assert (first["opening"], first["expected"], first["variance"]) == (0, 0, 2.0)
    assert second == {**second, "opening": 2.0, "received": 5.0, "used": 0.6, "waste": 0.4,
                      "expected": 6.0, "counted": 3.5, "variance": -2.5}
    assert third == {**third, "opening": 3.5, "received": 0, "used": 0.4, "waste": 0,
                     "expected": 3.1, "counted": 3.0}
    for row in found:
        expected = (Decimal(str(row["opening"])) + Decimal(str(row["received"]))
                    - Decimal(str(row["used"])) - Decimal(str(row["waste"])))
        assert Decimal(str(row["counted"])) - expected == Decimal(str(row["variance"]))
    with pytest.raises(Exception, match="never changed"):
        till.conn.execute("UPDATE stock_entries SET qty_milli = 1")


def _nothing_written(store):
    return (store.scalar("SELECT COUNT(*) FROM recipe_lines"),
            store.scalar("SELECT COUNT(*) FROM ingredients"),
            store.scalar("SELECT COUNT(*) FROM suppliers"),
            store.scalar("SELECT COUNT(*) FROM stock_entries"))


@pytest.mark.parametrize(("bad", "message"), [
    ({"code": "NOPE"}, "no dish with code NOPE"),
    ({"qty": "-0.1"}, r"row 5: .*must be more than 0"),
    ({"qty": "0"}, r"row 5: .*must be more than 0"),
    ({"qty": "两"}, "row 5: '两' is not a quantity"),
    ({"qty": "0.0001"}, "more than three decimals"),
    ({"unit": "斤斤"}, "row 5: unknown unit"),
    ({"unit": "g", "ingredient": "鸡腿肉"}, "one ingredient keeps one unit"),
    ({"pack_qty": "-1"}, "pack_qty"),
    ({"supplier": "粮油店", "delivery_weekdays": "8"}, "not weekdays 1-7"),
    ({"supplier": "", "delivery_weekdays": "1"}, "needs a supplier"),
])
def test_a_bad_recipe_row_refuses_the_file_and_writes_nothing(store, tmp_path, bad, message):
    menu_file = tmp_path / "menu.csv"
    menu_file.write_text(MENU_CSV, encoding="utf-8")
    import_menu(store, read_rows(menu_file), actor="test")
    row = {"code": "LC01", "ingredient": "黄瓜", "qty": "0.3", "unit": "kg", **bad}
    with pytest.raises(InvalidInput, match=message):
        import_recipes(store, [*RECIPES, row], actor="test")
    assert _nothing_written(store) == (0, 0, 0, 0)


def test_bad_stock_entries_are_refused_and_a_kept_unit_stays(till):
    before = _on_hand(till)
    for kind, name, qty, error in [("received", "鸡腿肉", "-1", InvalidInput),
                                   ("waste", "鸡腿肉", "0", InvalidInput),
                                   ("received", "羊肉", "1", NotFound),
                                   ("spilt", "鸡腿肉", "1", InvalidInput)]:
        with pytest.raises(error):
            record(till, name, kind, qty, actor="test")
    assert till.scalar("SELECT COUNT(*) FROM stock_entries") == 0 and _on_hand(till) == before
    with pytest.raises(InvalidInput, match="鸡腿肉 is kept in kg, not g"):
        import_recipes(till, [{**RECIPES[0], "qty": "150", "unit": "g"}], actor="test")
    assert recipe(till, "HS01") == {"鸡腿肉": 150, "花生": 20_000}
    assert record(till, "花生", "count", "0", actor="test")["qty"] == 0


# -- the purchase list over a demo store's forecast ------------------------------------------

DEMO_RECIPES = [  # two dishes share the lamb; the peanuts come from a supplier without days
    ("宫保鸡丁", "羊肉", "0.2", "kg", "清真肉店", "5", "1"),
    ("鱼香肉丝", "羊肉", "0.15", "kg", "清真肉店", "5", "1"),
    ("宫保鸡丁", "花生", "30", "g", "干货行", "", ""),
    ("麻婆豆腐", "豆腐", "1", "pcs", "豆腐坊", "12", "4"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = new_settings("s1")
    settings.storage.synchronous = "normal"
    clock = FakeClock()
    with Store(tmp_path_factory.mktemp("stock") / "laoke.db", settings, clock) as store:
        generate(store, members=60, days=42, seed=22)
        import_recipes(store, [
            {"code": DISH_CODES[dish], "ingredient": name, "qty": qty, "unit": unit,
             "supplier": supplier, "pack_qty": pack, "delivery_weekdays": days}
            for dish, name, qty, unit, supplier, pack, days in DEMO_RECIPES], actor="test")
        yield store, clock


def _hand_need(store):
    """Each ingredient's use on each day ahead, from the forecast's dishes and DEMO_RECIPES."""
    ahead = forecast(store, Period(store, None, None), days_ahead=7, dish_limit=None,
                     backtest_days=0)["next_week"]
    need = defaultdict(lambda: [Decimal(0)] * 7)
    for n, day in enumerate(ahead):
        sold = {dish["dish"]: dish["qty"] for dish in day["prepare"]}
        for dish, name, qty, *_ in DEMO_RECIPES:
            need[name][n] += sold.get(dish, 0) * Decimal(qty)
    return [date.fromisoformat(day["date"]) for day in ahead], need


def _count(store, clock, name, qty):
    clock.advance(seconds=1)
    record(store, name, "count", str(qty), actor="test")


def test_the_purchase_list_is_the_forecast_times_the_recipes_less_stock_in_packs(demo, tmp_path):
    store, clock = demo
    _, need = _hand_need(store)
    assert all(sum(days) > 0 for days in need.values()), "every dish is forecast to sell"
    on_hand = {"羊肉": Decimal("3.5"), "花生": Decimal(0), "豆腐": sum(need["豆腐"]) + 1}
    for name, qty in on_hand.items():
        _count(store, clock, name, qty)
    packs = {"羊肉": 5, "豆腐": 12}
    expected = {}
    for name, days in need.items():
        short = max(sum(days) - on_hand[name], Decimal(0))
        whole = math.ceil(short / packs[name]) if name in packs else None
        expected[name] = (float(sum(days)), float(short), whole,
                          float(short if whole is None else whole * packs[name]))
    found = purchase(store, 7)
    assert [order["supplier"] for order in found["suppliers"]] == ["干货行", "清真肉店", "豆腐坊"]
    got = {line["ingredient"]: (line["need"], line["to_buy"], line["packs"], line["buy"])
           for order in found["suppliers"] for line in order["lines"]}
    assert got == expected
    assert got["豆腐"][1:] == (0, 0, 0), "enough on hand: nothing to buy"
    assert found["unforecast"] == []
    sheets = load_workbook(write_purchase(found, tmp_path / "buy.xlsx"), read_only=True)
    assert sheets.sheetnames == ["干货行", "清真肉店", "豆腐坊", "补货提醒 restock"]
    rows = list(sheets["清真肉店"].iter_rows(values_only=True))
    assert rows[0][:2] == ("ingredient", "unit") and rows[1][:2] == ("羊肉", "kg")
    assert rows[1][rows[0].index("packs")] == expected["羊肉"][2]


def test_the_restock_alert_fires_only_when_stock_runs_out_before_the_delivery(demo):
    store, clock = demo
    dates, need = _hand_need(store)
    today = dates[0] - timedelta(days=1)
    # 清真肉店 delivers on Mondays: what the lamb must last is every day before the next one.
    monday = next(day for day in dates if day.isoweekday() == 1)
    lasts = sum(used for day, used in zip(dates, need["羊肉"], strict=True) if day < monday)
    assert today.isoweekday() != 1 and lasts > 0
    _count(store, clock, "羊肉", lasts)
    assert "羊肉" not in {alert["ingredient"] for alert in purchase(store)["restock"]}
    _count(store, clock, "羊肉", lasts - Decimal("0.001"))
    alert = next(a for a in purchase(store)["restock"] if a["ingredient"] == "羊肉")
    running, out = lasts - Decimal("0.001"), None
    for day, used in zip(dates, need["羊肉"], strict=True):
        running -= used
        if running < 0:
            out = day
            break
    assert alert == {"ingredient": "羊肉", "unit": "kg", "supplier": "清真肉店",
                     "on_hand": float(lasts - Decimal("0.001")), "runs_out_on": out.isoformat(),
                     "next_delivery": monday.isoformat()}
    # Peanuts run out at once, but their supplier has no delivery days: no alert to time.
    _count(store, clock, "花生", 0)
    assert "花生" not in {alert["ingredient"] for alert in purchase(store)["restock"]}


def test_the_commands_import_recipes_and_write_the_purchase_list(tmp_path):
    home = tmp_path / "home"
    menu_file, recipes = tmp_path / "menu.csv", tmp_path / "recipes.csv"
    menu_file.write_text(MENU_CSV, encoding="utf-8")
    recipes.write_text("\ufeffcode,ingredient,qty,unit,supplier,pack_qty,delivery_weekdays\n"
                       "HS01,鸡腿肉,0.15,kg,鲜禽行,2,\"2,5\"\n", encoding="utf-8")
    with open_store(home) as store:
        import_menu(store, read_rows(menu_file), actor="test")
    out = tmp_path / "buy.xlsx"
    imported = CliRunner().invoke(cli, ["--home", str(home), "stock", "recipes", "import",
                                        str(recipes)])
    assert imported.output.strip() == "1 recipes changed, 0 unchanged, 1 ingredients"
    for args in (["receive", "鸡腿肉", "2"], ["waste", "鸡腿肉", "0.5"],
                 ["count", "鸡腿肉", "1.5"]):
        done = CliRunner().invoke(cli, ["--home", str(home), "stock", *args, "--json"])
        assert json.loads(done.output)["qty"] == float(args[2]), done.output
    with open_store(home) as store:
        assert [(e["kind"], e["qty_milli"]) for e in store.conn.execute(
            "SELECT kind, qty_milli FROM stock_entries ORDER BY at, id")] == [
            ("received", 2000), ("waste", 500), ("count", 1500)]
        assert levels(store)[0]["on_hand"] == 1.5
        week = purchase(store)
    printed = laoke(home, "stock", "purchase", "--json", "--out", str(out))
    assert json.loads(printed) == week
    sheets = load_workbook(out, read_only=True).sheetnames
    assert sheets == ["补货提醒 restock"], "a store with no sales yet has nothing to buy"


MENU_WITH_RECIPES = ("\ufeffcode,name,category,price_fen,ingredient,qty,unit,supplier,pack_qty,"
                     "delivery_weekdays\n"
                     "HS01,宫保鸡丁,热菜,4800,鸡腿肉,0.15,kg,鲜禽行,2,\"2,5\"\n"
                     "HS01,,,,花生,20,g,,,\n"
                     "LC01,拍黄瓜,凉菜,1800,,,,,,\n"
                     "RICE,米饭,主食,300,大米,0.1,公斤,粮油店,10,\n")


def _menu_import(home, path):
    return CliRunner().invoke(cli, ["--home", str(home), "menu", "import", str(path)])


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_the_menu_file_carries_the_recipes_and_the_same_file_again_changes_nothing(
        tmp_path, suffix):
    from openpyxl import Workbook

    home, path = tmp_path / "home", tmp_path / f"menu{suffix}"
    if suffix == ".csv":
        path.write_text(MENU_WITH_RECIPES, encoding="utf-8")
    else:
        book = Workbook()
        for line in MENU_WITH_RECIPES.lstrip("\ufeff").splitlines():
            book.active.append([cell or None for cell in
                                line.replace('"2,5"', "2 5").split(",")])
        book.save(path)
    done = _menu_import(home, path)
    assert done.output.splitlines() == ["3 added, 0 updated, 0 unchanged",
                                        "2 recipes changed, 0 unchanged, 3 ingredients"], \
        done.output
    with open_store(home) as store:
        assert [d["code"] for d in store.conn.execute(
            "SELECT code FROM menu_dishes ORDER BY position")] == ["HS01", "LC01", "RICE"], \
            "a recipe row is no dish"
        assert recipe(store, "HS01") == {"鸡腿肉": 150, "花生": 20_000}
        assert recipe(store, "RICE") == {"大米": 100} and recipe(store, "LC01") == {}
        assert store.one("SELECT delivery_weekdays FROM suppliers WHERE name = '鲜禽行'")[0] \
            == "2,5"
    assert _menu_import(home, path).output.splitlines() == [
        "0 added, 0 updated, 3 unchanged", "0 recipes changed, 2 unchanged, 3 ingredients"]

    # A menu file without the recipe columns keeps the recipes.
    (tmp_path / "plain.csv").write_text(MENU_CSV, encoding="utf-8")
    assert _menu_import(home, tmp_path / "plain.csv").exit_code == 0
    with open_store(home) as store:
        assert recipe(store, "HS01") == {"鸡腿肉": 150, "花生": 20_000}


@pytest.mark.parametrize(("row", "message"), [
    ("HS01,,,,花生,20,斤,,,", "row 3: unknown unit"),
    ("NOPE,,,,花生,20,g,,,", "no dish with code NOPE"),
    ("XL01,和牛,热菜,28800,,0.1,kg,,,", "row 3: qty, unit without an ingredient"),
    (",,,,花生,20,g,,,", "row 3: code and ingredient are required"),
])
def test_a_bad_recipe_row_in_the_menu_file_refuses_dishes_and_recipes_alike(
        tmp_path, row, message):
    home, path = tmp_path / "home", tmp_path / "menu.csv"
    lines = MENU_WITH_RECIPES.splitlines()
    path.write_text("\n".join([lines[0], lines[1], row, *lines[3:]]) + "\n", encoding="utf-8")
    done = _menu_import(home, path)
    assert isinstance(done.exception, InvalidInput), done.output
    assert re.search(message, str(done.exception)), str(done.exception)
    with open_store(home) as store:
        assert store.scalar("SELECT COUNT(*) FROM menu_dishes") == 0
        assert store.scalar("SELECT COUNT(*) FROM recipe_lines") == 0
        assert store.scalar("SELECT COUNT(*) FROM outbox") == 0


def test_hq_refuses_to_push_recipes_with_the_chain_menu(tmp_path):
    path = tmp_path / "menu.csv"
    path.write_text(MENU_WITH_RECIPES, encoding="utf-8")
    done = CliRunner().invoke(cli, ["--home", str(tmp_path / "hq"), "hq", "push", "menu",
                                    str(path)])
    assert isinstance(done.exception, InvalidInput)
    assert "row 2: recipes are each store's own" in str(done.exception)
