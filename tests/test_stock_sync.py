"""Stock reaches HQ (issue 22, part B, item 1): every stock entry, recipe version, ingredient
and supplier goes to the outbox with the change; HQ's chain books and a hub restored from HQ
then hold the same stock as the store, each store's apart from the others'."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.errors import InvalidInput, NotFound
from hub.domain.menu import MenuLine, import_menu
from hub.domain.reports.period import Period
from hub.domain.restore import finish, restore_page
from hub.domain.schema import STEPS
from hub.domain.stock import import_recipes, levels, record, variance
from hub.domain.store import Store
from hub.menu_files import read_rows
from sync.chain import catch_up, open_chain
from sync.hq import HqBook
from tests.conftest import FakeClock
from tests.support.chain import hand_to_hq
from tests.support.menu import MENU_CSV

RECIPES = [
    {"code": "HS01", "ingredient": "鸡腿肉", "qty": "0.15", "unit": "kg", "supplier": "鲜禽行",
     "pack_qty": "2", "delivery_weekdays": "2,5"},
    {"code": "HS01", "ingredient": "花生", "qty": "20", "unit": "g"},
    {"code": "RICE", "ingredient": "大米", "qty": "0.1", "unit": "kg", "supplier": "粮油店"},
]


def _open(tmp_path, store_id, clock, name=None, steps=STEPS):
    settings = new_settings(store_id)
    settings.storage.synchronous = "normal"
    return Store(tmp_path / f"{name or store_id}.db", settings, clock, steps=steps)


def _trade(store, clock, chicken_per_portion, counted):
    """A store's fortnight of stock: recipes, deliveries, sales, waste, counts, a recipe
    changed between sales, and the supplier's days changed."""
    menu = store.path.with_suffix(".csv")
    menu.write_text(MENU_CSV, encoding="utf-8")
    import_menu(store, read_rows(menu), actor="test")
    import_recipes(store, [{**RECIPES[0], "qty": chicken_per_portion}, *RECIPES[1:]], "test")

    def step(kind, name, qty):
        clock.advance(minutes=5)
        record(store, name, kind, qty, actor="test", note="周一到货")

    def bill(key, *lines):
        clock.advance(minutes=5)
        checkout(store, CheckoutRequest(idempotency_key=f"{store.store_id}-{key}",
                                        lines=[MenuLine(code, qty) for code, qty in lines]))

    step("count", "鸡腿肉", "2")
    step("received", "鸡腿肉", "5")
    step("received", "大米", "10")
    bill("a", ("HS01", 3), ("RICE", 2))
    step("waste", "鸡腿肉", "0.4")
    clock.advance(minutes=5)
    import_recipes(store, [{**RECIPES[0], "qty": "0.2", "delivery_weekdays": "3"},
                           RECIPES[1]], "test")  # a new version from now on
    bill("b", ("HS01", 2))
    step("count", "鸡腿肉", counted)
    bill("c", ("HS01", 1))
    step("count", "大米", "0")


def _books(store, store_id=None):
    """What a person reads of a store's stock, and every recipe version it kept."""
    sid = store_id or store.store_id
    return {
        "levels": levels(store, sid),
        "variance": variance(store, Period(store, None, None), sid),
        "recipes": [dict(r) for r in store.conn.execute(
            "SELECT id, dish, ingredient, qty_milli, since, until FROM recipe_lines WHERE "
            "store_id = ? ORDER BY dish, since, ingredient", (sid,))],
        "suppliers": [dict(r) for r in store.conn.execute(
            "SELECT name, delivery_weekdays FROM suppliers WHERE store_id = ? ORDER BY name",
            (sid,))],
        "ingredients": [dict(r) for r in store.conn.execute(
            "SELECT name, unit, supplier, pack_milli FROM ingredients WHERE store_id = ? "
            "ORDER BY name", (sid,))]}


@pytest.fixture
def chain(tmp_path):
    """Two stores that traded with the same ingredient names, and the HQ book they sent
    everything to."""
    clock = FakeClock()
    stores = {"s-a": _open(tmp_path, "s-a", clock), "s-b": _open(tmp_path, "s-b", clock)}
    _trade(stores["s-a"], clock, "0.15", "5.1")
    _trade(stores["s-b"], clock, "0.25", "4")
    (tmp_path / "hq").mkdir()
    book = HqBook(tmp_path / "hq" / "hq.db", clock)
    for shop in stores.values():
        hand_to_hq(book, shop)
    hand_to_hq(book, stores["s-a"])  # sent twice: HQ keeps it once
    yield stores, book, clock
    for shop in stores.values():
        shop.close()
    book.conn.close()


def test_every_stock_change_goes_to_the_outbox_with_the_row_it_wrote(chain):
    stores, _, _ = chain
    a = stores["s-a"]
    sent = [(r["type"], json.loads(r["data"])) for r in a.conn.execute(
        "SELECT type, data FROM outbox WHERE type LIKE 'stock.%' ORDER BY seq")]
    entries = [dict(r) for r in a.conn.execute("SELECT * FROM stock_entries ORDER BY at")]
    assert [d for kind, d in sent if kind == "stock.entry"] == entries
    versions = [d for kind, d in sent if kind == "stock.recipe"]
    assert [(v["dish"], {line["ingredient"]: line["qty_milli"] for line in v["lines"]})
            for v in versions] == [("HS01", {"鸡腿肉": 150, "花生": 20_000}),
                                   ("RICE", {"大米": 100}),
                                   ("HS01", {"鸡腿肉": 200, "花生": 20_000})]
    assert [d for kind, d in sent if kind == "stock.supplier"] == [
        {"store_id": "s-a", "name": "鲜禽行", "delivery_weekdays": "2,5"},
        {"store_id": "s-a", "name": "粮油店", "delivery_weekdays": ""},
        {"store_id": "s-a", "name": "鲜禽行", "delivery_weekdays": "3"}]
    assert len([d for kind, d in sent if kind == "stock.ingredient"]) == 3, \
        "the same ingredient again, unchanged, sends nothing"

    before = a.scalar("SELECT COUNT(*) FROM outbox")
    with pytest.raises(NotFound):
        record(a, "牛肉", "received", "3", actor="test")
    with pytest.raises(InvalidInput):
        import_recipes(a, [{**RECIPES[0], "code": "NOPE"}], "test")
    import_recipes(a, [{**RECIPES[0], "qty": "0.2", "delivery_weekdays": "3"}, RECIPES[1]],
                   "test")  # what is there already
    assert a.scalar("SELECT COUNT(*) FROM outbox") == before, \
        "a refused change and one that changes nothing send nothing"


def test_hqs_chain_books_hold_each_stores_stock_as_the_store_does(chain, tmp_path):
    stores, book, clock = chain
    with open_chain(tmp_path / "hq") as books:
        books.clock = clock
        catch_up(books, book)
        assert not books.scalar("SELECT COUNT(*) FROM sync_conflicts")
        for store_id, shop in stores.items():
            assert len(_books(shop)["variance"]) == 3
            assert _books(books, store_id) == _books(shop)
        a, b = (levels(stores[s]) for s in ("s-a", "s-b"))
        assert {x["ingredient"]: x["on_hand"] for x in a}["鸡腿肉"] != \
            {x["ingredient"]: x["on_hand"] for x in b}["鸡腿肉"], \
            "the same ingredient at two stores is two stocks"

    shown = CliRunner().invoke(cli, ["--home", str(tmp_path / "hq"), "hq", "stock", "s-b",
                                     "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {"store": "s-b", "levels": levels(stores["s-b"])}
    unknown = CliRunner().invoke(cli, ["--home", str(tmp_path / "hq"), "hq", "stock", "s-z"])
    assert isinstance(unknown.exception, NotFound) and "'s-z'" in str(unknown.exception)


def test_a_hub_restored_from_hq_has_the_stores_stock(chain, tmp_path):
    stores, book, clock = chain
    with _open(tmp_path, "s-a", clock, name="restored") as restored:
        page = book.history("s-a", 0)
        assert not page["more"]
        finish(restored, restore_page(restored, page["events"]))
        assert _books(restored) == _books(stores["s-a"])
        clock.advance(minutes=5)
        record(restored, "鸡腿肉", "received", "2", actor="test")
        assert {x["ingredient"]: x["on_hand"] for x in levels(restored)}["鸡腿肉"] == \
            {x["ingredient"]: x["on_hand"] for x in levels(stores["s-a"])}["鸡腿肉"] + 2


def test_a_store_from_before_0043_keeps_its_stock_under_its_own_id(tmp_path):
    clock = FakeClock()
    before = tuple(step for step in STEPS if step[0] != "0043_stock_by_store")
    with _open(tmp_path, "s-a", clock, steps=before) as old:
        old.conn.execute("BEGIN")
        old.conn.execute("INSERT INTO suppliers (name, delivery_weekdays) VALUES ('鲜禽行', '2')")
        old.conn.execute("INSERT INTO ingredients (name, unit, supplier) VALUES "
                         "('鸡腿肉', 'kg', '鲜禽行')")
        old.conn.execute("INSERT INTO recipe_lines (id, dish, ingredient, qty_milli, since) "
                         "VALUES ('r1', 'HS01', '鸡腿肉', 150, '2026-01-01T00:00:00.000Z')")
        old.conn.execute("INSERT INTO stock_entries (id, ingredient, kind, qty_milli, actor, at) "
                         "VALUES ('e1', '鸡腿肉', 'count', 2500, 'cli', "
                         "'2026-01-01T00:00:00.000Z')")
        old.conn.execute("COMMIT")
    with _open(tmp_path, "s-a", clock) as new:
        assert levels(new) == [{"ingredient": "鸡腿肉", "unit": "kg", "supplier": "鲜禽行",
                                "on_hand": 2.5, "counted_at": "2026-01-01T00:00:00.000Z"}]
        assert new.scalar("SELECT COUNT(*) FROM recipe_lines WHERE store_id = 's-a'") == 1
        with pytest.raises(Exception, match="never changed"):
            new.conn.execute("UPDATE stock_entries SET qty_milli = 1")
