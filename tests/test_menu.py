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
        page = book.feed("s-b", 0)
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
        page = book.feed("s-b", page["position"])
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
