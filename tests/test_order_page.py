"""The till on the tablet in a real headless Chromium: a cashier seats a member, orders from
the menu's tiles (by category and by pinyin initials), sends the round to the kitchen (tickets
decoded from the virtual printer's ESC/POS) and takes the payment at the table."""

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
        for table in ("A1", "A2", "A3"):
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
    due = page.inner_text("#pay-due")
    page.click("[data-method=wechat]")
    page.wait_for_selector("#paid:not([hidden])")
    with home_db(store.home) as db:
        method, amount, due_fen = db.execute(
            "SELECT t.method, t.amount_fen, o.total_fen - o.discount_fen FROM order_tenders t "
            "JOIN orders o ON o.id = t.order_id").fetchone()
    assert method == "wechat" and amount == due_fen and due == f"¥{due_fen / 100:.2f}"
    page.wait_for_selector("[data-table=A1].free")
    # Back on the floor plan, the tablet still offers the guest a rating of that bill.
    with home_db(store.home) as db:
        order_id = db.execute("SELECT id FROM orders").fetchone()[0]
    assert page.is_visible("#rate-meal")
    assert page.get_attribute("#rate-meal", "href").endswith(f"order={order_id}")
    context.close()


def test_a_waiter_orders_but_the_bill_is_for_the_cashier(store, browser):
    context, page = paired(browser, store, "waiter")
    seat_walk_in(page, "A2")
    page.click("[data-code=RICE]")
    page.click("#send")
    page.wait_for_function("document.getElementById('sent-items').children.length === 1")
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
