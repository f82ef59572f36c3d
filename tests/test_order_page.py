"""The till on the tablet in a real headless Chromium: a cashier seats a member, orders from
the menu's tiles (by category and by pinyin initials), sends the round to the kitchen (tickets
decoded from the virtual printer's ESC/POS) and takes the payment at the table, in one tender
or split across several, the receipt decoded too."""

from __future__ import annotations

import pytest

from printer.virtual import VirtualPrinter
from tests.support.browser import TABLET, shot
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub, wait_until
from tests.support.menu import MENU_CSV, laoke


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("order")
    (folder / "menu.csv").write_text(MENU_CSV, encoding="utf-8")
    laoke(folder / "home", "menu", "import", str(folder / "menu.csv"))
    hub = RunningHub(folder / "home").start()
    with hub.client() as owner:
        for table in ("A1", "A2", "A3", "A4"):
            owner.put(f"/tables/{table}", json={"area": "大厅", "seats": 4})
        owner.put("/menu/dishes/SET2", json={"name": "双人浪漫套餐", "category": "套餐",
                                             "price_fen": 19800})
        owner.put("/menu/sets/SET2", json={"groups": [
            {"name": "热菜", "choose": 1, "codes": ["HS01"]},
            {"name": "凉菜", "choose": 1, "codes": ["LC01"]},
            {"name": "主食", "choose": 2, "codes": ["RICE"]}]})
        owner.post("/members", json={"name": "王芳", "phone": "13800138123", "vip": True,
                                     "seat_preference": "靠窗，要儿童椅", "allergies": ["花生"],
                                     "marketing_consent": False})
        saver = owner.post("/members", json={"name": "李强", "phone": "13900139456",
                                             "marketing_consent": False}).json()
        owner.post(f"/members/{saver['id']}/topups", json={"amount_fen": 3000})
    yield hub
    hub.stop()


def paired(browser, hub, role):
    with hub.client() as owner:
        added = owner.post("/devices", json={"name": f"{role} pad", "role": role,
                                             "pair_link": True}).json()
    context = browser.new_context(viewport=TABLET, locale="zh-CN", ignore_https_errors=True)
    page = context.new_page()
    page.goto(added["pair_url"].replace(added["pair_url"].split("/pair")[0], hub.url))
    page.goto(f"{hub.url}/order")
    return context, page


def seat_walk_in(page, table):
    """A party without a member at `table`, and its order open."""
    page.click(f"[data-table={table}]")
    page.click("#seat-walk-in")
    page.wait_for_selector("#order:not([hidden])")


def test_a_cashier_seats_orders_sends_and_takes_payment_at_the_table(store, browser):
    context, page = paired(browser, store, "cashier")
    page.click("[data-table=A1]")
    page.click("#parties button:text-is('3')")
    page.fill("#member-phone", "13800138123")
    page.click("#member-form button")
    page.wait_for_selector("#guest-card:not([hidden])")
    card = page.inner_text("#guest-card")
    assert "VIP 王芳" in card and "靠窗，要儿童椅" in card and "花生" in card
    assert page.locator("#guest-card .vip").count() == 1, "VIP in red"
    page.click("#seat-member")

    page.wait_for_selector("#order:not([hidden])")
    page.fill("#dish-search", "gbjd")
    assert page.locator("#dishes .tile").count() == 1, "pinyin initials find the dish"
    page.click("[data-code=HS01]")
    page.click("[data-code=HS01]")
    page.fill("#dish-search", "")
    page.click("#categories button:text-is('凉菜')")
    page.click("[data-code=LC01]")
    assert page.inner_text("#new-items").count("x") == 2
    page.click("#send")
    page.wait_for_function("document.getElementById('sent-items').children.length === 2")
    shot(page, "order-sent")
    spool = store.home / "virtual-printer"
    slips = wait_until(lambda: len(VirtualPrinter(spool).slips()) >= 2 and
                       VirtualPrinter(spool).slips())
    texts = [slip["text"] for slip in slips]
    assert any("热菜间" in text and "宫保鸡丁 x2" in text for text in texts)
    assert any("凉菜间" in text and "拍黄瓜 x1" in text for text in texts)
    assert all("花生过敏" in text for text in texts)

    page.click("#checkout")
    page.wait_for_selector("#pay:not([hidden])")
    due = fen(page.inner_text("#pay-due"))
    assert page.input_value("#tender-amount") == f"{due / 100:.2f}", "the rest, ready to tap"
    assert page.is_disabled("#pay-confirm")
    page.fill("#tender-amount", "50")
    page.click("[data-method=wechat]")
    assert fen(page.inner_text("#pay-left")) == due - 5000, "what is left, always in sight"
    page.fill("#tender-amount", "500")
    page.click("[data-method=alipay]")
    assert "超过还需金额" in page.inner_text("#message"), "only cash is handed over with change"
    page.fill("#tender-amount", "100")  # the guest hands over a hundred in cash
    page.click("[data-method=cash]")
    assert page.inner_text("#pay-left") == "¥0.00"
    assert f"找零 ¥{(15000 - due) / 100:.2f}" in page.inner_text("#tender-list")
    page.click("#pay-confirm")
    page.wait_for_selector("#paid:not([hidden])")
    order_id, tenders = paid_tenders(store)
    assert tenders == [("wechat", 5000, None), ("cash", due - 5000, 10000)]
    receipt = receipt_of(store, order_id)
    assert "微信支付" in receipt and "50.00元" in receipt and "实收" in receipt \
        and f"{(15000 - due) / 100:.2f}元" in receipt, receipt
    page.wait_for_selector("[data-table=A1].free")
    # Back on the floor plan, the tablet still offers the guest a rating of that bill.
    with home_db(store.home) as db:
        order_id = db.execute("SELECT id FROM orders").fetchone()[0]
    assert page.is_visible("#rate-meal")
    assert page.get_attribute("#rate-meal", "href").endswith(f"order={order_id}")
    context.close()


def fen(text):
    return round(float(text.lstrip("¥")) * 100)


def paid_tenders(store):
    """The last order paid, and its tenders as recorded."""
    with home_db(store.home) as db:
        order_id, = db.execute("SELECT id FROM orders ORDER BY created_at DESC, id DESC"
                               ).fetchone()
        return order_id, db.execute("SELECT method, amount_fen, received_fen FROM order_tenders "
                                    "WHERE order_id = ? ORDER BY line_no", (order_id,)).fetchall()


def receipt_of(store, order_id):
    """The receipt's text as the virtual printer decoded its ESC/POS bytes."""
    short = order_id[-8:]
    slips = wait_until(lambda: [slip for slip in VirtualPrinter(
        store.home / "virtual-printer").slips() if "结账单" in slip["text"]
        and short in slip["text"]])
    return slips[-1]["text"]


def test_three_tenders_with_stored_value_and_a_voucher(store, browser):
    context, page = paired(browser, store, "cashier")
    page.click("[data-table=A4]")
    page.fill("#member-phone", "13900139456")
    page.click("#member-form button")
    page.wait_for_selector("#seat-member:not([hidden])")
    page.click("#seat-member")
    page.wait_for_selector("#order:not([hidden])")
    page.click("[data-code=HS01]")
    page.click("[data-code=LC01]")
    page.click("#send")
    page.wait_for_function("document.getElementById('sent-items').children.length === 2")
    page.click("#checkout")
    page.wait_for_selector("#pay:not([hidden])")
    due = fen(page.inner_text("#pay-due"))
    page.fill("#tender-amount", "40")
    page.click("[data-method=stored_value]")
    assert "储值余额不足" in page.inner_text("#message"), "30 yuan on the card"
    page.fill("#tender-amount", "30")
    page.click("[data-method=stored_value]")
    assert page.locator("[data-method=stored_value]").count() == 0, "the card is used up"
    page.fill("#tender-amount", "10")
    page.click("[data-method=voucher]")
    page.click("[data-method=alipay]")  # the rest, as it stands in the amount
    assert page.inner_text("#pay-left") == "¥0.00"
    page.click("#pay-confirm")
    page.wait_for_selector("#paid:not([hidden])")
    order_id, tenders = paid_tenders(store)
    assert tenders == [("voucher", 1000, None), ("alipay", due - 4000, None)]
    with home_db(store.home) as db:
        stored, = db.execute("SELECT stored_value_paid_fen FROM orders WHERE id = ?",
                             (order_id,)).fetchone()
    assert stored == 3000
    receipt = receipt_of(store, order_id)
    assert all(word in receipt for word in ("储值支付", "30.00元", "团购券", "10.00元",
                                            "支付宝", f"{(due - 4000) / 100:.2f}元")), receipt
    context.close()


def test_a_waiter_orders_but_the_bill_is_for_the_cashier(store, browser):
    with store.client() as owner:  # the kitchen counted what rice is left (沽清)
        owner.post("/menu/dishes/RICE/portions", json={"left": 4})
    context, page = paired(browser, store, "waiter")
    seat_walk_in(page, "A2")
    assert "剩4份" in page.inner_text("[data-code=RICE]") and page.is_hidden("#low-stock")
    page.click("[data-code=RICE]")
    page.click("#send")
    page.wait_for_function("document.getElementById('sent-items').children.length === 1")
    page.wait_for_selector("#low-stock:not([hidden])")
    assert "剩3份 快沽清" in page.inner_text("[data-code=RICE]"), "the round drew one"
    assert "米饭 剩3份" in page.inner_text("#low-stock")
    with store.client() as owner:
        owner.post("/menu/dishes/RICE/portions", json={"left": None})
    page.click("#checkout")
    page.wait_for_function("document.getElementById('message').textContent.length > 0")
    assert page.is_hidden("#pay")
    context.close()


def test_a_set_meal_is_ordered_by_tapping_its_choices(store, browser):
    context, page = paired(browser, store, "waiter")
    seat_walk_in(page, "A3")
    page.click("#categories button:text-is('套餐')")
    page.click("[data-code=SET2]")
    page.wait_for_selector("#set-picker:not([hidden])")
    for choice in ("HS01", "LC01", "RICE", "RICE"):
        page.click(f"#set-groups [data-choice={choice}]")
    assert page.is_hidden("#set-picker")
    assert "双人浪漫套餐（宫保鸡丁、拍黄瓜、米饭、米饭）" in page.inner_text("#new-items")
    before = len(VirtualPrinter(store.home / "virtual-printer").slips())
    page.click("#send")
    page.wait_for_function("document.getElementById('sent-items').children.length === 1")
    slips = wait_until(lambda: (found := VirtualPrinter(store.home / "virtual-printer").slips())
                       and len(found) >= before + 3 and found)
    cooked = "".join(slip["text"] for slip in slips[before:])
    assert "宫保鸡丁 x1" in cooked and "拍黄瓜 x1" in cooked and "米饭 x2" in cooked
    context.close()
