"""The menu and the till that prices from it: the file in and out, the rules, and checkout
by code with tenders over real HTTP (shared/SPEC.md, "The till")."""

from __future__ import annotations

import json

import pytest

from hub.domain.errors import InvalidInput, NotFound
from hub.domain.members import NewMember, add_member
from hub.domain.menu import import_menu, keep_price, menu, price_history, save_dish
from hub.menu_files import read_rows
from tests.support.menu import MENU_CSV, laoke


@pytest.fixture
def menu_file(tmp_path):
    path = tmp_path / "menu.csv"
    path.write_text(MENU_CSV, encoding="utf-8")
    return path


def test_a_menu_file_imports_once_and_again_changes_nothing(store, menu_file):
    first = import_menu(store, read_rows(menu_file), actor="test")
    assert (first.added, first.updated, first.unchanged) == (4, 0, 0)
    dishes = {dish["code"]: dish for dish in menu(store)}
    assert dishes["HS01"] == {
        "code": "HS01", "name": "宫保鸡丁", "name_en": "", "category": "热菜", "price_fen": 4800,
        "member_price_fen": 4200, "station": "热菜间", "daily_limit": None, "tags": [],
        "members_only": False, "available": True, "initials": "gbjd", "set_groups": None,
        "from_chain": False, "retired": False, "portions_left": None, "running_low": False}
    assert dishes["LC01"]["member_price_fen"] is None
    assert dishes["XL01"]["members_only"] and dishes["XL01"]["daily_limit"] == 2
    again = import_menu(store, read_rows(menu_file), actor="test")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert len(price_history(store, "HS01")) == 1


def test_a_price_change_keeps_its_history(store, menu_file):
    import_menu(store, read_rows(menu_file), actor="test")
    save_dish(store, {"code": "HS01", "price_fen": 5200}, actor="owner")
    dish = {d["code"]: d for d in menu(store)}["HS01"]
    assert dish["price_fen"] == 5200 and dish["member_price_fen"] == 4200, "the rest stays"
    assert [h["price_fen"] for h in price_history(store, "HS01")] == [4800, 5200]


def test_one_bad_row_names_itself_and_changes_nothing(store, menu_file):
    text = MENU_CSV.replace("LC01,拍黄瓜,凉菜,1800", "LC01,拍黄瓜,凉菜,十八元")
    menu_file.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match="row 3: price_fen"):
        import_menu(store, read_rows(menu_file), actor="test")
    assert menu(store) == []
    menu_file.write_text(MENU_CSV + "HS01,宫保鸡丁,热菜,4800,,,0,,\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="row 6: code 'HS01' appears twice"):
        import_menu(store, read_rows(menu_file), actor="test")
    with pytest.raises(InvalidInput, match="member price is above the price"):
        save_dish(store, {"code": "X1", "name": "汤", "price_fen": 100,
                          "member_price_fen": 200}, actor="test")


def test_the_menu_goes_out_and_back_as_csv_and_xlsx(tmp_path, menu_file):
    laoke(tmp_path / "a", "menu", "import", str(menu_file))
    laoke(tmp_path / "a", "menu", "export", "--out", str(tmp_path / "menu.xlsx"))
    laoke(tmp_path / "b", "menu", "import", str(tmp_path / "menu.xlsx"))
    laoke(tmp_path / "b", "menu", "export", "--out", str(tmp_path / "again.csv"))
    laoke(tmp_path / "c", "menu", "import", str(tmp_path / "again.csv"))
    shown = [json.loads(laoke(tmp_path / home, "menu", "list", "--json"))["dishes"]
             for home in ("a", "b", "c")]
    assert shown[0] == shown[1] == shown[2] and len(shown[0]) == 4
    assert "宫保鸡丁" in laoke(tmp_path / "a", "menu", "list")


def test_an_old_price_kept_for_a_regular(store, menu_file):
    import_menu(store, read_rows(menu_file), actor="test")
    regular = add_member(store, NewMember(name="李姐", phone="13800138001"))
    save_dish(store, {"code": "LC01", "price_fen": 2200}, actor="owner")
    kept = keep_price(store, "LC01", "2027-01-31", "owner", member_id=regular["id"])
    assert kept["price_fen"] == 1800, "by default the price before the last change"
    from hub.domain.menu import get_dish, unit_price

    dish = get_dish(store, "LC01")
    assert unit_price(store, dish, regular) == 1800
    newcomer = add_member(store, NewMember(name="张三", phone="13800138002"))
    assert unit_price(store, dish, newcomer) == 2200
    assert unit_price(store, dish, None) == 2200


@pytest.fixture(scope="module")
def till(tmp_path_factory):
    """A running hub with the menu, an owner's and a waiter's client, and a guest."""
    from tests.support.hubproc import RunningHub

    folder = tmp_path_factory.mktemp("till")
    path = folder / "menu.csv"
    path.write_text(MENU_CSV, encoding="utf-8")
    laoke(folder / "home", "menu", "import", str(path))
    hub = RunningHub(folder / "home").start()
    owner = hub.client()
    waiter_token = owner.post("/devices", json={"name": "pad", "role": "waiter"}).json()["token"]
    guest = owner.post("/members", json={"name": "王芳", "phone": "13900139000",
                                         "marketing_consent": False}).json()
    yield hub, owner, hub.client(waiter_token), guest
    owner.close()
    hub.stop()


def pay(api, key, **body):
    return api.post("/checkouts", json=body, headers={"Idempotency-Key": key})


def test_tablets_read_the_menu(till):
    _, _, waiter, _ = till
    dishes = waiter.get("/menu").json()["dishes"]
    assert {d["code"] for d in dishes} == {"HS01", "LC01", "XL01", "RICE"}
    assert set(dishes[0]) == {"code", "name", "name_en", "category", "price_fen",
                              "member_price_fen", "station", "members_only", "daily_limit",
                              "available", "tags", "initials", "set_groups", "from_chain",
                              "retired", "portions_left", "running_low"}
    assert waiter.put("/menu/dishes/HS01", json={"price_fen": 1}).status_code == 403


def test_checkout_by_code_prices_for_the_member_and_records_tenders(till):
    _, owner, _, guest = till
    bill = pay(owner, "code-1", member_id=guest["id"],
               lines=[{"code": "HS01", "qty": 2}, {"code": "RICE", "qty": 2},
                      {"dish": "开瓶费", "qty": 1, "unit_price_fen": 2000}]).json()
    assert bill["lines"] == [
        {"code": "HS01", "dish": "宫保鸡丁", "qty": 2, "unit_price_fen": 4200},
        {"code": "RICE", "dish": "米饭", "qty": 2, "unit_price_fen": 300},
        {"code": None, "dish": "开瓶费", "qty": 1, "unit_price_fen": 2000}]
    assert bill["total_fen"] == 2 * 4200 + 2 * 300 + 2000
    assert bill["tenders"] == [{"method": "cash", "amount_fen": bill["due_fen"],
                                "received_fen": None}], "no tenders given: all cash"
    again = pay(owner, "code-1", member_id=guest["id"],
                lines=[{"code": "HS01", "qty": 2}, {"code": "RICE", "qty": 2},
                       {"dish": "开瓶费", "qty": 1, "unit_price_fen": 2000}])
    assert again.status_code == 200 and again.json()["order_id"] == bill["order_id"]


def test_split_tenders_must_make_up_what_is_due(till):
    _, owner, _, _ = till
    lines = [{"code": "HS01", "qty": 2}]  # a walk-in pays the full 96.00
    short = pay(owner, "split-1", lines=lines,
                tenders=[{"method": "wechat", "amount_fen": 5000},
                         {"method": "cash", "amount_fen": 5000}])
    assert short.status_code == 422 and "add up to 10000 fen, but 9600" in short.text
    split = pay(owner, "split-2", lines=lines,
                tenders=[{"method": "wechat", "amount_fen": 5000},
                         {"method": "cash", "amount_fen": 4600, "received_fen": 5000}])
    assert split.status_code == 201, split.text
    assert split.json()["tenders"] == [
        {"method": "wechat", "amount_fen": 5000, "received_fen": None},
        {"method": "cash", "amount_fen": 4600, "received_fen": 5000}]
    change = pay(owner, "split-3", lines=lines,
                 tenders=[{"method": "alipay", "amount_fen": 9600, "received_fen": 10000}])
    assert change.status_code == 422, "only cash is handed over with change"


def test_members_only_and_daily_limits_are_refused_with_a_reason(till):
    _, owner, _, guest = till
    walk_in = pay(owner, "limit-1", lines=[{"code": "XL01", "qty": 1}])
    assert walk_in.status_code == 409 and "members only" in walk_in.json()["message"]
    assert pay(owner, "limit-2", member_id=guest["id"],
               lines=[{"code": "XL01", "qty": 2}]).status_code == 201
    past = pay(owner, "limit-3", member_id=guest["id"], lines=[{"code": "XL01", "qty": 1}])
    assert past.status_code == 409 and "0 of today's 2 left" in past.json()["message"]
    unknown = pay(owner, "limit-4", lines=[{"code": "NOPE", "qty": 1}])
    assert unknown.status_code == 404
    both = pay(owner, "limit-5", lines=[{"code": "RICE", "qty": 1, "unit_price_fen": 1}])
    assert both.status_code == 422


def test_a_dish_sold_out_today_is_refused_until_it_is_back(till):
    _, owner, waiter, _ = till
    assert waiter.post("/menu/dishes/LC01/sold-out", json={"sold_out": True}).status_code == 200
    refused = pay(owner, "sold-1", lines=[{"code": "LC01", "qty": 1}])
    assert refused.status_code == 409 and "sold out today" in refused.json()["message"]
    assert not {d["code"]: d for d in waiter.get("/menu").json()["dishes"]}["LC01"]["available"]
    waiter.post("/menu/dishes/LC01/sold-out", json={"sold_out": False})
    assert pay(owner, "sold-2", lines=[{"code": "LC01", "qty": 1}]).status_code == 201


def test_combos_take_off_once_per_complete_set(store, menu_file):
    from hub.domain.coupons import Line
    from hub.domain.menu import combo_discount, save_combo

    import_menu(store, read_rows(menu_file), actor="test")
    save_combo(store, "热菜配米饭", ["category:热菜", "RICE"], 500, actor="owner")
    save_combo(store, "凉菜热菜", ["LC01", "HS01"], 800, actor="owner")

    def lines(**qty):
        return [Line(code, n, 100, code=code) for code, n in qty.items()]

    assert combo_discount(store, lines(HS01=1)) == 0
    assert combo_discount(store, lines(HS01=1, LC01=1)) == 800
    # the bigger combo first: one 宫保鸡丁 with the cucumber, the other with rice
    assert combo_discount(store, lines(HS01=2, LC01=1, RICE=3)) == 800 + 500
    assert combo_discount(store, lines(XL01=1, RICE=1)) == 500, "any dish of the category"
    assert combo_discount(store, [Line("开瓶费", 1, 100), *lines(RICE=1)]) == 0
    with pytest.raises(InvalidInput, match="2 to 6 parts"):
        save_combo(store, "单品", ["RICE"], 100, actor="owner")
    with pytest.raises(NotFound, match="no dish with code 'NOPE'"):
        save_combo(store, "错", ["RICE", "NOPE"], 100, actor="owner")


def test_the_chains_menu_reaches_a_store_that_keeps_its_own_prices_and_sold_out(tmp_path):
    from hub.domain.config import new_settings
    from hub.domain.menu import get_dish, set_sold_out
    from hub.domain.replica import apply_page
    from hub.domain.store import Store
    from sync.hq import HqBook
    from tests.support.chain import hq_command

    chain = tmp_path / "chain.csv"
    chain.write_text("code,name,category,price_fen,station\nC01,招牌酸汤鱼,热菜,8800,热菜间\n"
                     "C02,老坛酸菜,凉菜,1200,凉菜间\n", encoding="utf-8")
    assert "2 dishes" in hq_command(tmp_path / "hq", "push", "menu", str(chain)).stdout
    book = HqBook(tmp_path / "hq" / "hq.db")
    with Store(tmp_path / "b.db", new_settings("s-b")) as shop:
        page = json.loads(book.feed("s-b", 0))
        apply_page(shop, page["events"], page["position"])
        fish = get_dish(shop, "C01")
        assert fish["from_chain"] and fish["price_fen"] == 8800 and fish["station"] == "热菜间"
        save_dish(shop, {"code": "C01", "price_fen": 9800}, actor="manager")  # its own price
        with pytest.raises(InvalidInput, match="the chain's dish: its name change at HQ"):
            save_dish(shop, {"code": "C01", "name": "改名"}, actor="manager")
        set_sold_out(shop, "C02", True, actor="waiter")

        chain.write_text("code,name,category,price_fen,station\n"
                         "C01,招牌酸汤鱼（大）,热菜,8600,热菜间\nC02,老坛酸菜,凉菜,1300,凉菜间\n",
                         encoding="utf-8")
        hq_command(tmp_path / "hq", "push", "menu", str(chain))
        page = json.loads(book.feed("s-b", page["position"]))
        apply_page(shop, page["events"], page["position"])
        fish = get_dish(shop, "C01")
        assert fish["name"] == "招牌酸汤鱼（大）" and fish["price_fen"] == 9800, \
            "the chain's change arrives; the store's own price stays"
        pickles = get_dish(shop, "C02")
        assert pickles["price_fen"] == 1300 and not pickles["available"], "sold out stays"
        apply_page(shop, [{"store": "s-a", "seq": 9, "id": "x", "type": "menu.changed",
                           "data": {"dishes": [{"code": "C01", "name": "别家", "price_fen": 1}]}}],
                   page["position"])
        assert get_dish(shop, "C01")["name"] == "招牌酸汤鱼（大）", "only HQ sets the chain menu"
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,price_fen\nC09,,100\n", encoding="utf-8")
    refused = hq_command(tmp_path / "hq", "push", "menu", str(bad), check=False)
    assert refused.returncode == 2 and "row 2: name is required" in refused.stderr


def _bill(store, key, *lines, member_id=None, tab_id=None, dry=False):
    from hub.domain.checkout import CheckoutRequest, checkout, quote
    from hub.domain.menu import MenuLine

    req = CheckoutRequest(idempotency_key=key, member_id=member_id, tab_id=tab_id,
                          lines=[MenuLine(code, qty) for code, qty in lines])
    return (quote if dry else checkout)(store, req)


def test_portions_left_today_are_drawn_by_each_order_and_sell_the_dish_out_at_zero(
        store, menu_file, clock):
    from hub.domain.menu import MenuLine, SoldOut, get_dish, set_portions
    from hub.domain.tables import add_items, bill_lines, open_tab, save_table

    import_menu(store, read_rows(menu_file), actor="test")
    fish = set_portions(store, "HS01", 4, actor="kitchen")
    assert (fish["portions_left"], fish["running_low"], fish["available"]) == (4, False, True)
    _bill(store, "till-1", ("HS01", 1))  # a bill at the till, no table: taken at checkout
    assert get_dish(store, "HS01")["running_low"], "3 left: the reminder (till.portions_reminder)"
    save_table(store, "A1")
    tab = open_tab(store, "A1", 2)
    add_items(store, tab["id"], [MenuLine("HS01", 2)])  # a table's order: taken as ordered
    assert get_dish(store, "HS01")["portions_left"] == 1
    with pytest.raises(SoldOut, match=r"宫保鸡丁 \(HS01\): 1 portions left today"):
        add_items(store, tab["id"], [MenuLine("HS01", 2), MenuLine("RICE", 2)])
    assert len(bill_lines(store, tab["id"])) == 1, "the refused round added nothing"
    _bill(store, "display", ("HS01", 1), dry=True)
    assert get_dish(store, "HS01")["portions_left"] == 1, "a quote is rolled back"
    _bill(store, "till-2", ("HS01", 1))
    gone = get_dish(store, "HS01")
    assert (gone["portions_left"], gone["available"], gone["running_low"]) == (0, False, False)
    with pytest.raises(SoldOut, match="sold out today"):
        _bill(store, "till-3", ("HS01", 1))
    paid = _bill(store, "table", *[(line.code, line.qty) for line in bill_lines(
        store, tab["id"])], tab_id=tab["id"])
    assert paid["lines"][0]["qty"] == 2, "the table's dishes were taken when ordered"
    assert get_dish(store, "HS01")["portions_left"] == 0, "and are not taken again"
    clock.advance(days=1)
    fresh = get_dish(store, "HS01")
    assert (fresh["portions_left"], fresh["available"]) == (None, True), "a new day, no count"
    with pytest.raises(InvalidInput, match="portions left must be between 0 and 100000"):
        set_portions(store, "HS01", -1, actor="kitchen")


def test_a_set_meals_choices_draw_their_own_portions(store, menu_file):
    from hub.domain.menu import MenuLine, SoldOut, get_dish, save_set, set_portions
    from hub.domain.tables import add_items, open_tab, save_table

    import_menu(store, read_rows(menu_file), actor="test")
    save_dish(store, {"code": "SET1", "name": "单人套餐", "price_fen": 5000}, actor="owner")
    save_set(store, "SET1", [{"name": "热菜", "choose": 1, "codes": ["HS01"]}], actor="owner")
    set_portions(store, "HS01", 1, actor="kitchen")
    save_table(store, "A1")
    tab = open_tab(store, "A1", 1)
    add_items(store, tab["id"], [MenuLine("SET1", 1, ("HS01",))])
    assert get_dish(store, "HS01")["portions_left"] == 0
    with pytest.raises(SoldOut, match="HS01"):
        _bill(store, "till", ("HS01", 1))


def test_a_retired_dish_leaves_the_menu_and_comes_back_when_saved(store, menu_file):
    from hub.domain.menu import MenuLine, SoldOut, retire_dish
    from hub.domain.tables import add_items, bill_lines, open_tab, save_table

    import_menu(store, read_rows(menu_file), actor="test")
    save_table(store, "A1")
    tab = open_tab(store, "A1", 2)
    add_items(store, tab["id"], [MenuLine("LC01", 1)])
    assert retire_dish(store, "LC01", actor="owner")["retired"]
    assert "LC01" not in {dish["code"] for dish in menu(store)}
    with pytest.raises(SoldOut, match=r"拍黄瓜 \(LC01\) is no longer on the menu"):
        _bill(store, "till", ("LC01", 1))
    paid = _bill(store, "table", *[(line.code, line.qty) for line in bill_lines(
        store, tab["id"])], tab_id=tab["id"])
    assert paid["lines"][0]["code"] == "LC01", "a table that ordered it still pays for it"
    again = import_menu(store, read_rows(menu_file), actor="test")
    assert (again.updated, again.unchanged) == (1, 3), "importing it again brings it back"
    assert "LC01" in {dish["code"] for dish in menu(store)}


def test_the_guest_pays_the_lowest_price_they_are_entitled_to(store, menu_file, clock):
    """Member price, and old prices kept for the guest, their tier or a tag of theirs: never
    stacked, the lowest wins; a walk-in pays the list price."""
    from hub.domain.menu import get_dish, unit_price

    import_menu(store, read_rows(menu_file), actor="test")
    old = add_member(store, NewMember(name="老张", phone="13800138011", tags=["老会员"]))
    plain = add_member(store, NewMember(name="小李", phone="13800138012", tags=["家庭聚餐"]))
    save_dish(store, {"code": "HS01", "price_fen": 5600, "member_price_fen": 5000},
              actor="owner")

    def prices():
        dish = get_dish(store, "HS01")
        return [unit_price(store, dish, guest) for guest in (None, plain, old)]

    assert prices() == [5600, 5000, 5000]
    kept = keep_price(store, "HS01", "2026-12-31", "owner", tag="老会员")
    assert (kept["price_fen"], kept["tag"]) == (4800, "老会员"), "the price before the change"
    assert prices() == [5600, 5000, 4800]
    keep_price(store, "HS01", "2026-12-31", "owner", tier=old["tier"], price_fen=4900)
    assert prices() == [5600, 4900, 4800], "the tier's kept price for all its guests"
    keep_price(store, "HS01", "2026-12-31", "owner", member_id=old["id"], price_fen=4500)
    assert prices() == [5600, 4900, 4500], "the guest's own, lowest of all"
    bill = _bill(store, "tagged", ("HS01", 2), member_id=old["id"])
    assert bill["lines"][0]["unit_price_fen"] == 4500 and bill["total_fen"] == 9000
    clock.advance(days=40)
    assert prices() == [5600, 5000, 5000], "kept prices end with their day"
    with pytest.raises(InvalidInput, match="one guest, one tier or one member tag"):
        keep_price(store, "HS01", "2027-12-31", "owner", tag="老会员", tier="member")


def test_portions_and_retiring_over_http_and_the_command_line(till):
    hub, owner, waiter, guest = till
    assert owner.put("/menu/dishes/FISH", json={"name": "酸菜鱼", "category": "热菜",
                                                "price_fen": 6800}).status_code == 200
    counted = waiter.post("/menu/dishes/FISH/portions", json={"left": 3})
    assert counted.status_code == 200 and counted.json()["running_low"], "staff count (沽清)"
    assert pay(owner, "fish-1", lines=[{"code": "FISH", "qty": 4}]).status_code == 409
    assert pay(owner, "fish-2", lines=[{"code": "FISH", "qty": 1}]).status_code == 201
    owner.put("/tables/T9", json={"seats": 2})
    tab = owner.post("/tabs", json={"table": "T9", "party_size": 2}).json()
    assert owner.post(f"/tabs/{tab['id']}/items", json={
        "lines": [{"code": "FISH", "qty": 2}], "send": False}).status_code == 200
    fish = {d["code"]: d for d in waiter.get("/menu").json()["dishes"]}["FISH"]
    assert (fish["portions_left"], fish["available"]) == (0, False), "the table took the last"
    shown = owner.post("/display/bill", json={"display": "till", "tab_id": tab["id"]})
    assert shown.status_code == 200 and shown.json()["total_fen"] == 2 * 6800, shown.text
    paid = owner.post(f"/tabs/{tab['id']}/checkout", json={},
                      headers={"Idempotency-Key": "fish-table"})
    assert paid.status_code == 201, "the table pays for the fish it was served"
    assert waiter.post("/menu/dishes/FISH/portions", json={"left": -1}).status_code == 422
    assert waiter.delete("/menu/dishes/FISH").status_code == 403, "a manager's to retire"
    assert owner.delete("/menu/dishes/FISH").json()["retired"]
    assert "FISH" not in {d["code"] for d in waiter.get("/menu").json()["dishes"]}

    home = hub.home
    owner.patch(f"/members/{guest['id']}", json={"tags": ["老会员"]})
    assert "HS01 at 4000 fen" in laoke(home, "menu", "keep-price", "HS01", "--tag", "老会员",
                                       "--until", "2027-03-31", "--price-fen", "4000")
    assert "5 left today" in laoke(home, "menu", "portions", "RICE", "5")
    assert "剩5份" in laoke(home, "menu", "list")
    bill = pay(owner, "old-member", member_id=guest["id"], lines=[{"code": "HS01", "qty": 1}])
    assert bill.json()["lines"][0]["unit_price_fen"] == 4000, "the tag's kept price"
