"""Regions at HQ (issue 23): stores filed under a region, the totals per region, and every
store report over a region's books, equal to the same report over a chain of only those
stores (and the guest from elsewhere who came to them). A store moved to another region
rebuilds the books; an erasure elsewhere follows the guest in."""

import json

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.ledgers import top_up
from hub.domain.members import NewMember, add_member, erase_member
from hub.domain.replica import apply_page
from hub.domain.reports import REPORTS, report
from hub.domain.store import Store
from sync.chain import ChainBooks, catch_up, chain_books, open_region
from sync.hq import HqBook
from tests.support.chain import hand_to_hq
from tests.support.hubproc import wait_until

DISHES = (("水煮鱼", 12800), ("米饭", 300), ("酸汤肥牛", 8800), ("啤酒", 1500))


def _sell(shop, prefix, guests, visitor=None):
    for n in range(guests):
        member = add_member(shop, NewMember(name=f"客{n}", phone=f"13{prefix}{n:08d}"))
        if n % 2:
            top_up(shop, member["id"], 20_000)
        dish, price = DISHES[n % len(DISHES)]
        checkout(shop, CheckoutRequest(f"{prefix}-{n}", [Line(dish, 1 + n % 3, price),
                                                        Line("米饭", 2, 300)],
                                       member_id=member["id"]))
    checkout(shop, CheckoutRequest(f"{prefix}-walk-in", [Line("啤酒", 6, 1500)]))
    if visitor is not None:
        checkout(shop, CheckoutRequest(f"{prefix}-visitor", [Line("酸汤肥牛", 2, 8800)],
                                       member_id=visitor))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """HQ with s-a and s-b (华东) and s-c (华北), whose first guest eats at s-a too; and a
    second HQ that heard only what a chain of s-a and s-b would have: theirs and that
    guest's joining."""
    tmp = tmp_path_factory.mktemp("regions")
    (home := tmp / "hq").mkdir()
    (alone := tmp / "east-only").mkdir()
    book, east_only = HqBook(home / "hq.db"), HqBook(alone / "hq.db")
    shops = {sid: Store(tmp / f"{sid}.db", new_settings(sid)) for sid in ("s-a", "s-b", "s-c")}
    visitor = add_member(shops["s-c"], NewMember(name="北京来的客人", phone="13900000001"))
    hand_to_hq(book, shops["s-c"])
    hand_to_hq(east_only, shops["s-c"])  # only that guest's joining: s-c's first event
    page = json.loads(book.feed("s-a", 0))
    apply_page(shops["s-a"], page["events"], page["position"])
    _sell(shops["s-a"], "1", 6, visitor=visitor["id"])
    _sell(shops["s-b"], "2", 5)
    _sell(shops["s-c"], "3", 7)
    for sid in ("s-a", "s-b"):
        hand_to_hq(book, shops[sid])
        hand_to_hq(east_only, shops[sid])
    hand_to_hq(book, shops["s-c"])
    for sid, region in (("s-a", "华东"), ("s-b", "华东"), ("s-c", "华北")):
        book.set_region(sid, region)
    yield home, alone, book, shops, visitor
    for shop in shops.values():
        shop.close()
    book.conn.close()
    east_only.conn.close()


def test_every_report_over_a_region_equals_it_over_a_chain_of_only_its_stores(chain):
    home, alone, _, _, _ = chain
    with chain_books(alone) as expected_books:
        expected = {name: report(expected_books, name) for name in REPORTS}
    with chain_books(home, region="华东") as region:
        got = {name: report(region, name) for name in REPORTS}
    for name in REPORTS:
        assert got[name] == expected[name], name
    assert sum(d["qty"] for d in got["dishes"]["dishes"]) == sum(
        2 + 1 + n % 3 for n in range(6)) + 6 + 2 + sum(2 + 1 + n % 3 for n in range(5)) + 6
    with chain_books(home) as whole:  # and the chain's own books still hold all three
        assert whole.scalar("SELECT COUNT(*) FROM orders") == 8 + 6 + 8


def test_region_totals_add_up_their_stores(chain):
    _, _, book, shops, _ = chain
    east = book.report("华东")
    orders = {sid: shops[sid].scalar("SELECT COUNT(*) FROM orders") for sid in shops}
    assert sorted(east["stores"]) == ["s-a", "s-b"]
    assert east["totals"]["orders"] == orders["s-a"] + orders["s-b"]
    chain_wide = book.report()
    north = chain_wide["stores"]["s-c"]
    assert chain_wide["regions"]["华北"] == {
        "members": north["members"], "orders": north["orders"], "revenue_fen":
        north["revenue_fen"], "stores": 1}
    revenue = sum(shops[sid].scalar("SELECT SUM(total_fen - discount_fen) FROM orders")
                  for sid in ("s-a", "s-b"))
    assert east["totals"]["revenue_fen"] == revenue
    with pytest.raises(ValueError, match="华南"):
        book.report("华南")


def test_an_erasure_elsewhere_follows_the_guest_and_a_move_rebuilds_the_books(chain):
    home, _, book, shops, visitor = chain
    erase_member(shops["s-c"], visitor["id"], "owner", "asked")
    hand_to_hq(book, shops["s-c"])
    with chain_books(home, region="华东") as region:
        row = region.conn.execute("SELECT name, phone, erased_at FROM members WHERE id = ?",
                                  (visitor["id"],)).fetchone()
        assert row["name"] is None and row["phone"] is None and row["erased_at"]
        assert region.scalar("SELECT COUNT(*) FROM orders") == 8 + 6
    book.set_region("s-b", "华北")
    with chain_books(home, region="华东") as region:
        assert region.scalar("SELECT COUNT(*) FROM orders") == 8, "s-b left: only s-a's"
        assert region.scalar("SELECT COUNT(DISTINCT store_id) FROM orders") == 1
    book.set_region("s-b", "华东")


def test_an_operator_files_stores_and_reads_a_region_from_the_command_line(chain, tmp_path):
    home, _, _, _, _ = chain

    def hq(*args, ok=True):
        done = CliRunner().invoke(cli, ["--home", str(home), "hq", *args])
        assert (done.exit_code == 0) == ok, done.output
        return done.output

    sheet = tmp_path / "regions.csv"
    sheet.write_text("store_id,region\ns-a,华东\ns-b,华东\ns-c,华北\ns-new,西南\n")
    assert "4 stores filed" in hq("regions", "import", str(sheet))
    filed = json.loads(hq("regions", "--json"))["regions"]
    assert filed["s-new"] == "西南" and filed["s-a"] == "华东"
    dishes = json.loads(hq("report", "dishes", "--region", "华北", "--json"))["dishes"]
    shop_c = chain[3]["s-c"]
    assert {d["dish"]: d["qty"] for d in dishes} == {r[0]: r[1] for r in shop_c.conn.execute(
        "SELECT dish, SUM(qty) FROM order_lines GROUP BY dish")}
    assert "no store is filed under region '华中'" in hq("report", "dishes", "--region", "华中",
                                                       ok=False)
    fleet = json.loads(hq("stores", "--region", "华东", "--json"))
    assert [s["store_id"] for s in fleet["stores"]] == ["s-a", "s-b"]
    assert "is not a store id" in hq("regions", "set", "bad id!", "华东", ok=False)
    hq("regions", "clear", "s-new")
    assert "s-new" not in json.loads(hq("regions", "--json"))["regions"]


def test_hq_keeps_each_regions_books_as_it_applies(chain):
    home, _, book, shops, _ = chain
    keeper = ChainBooks(home, book, every_s=0.05).start()
    try:
        wait_until(lambda: keeper.state()["regions"] == 2 and keeper.state()["replayed"] > 0)
        checkout(shops["s-b"], CheckoutRequest("2-later", [Line("啤酒", 1, 1500)]))
        hand_to_hq(book, shops["s-b"])
        east = book.region_stores("华东")
        wait_until(lambda: _orders_in(open_region(home, "华东", east)) == 8 + 7)
    finally:
        keeper.stop()
    with open_region(home, "华东", east) as books:
        assert catch_up(books, book, east) == 0, "a report after them replays nothing"


def _orders_in(books):
    with books:
        return books.scalar("SELECT COUNT(*) FROM orders")
