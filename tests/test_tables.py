"""A table through a meal over real HTTP: seat, order in rounds, one ticket per station on its
own printer (real ESC/POS bytes, decoded by the virtual printer), pay at the table."""

from __future__ import annotations

import pytest

from hub.domain.config import PrinterSettings, load_settings, write_settings
from printer.virtual import VirtualPrinter, VirtualPrinterServer
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub, wait_until
from tests.support.menu import MENU_CSV, laoke


@pytest.fixture(scope="module")
def restaurant(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    hot = VirtualPrinterServer(VirtualPrinter(folder / "hot"), port=0).start()
    cold = VirtualPrinterServer(VirtualPrinter(folder / "cold"), port=0).start()
    home = folder / "home"
    (folder / "menu.csv").write_text(MENU_CSV, encoding="utf-8")
    laoke(home, "menu", "import", str(folder / "menu.csv"))
    settings = load_settings(home, environ={})
    settings.printers = [
        PrinterSettings(name="hot", url=f"tcp://127.0.0.1:{hot.port}", stations=["热菜间"]),
        PrinterSettings(name="cold", url=f"tcp://127.0.0.1:{cold.port}", stations=["凉菜间"])]
    write_settings(home, settings)
    hub = RunningHub(home).start()
    owner = hub.client()
    for table, seats in (("A1", 4), ("A2", 6)):
        assert owner.put(f"/tables/{table}", json={"area": "大厅", "seats": seats}
                         ).status_code == 200
    tokens = {role: owner.post("/devices", json={"name": role, "role": role}).json()["token"]
              for role in ("waiter", "cashier")}
    clients = {role: hub.client(token) for role, token in tokens.items()}
    yield hub, owner, clients, {"hot": folder / "hot", "cold": folder / "cold"}
    for client in (owner, *clients.values()):
        client.close()
    hub.stop()
    hot.stop()
    cold.stop()


def tickets(spool, count):
    return wait_until(lambda: (found := VirtualPrinter(spool).slips()) and len(found) >= count
                      and found)


def test_a_table_through_a_meal(restaurant):
    _, owner, staff, spools = restaurant
    waiter, cashier = staff["waiter"], staff["cashier"]
    guest = owner.post("/members", json={"name": "王芳", "phone": "13700137000",
                                         "allergies": ["花生"], "marketing_consent": False}
                       ).json()
    assert waiter.get("/members/lookup", params={"phone": "13700137000"}).status_code == 200
    seated = waiter.post("/tabs", json={"member_id": guest["id"], "table": "A1",
                                        "party_size": 2})
    assert seated.status_code == 201, seated.text
    tab = seated.json()
    assert waiter.post("/tabs", json={"table": "A1", "party_size": 2}).status_code == 409

    first = waiter.post(f"/tabs/{tab['id']}/items", json={"lines": [
        {"code": "HS01", "qty": 2}, {"code": "LC01", "qty": 1}]}).json()
    assert len(first["print_jobs"]) == 2 and all(item["sent"] for item in first["items"])
    [hot] = tickets(spools["hot"], 1)
    [cold] = tickets(spools["cold"], 1)
    assert "热菜间" in hot["text"] and "宫保鸡丁 x2" in hot["text"] and "拍黄瓜" not in hot["text"]
    assert "凉菜间" in cold["text"] and "拍黄瓜 x1" in cold["text"]
    assert "花生过敏" in hot["text"] and "花生过敏" in cold["text"], "allergies on every ticket"

    waiter.post(f"/tabs/{tab['id']}/items", json={"lines": [{"code": "RICE", "qty": 2}]})
    second = tickets(spools["hot"], 2)[1]  # no station of its own: the first printer
    assert "米饭 x2" in second["text"] and "宫保鸡丁" not in second["text"], "only what is new"

    assert waiter.post(f"/tabs/{tab['id']}/checkout", json={},
                       headers={"Idempotency-Key": "A1-1"}).status_code == 403
    paid = cashier.post(f"/tabs/{tab['id']}/checkout", headers={"Idempotency-Key": "A1-1"},
                        json={"tenders": [{"method": "wechat", "amount_fen": 1000}]})
    assert paid.status_code == 422, "the tenders must make up what is due"
    bill = cashier.post(f"/tabs/{tab['id']}/checkout", headers={"Idempotency-Key": "A1-2"},
                        json={}).json()
    assert [(line["code"], line["unit_price_fen"]) for line in bill["lines"]] == [
        ("HS01", 4200), ("LC01", 1800), ("RICE", 300)], "member prices for the member"
    assert bill["member_id"] == guest["id"]
    again = cashier.post(f"/tabs/{tab['id']}/checkout", headers={"Idempotency-Key": "A1-2"},
                         json={})
    assert again.status_code == 200 and again.json()["order_id"] == bill["order_id"]
    twice = cashier.post(f"/tabs/{tab['id']}/checkout", headers={"Idempotency-Key": "A1-3"},
                         json={})
    assert twice.status_code == 409, "a paid table is not paid again"
    layout = {t["name"]: t for t in waiter.get("/tables").json()["tables"]}
    assert layout["A1"]["tab_id"] is None, "the table is free again"


def test_a_walk_in_party_is_seated_and_counted(restaurant):
    hub, _, staff, _ = restaurant
    tab = staff["waiter"].post("/tabs", json={"table": "A2", "party_size": 3}).json()
    assert tab["member_id"] is None and tab["party_size"] == 3
    layout = {t["name"]: t for t in staff["waiter"].get("/tables").json()["tables"]}
    assert layout["A2"]["tab_id"] == tab["id"] and layout["A2"]["seats"] == 6
    with home_db(hub.home) as db:  # what every covers report reads
        assert db.execute("SELECT member_id, party_size FROM visits WHERE id = ?",
                          (tab["visit_id"],)).fetchone() == (None, 3)


def test_the_receipt_and_the_shift_summary_show_the_tenders(restaurant):
    hub, owner, staff, spools = restaurant
    cashier = staff["cashier"]
    tab = staff["waiter"].post("/tabs", json={"table": "A1", "party_size": 1}).json()
    staff["waiter"].post(f"/tabs/{tab['id']}/items", json={"lines": [
        {"code": "HS01", "qty": 1}, {"code": "LC01", "qty": 1}]})  # a walk-in: 66.00
    paid = cashier.post(f"/tabs/{tab['id']}/checkout", headers={"Idempotency-Key": "A1-cash"},
                        json={"print": True, "tenders": [
                            {"method": "wechat", "amount_fen": 6000},
                            {"method": "cash", "amount_fen": 600, "received_fen": 1000}]})
    assert paid.status_code == 201, paid.text
    receipt = wait_until(lambda: next((slip for slip in VirtualPrinter(spools["hot"]).slips()
                                       if "结账单" in slip["text"]), None))
    for words in ("微信支付", "60.00元", "现金", "6.00元", "实收", "10.00元", "找零", "4.00元"):
        assert words in receipt["text"], words
    shift = owner.post("/print/shift", json={"printer": "hot", "counted_cash_fen": 500})
    assert shift.status_code == 202, shift.text
    summary = wait_until(lambda: next((slip for slip in VirtualPrinter(spools["hot"]).slips()
                                       if "交班汇总" in slip["text"]), None))
    with home_db(hub.home) as db:  # earlier bills with no tenders: cash
        cash_taken = db.execute("SELECT SUM(amount_fen) FROM order_tenders WHERE method = "
                                "'cash'").fetchone()[0]
    assert "钱箱应有现金" in summary["text"] and f"{cash_taken / 100:.2f}元" in summary["text"]
    assert f"{(500 - cash_taken) / 100:+.2f}元" in summary["text"], "the drawer's difference"


def test_a_combo_on_the_table_comes_off_the_bill_and_shows_on_the_receipt(restaurant):
    _, owner, staff, spools = restaurant
    assert owner.put("/menu/combos/热菜配米饭", json={"parts": ["category:热菜", "RICE"],
                                                 "off_fen": 500}).status_code == 200
    assert owner.get("/menu").json()["combos"][0]["name"] == "热菜配米饭"
    tab = staff["waiter"].post("/tabs", json={"table": "A2", "party_size": 2}).json()
    if tab.get("error") == "table_taken":  # the walk-in test left A2 open
        tab = staff["waiter"].post("/tabs", json={"table": "A1", "party_size": 2}).json()
    staff["waiter"].post(f"/tabs/{tab['id']}/items", json={"lines": [
        {"code": "HS01", "qty": 2}, {"code": "RICE", "qty": 1}]})
    bill = staff["cashier"].post(f"/tabs/{tab['id']}/checkout", json={"print": True},
                                 headers={"Idempotency-Key": "combo-1"}).json()
    assert bill["combo_discount_fen"] == 500, "one complete set: one 热菜 with one rice"
    assert bill["discount_fen"] == 500 and bill["due_fen"] == 2 * 4800 + 300 - 500
    receipt = wait_until(lambda: next((slip for slip in VirtualPrinter(spools["hot"]).slips()
                                       if bill["order_id"][-12:] in slip["text"]), None))
    assert "组合优惠" in receipt["text"] and "-5.00元" in receipt["text"]
    owner.put("/menu/combos/热菜配米饭", json={"parts": ["category:热菜", "RICE"],
                                          "off_fen": 500, "active": False})


def test_a_set_meal_for_two_prices_once_and_cooks_each_choice(restaurant):
    _, owner, staff, spools = restaurant
    assert owner.put("/menu/dishes/SET2", json={"name": "双人浪漫套餐", "category": "套餐",
                                                "price_fen": 19800}).status_code == 200
    assert owner.put("/menu/sets/SET2", json={"groups": [
        {"name": "热菜任选一", "choose": 1, "codes": ["HS01", "XL01"]},
        {"name": "凉菜", "choose": 1, "codes": ["LC01"]},
        {"name": "主食", "choose": 2, "codes": ["RICE"]}]}).status_code == 200
    assert {d["code"]: d for d in owner.get("/menu").json()["dishes"]}["SET2"]["set_groups"]
    cashier = staff["cashier"]
    short = cashier.post("/checkouts", headers={"Idempotency-Key": "set-0"}, json={"lines": [
        {"code": "SET2", "qty": 1, "choices": ["HS01", "LC01", "RICE"]}]})
    assert short.status_code == 422 and "choose 2 of RICE" in short.json()["message"]
    bill = cashier.post("/checkouts", headers={"Idempotency-Key": "set-1"}, json={"lines": [
        {"code": "SET2", "qty": 1, "choices": ["HS01", "LC01", "RICE", "RICE"]}]}).json()
    assert bill["total_fen"] == 19800 and [(line["code"], line["unit_price_fen"])
                                           for line in bill["lines"]] == [
        ("SET2", 19800), ("HS01", 0), ("LC01", 0), ("RICE", 0), ("RICE", 0)]

    waiter = staff["waiter"]
    layout = {t["name"]: t for t in waiter.get("/tables").json()["tables"]}
    table = next(name for name, t in layout.items() if t["tab_id"] is None)
    tab = waiter.post("/tabs", json={"table": table, "party_size": 2}).json()
    before = {name: len(VirtualPrinter(spool).slips()) for name, spool in spools.items()}
    sent = waiter.post(f"/tabs/{tab['id']}/items", json={"lines": [
        {"code": "SET2", "qty": 1, "choices": ["XL01", "LC01", "RICE", "RICE"]}]})
    # 热菜间 and the rice (no station: the first printer) on one printer, 凉菜间 on the other
    assert sent.status_code == 200 and len(sent.json()["print_jobs"]) == 3
    hot = "".join(slip["text"] for slip in tickets(spools["hot"], before["hot"] + 2)[-2:])
    cold = tickets(spools["cold"], before["cold"] + 1)[-1]["text"]
    assert "限量和牛 x1" in hot and "米饭 x2" in hot and "套餐" not in hot
    assert "拍黄瓜 x1" in cold
