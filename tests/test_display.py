"""The guest's display at the till in a real headless Chromium: idle, a bill as the checkout
will price it with the guest's points and the payment QR, then idle again."""

from __future__ import annotations

import pytest

from hub.domain.config import load_settings, new_settings, write_settings
from tests.support.browser import shot
from tests.support.hubproc import RunningHub

LINES = [{"dish": "宫保鸡丁", "qty": 2, "unit_price_fen": 4800}]


@pytest.fixture(scope="module")
def till(tmp_path_factory):
    home = tmp_path_factory.mktemp("display") / "home"
    home.mkdir()
    settings = new_settings("shop-d")
    settings.till.payment_qr = "wxp://f2f0-laoke-test"
    write_settings(home, settings)
    assert load_settings(home, environ={}).till.payment_qr
    hub = RunningHub(home).start()
    owner = hub.client()
    cashier = hub.client(owner.post("/devices", json={"name": "till", "role": "cashier"}
                                    ).json()["token"])
    screen = owner.post("/devices", json={"name": "guest display", "role": "kiosk",
                                          "pair_link": True}).json()
    yield hub, owner, cashier, screen
    cashier.close()
    owner.close()
    hub.stop()


def test_the_guest_sees_the_bill_their_points_and_the_payment_qr(till, page):
    hub, owner, cashier, screen = till
    page.goto(screen["pair_url"].replace(screen["pair_url"].split("/pair")[0], hub.url))
    page.goto(f"{hub.url}/display?name=till-1")
    page.wait_for_selector("#idle:not([hidden])")
    assert "欢迎光临" in page.inner_text("#idle")

    walk_in = cashier.post("/display/bill", json={"display": "till-1", "lines": LINES})
    assert walk_in.status_code == 200, walk_in.text
    page.wait_for_function("document.getElementById('due').textContent === '¥96.00'")
    assert "宫保鸡丁" in page.inner_text("#lines")
    assert page.locator("#qr img").get_attribute("src").endswith("wxp%3A%2F%2Ff2f0-laoke-test")
    assert page.is_hidden("#guest")

    guest = owner.post("/members", json={"name": "王芳", "phone": "13500135001",
                                         "marketing_consent": False}).json()
    cashier.post("/display/bill", json={"display": "till-1", "lines": LINES,
                                        "member_id": guest["id"]})
    page.wait_for_selector("#guest:not([hidden])")
    assert page.inner_text("#guest-name") == "王*", "a guest-facing screen masks the name"
    assert page.inner_text("#points") == "0" and page.inner_text("#earn") == "96"
    shot(page, "display-member-bill")
    with hub.client() as api:  # nothing was charged: the display shows a quote
        assert api.get(f"/members/{guest['id']}").json()["points_balance"] == 0

    assert cashier.delete("/display/bill", params={"display": "till-1"}).status_code == 200
    page.wait_for_selector("#idle:not([hidden])")


def test_only_a_till_puts_up_a_bill_and_only_a_display_reads_it(till):
    hub, owner, _, _ = till
    waiter = hub.client(owner.post("/devices", json={"name": "pad", "role": "waiter"}
                                   ).json()["token"])
    kiosk = hub.client(owner.post("/devices", json={"name": "door", "role": "kiosk"}
                                  ).json()["token"])
    assert waiter.post("/display/bill", json={"display": "x", "lines": LINES}
                       ).status_code == 403
    assert waiter.get("/display", params={"display": "x"}).status_code == 403
    assert kiosk.post("/display/bill", json={"display": "x", "lines": LINES}).status_code == 403
    assert kiosk.get("/display", params={"display": "x"}).json()["state"] == "idle"
    waiter.close()
    kiosk.close()
