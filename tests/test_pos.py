"""laoke behind an existing POS: a stand-in POS with its own dish codes and bill ids sends
its closed bills over real HTTP and prints what the hub answers (shared/SPEC.md, "The till")."""

from __future__ import annotations

import itertools
from typing import ClassVar

import httpx
import pytest

from hub.domain.config import load_settings, write_settings
from hub.domain.coupons import create_template
from hub.home import open_store
from tests.support.hubproc import RunningHub
from tests.support.menu import MENU_CSV, laoke


class StandInPos:
    """A POS as integrators build one: its own codes and prices, its own bill numbers, and a
    retry with the same bill id when the answer is lost."""

    MENU: ClassVar[dict[str, tuple[str, int]]] = {"A12": ("宫保鸡丁", 4800),
                                                  "T01": ("茶位费", 500)}

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.numbers = itertools.count(1001)
        self.receipts: list[str] = []

    def bill(self, items: dict[str, int], member: dict[str, str] | None = None,
             bill_id: str | None = None) -> httpx.Response:
        body = {"bill_id": bill_id or f"POS-{next(self.numbers)}",
                "lines": [{"pos_code": code, "name": self.MENU[code][0], "qty": qty,
                           "unit_price_fen": self.MENU[code][1]} for code, qty in items.items()]}
        if member:
            body["member"] = member
        answer = self.client.post("/pos/bills", json=body)
        if answer.status_code == 201:
            self.receipts.append(self.print_receipt(answer.json()))
        return answer

    @staticmethod
    def print_receipt(answer: dict) -> str:
        text = f"应付 {answer['due_fen'] / 100:.2f}  积分 +{answer['points_earned']}"
        coupon = answer["receipt_coupon"]
        return text + (f"  下次光临: {coupon['title']} {coupon['code']}" if coupon else "")


@pytest.fixture(scope="module")
def pos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pos")
    home = folder / "home"
    (folder / "menu.csv").write_text(MENU_CSV, encoding="utf-8")
    laoke(home, "menu", "import", str(folder / "menu.csv"))
    with open_store(home) as store:
        create_template(store, "下次光临立减10元", "amount_off", amount_fen=1000,
                        min_spend_fen=5000)
    settings = load_settings(home, environ={})
    settings.printing.next_coupon_template = "下次光临立减10元"
    write_settings(home, settings)
    hub = RunningHub(home).start()
    owner = hub.client()
    token = owner.post("/devices", json={"name": "收银机 POS", "role": "cashier"}).json()["token"]
    assert owner.put("/pos/dishes", json={"map": {"A12": "HS01"}}).json() == {"mapped": 1}
    guest = owner.post("/members", json={"name": "李姐", "phone": "13600136000",
                                         "marketing_consent": False}).json()
    with hub.client(token) as client:
        yield StandInPos(client), owner, guest
    owner.close()
    hub.stop()


def test_a_members_bill_gets_discount_points_and_a_coupon_once(pos):
    till, _, guest = pos
    answer = till.bill({"A12": 2, "T01": 2}, member={"phone": "136 0013 6000"}, bill_id="B-1")
    assert answer.status_code == 201, answer.text
    bill = answer.json()
    assert bill["member_id"] == guest["id"] and bill["total_fen"] == 2 * 4800 + 2 * 500
    assert bill["lines"] == [
        {"code": "HS01", "dish": "宫保鸡丁", "qty": 2, "unit_price_fen": 4800},
        {"code": None, "dish": "茶位费", "qty": 2, "unit_price_fen": 500}], \
        "the POS's prices stand; its mapped dish takes the menu's code and name"
    assert bill["points_earned"] > 0 and bill["receipt_coupon"]["title"] == "下次光临立减10元"
    assert "下次光临" in till.receipts[-1]
    again = till.bill({"A12": 2, "T01": 2}, member={"phone": "136 0013 6000"}, bill_id="B-1")
    assert again.json()["order_id"] == bill["order_id"]
    assert again.json()["receipt_coupon"]["code"] == bill["receipt_coupon"]["code"]
    assert again.json()["points_balance"] == bill["points_balance"], "nothing counted twice"
    other = till.bill({"A12": 1}, member={"phone": "13600136000"}, bill_id="B-1")
    assert other.status_code == 409, "the same bill id for another bill is refused"


def test_the_member_by_card_or_qr_and_walk_ins(pos):
    till, owner, guest = pos
    assert owner.post(f"/members/{guest['id']}/cards", json={"number": "0100ABCDEF"}
                      ).status_code == 201
    assert till.bill({"A12": 1}, member={"card": "0100ABCDEF"}).json()["member_id"] == \
        guest["id"]
    qr = owner.get(f"/members/{guest['id']}/qr").json()["payload"]
    assert till.bill({"T01": 1}, member={"qr": qr}).json()["member_id"] == guest["id"]
    walk_in = till.bill({"A12": 1}).json()
    assert walk_in["member_id"] is None and walk_in["receipt_coupon"] is None
    unknown = till.bill({"A12": 1}, member={"phone": "13500135000"})
    assert unknown.status_code == 404 and "sign them up" in unknown.json()["message"]
    forged = till.bill({"A12": 1}, member={"qr": "LKM1.forged.sig"})
    assert forged.status_code == 422
