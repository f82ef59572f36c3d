"""The waiter tablet and the signup kiosk in a real headless Chromium (Debian's), against a
hub started by the test. Screenshots at tablet size go to test-artifacts/."""

import re

import pytest

from hub.domain.delivery import claim, import_orders
from hub.home import open_store
from tests.support.browser import shot
from tests.support.hubproc import RunningHub

WELCOME = "新会员礼券"


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory):
    """The module's hub names a welcome coupon template; the offer shows once the test that
    shows it makes the template (until then the store has none, as if unnamed)."""
    hub = RunningHub(tmp_path_factory.mktemp("hub") / "home",
                     env={"LAOKE_PRINTING_WELCOME_COUPON_TEMPLATE": WELCOME}).start()
    yield hub
    hub.stop()


def kiosk_link(hub):
    with hub.client() as api:
        added = api.post("/devices", json={"name": "door kiosk", "role": "kiosk",
                                           "pair_link": True}).json()
    return added["pair_url"].replace(added["pair_url"].split("/pair")[0], hub.url)


def sign_up(page, phone, name, consent, allergies=""):
    page.fill("input[name=phone]", phone)
    page.fill("input[name=name]", name)
    page.fill("input[name=allergies]", allergies)
    page.fill("input[name=notes]", "微辣，不要香菜")
    if consent:
        page.check("input[name=marketing_consent]")
    page.click("button[type=submit]")


def test_kiosk_signup_consent_duplicates_and_idle_reset(shared_hub, page):
    page.goto(kiosk_link(shared_hub))
    assert page.url.endswith("/kiosk")
    assert not page.is_checked("input[name=marketing_consent]"), "consent starts unticked"
    page.wait_for_selector("#consent-version:not(:empty)")  # the page asks the hub for it
    assert page.text_content("#consent-version") == "2026-11"
    shot(page, "kiosk-form")
    sign_up(page, "135 0000 1111", "李娜", consent=True, allergies="花生，芒果")
    page.wait_for_selector("#member-qr")
    assert "李娜" in page.text_content("#done-title")
    page.wait_for_function("document.getElementById('member-qr').naturalWidth > 0")
    shot(page, "kiosk-welcome")
    with shared_hub.client() as api:
        member = api.get("/members/lookup", params={"phone": "13500001111"}).json()
    assert member["marketing_consent"] is True and member["allergies"] == ["花生", "芒果"]
    assert member["consent"]["version"] == "2026-11"

    page.click("#finish")
    assert page.input_value("input[name=phone]") == ""
    sign_up(page, "135 0000 2222", "张伟", consent=False)
    page.wait_for_selector("#member-qr")
    with shared_hub.client() as api:
        second = api.get("/members/lookup", params={"phone": "13500002222"}).json()
    assert second["marketing_consent"] is False

    page.click("#finish")
    sign_up(page, "+86 135-0000-1111", "李娜", consent=False)
    page.wait_for_selector("#done-title:not(:empty)")
    assert "欢迎回来" in page.text_content("#done-title")
    assert page.query_selector("#member-qr") is None
    with shared_hub.client() as api:
        assert len(api.get("/members/search", params={"q": "李娜"}).json()["members"]) == 1

    page.goto(page.url + "?idle=1")
    page.fill("input[name=phone]", "13500003333")
    page.fill("input[name=name]", "王五")
    page.wait_for_function("document.querySelector('input[name=phone]').value === ''",
                           timeout=5000)
    assert page.input_value("input[name=name]") == ""

    page.fill("input[name=phone]", "12345")
    page.fill("input[name=name]", "错号")
    page.click("button[type=submit]")
    page.wait_for_selector("#error:not(:empty)")
    assert "phone" in page.text_content("#error")


def test_tablet_pairs_checks_in_by_phone_and_sees_live_events(shared_hub, page):
    with shared_hub.client() as api:
        guest = api.post("/members", json={"name": "王芳", "phone": "13800008000",
                                           "marketing_consent": False, "allergies": ["对虾"],
                                           "spice_level": "mild", "avoid": ["花椒"]}).json()
        code = api.post("/devices/pairing-codes", json={"role": "waiter"}).json()["code"]
    with open_store(shared_hub.home) as store:  # a Meituan order of theirs, claimed
        import_orders(store, "meituan", [{
            "platform_order_id": "MT-T1", "created_at": "2026-11-20T12:00:00+08:00",
            "customer_id": "mt-tablet-1", "phone": "138****8000", "dish": "宫保鸡丁",
            "qty": "2", "unit_price_fen": "3800", "platform_fee_fen": ""}])
        claim(store, store.scalar("SELECT claim_code FROM delivery_orders"), guest["id"],
              actor="test")
    page.goto(shared_hub.url + "/tablet")
    page.wait_for_selector("#pairing:not([hidden])")
    page.fill("#pair-code", code)
    page.click("#pair-form button[type=submit]")
    page.wait_for_selector("#work:not([hidden])")
    page.wait_for_selector("#link-state:not(:empty)")

    page.fill("input[name=q]", "13800008000")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("#guest:not([hidden])")
    assert page.text_content("#guest-phone") == "138****8000", "waiters see masked phones"
    assert "对虾" in page.text_content("#guest-allergies")
    color = page.eval_on_selector("#guest-allergies", "e => getComputedStyle(e).color")
    assert color == "rgb(198, 40, 40)", "allergies stand out in red"
    page.wait_for_selector("#guest-delivery")
    assert "11-20 美团外卖 宫保鸡丁×2 ¥76.00" in page.text_content("#guest-delivery")
    assert "美团外卖 1" in page.text_content("#guest-channels")
    assert "mt-tablet-1" not in page.content(), "never the platform's user id"
    shot(page, "tablet-guest")

    page.fill("#table", "5")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_function(
        "[...document.querySelectorAll('#feed li')].some(li => li.textContent.includes('5'))")
    feed = page.text_content("#feed")
    assert "王芳" in feed and "对虾过敏" in feed and "不放花椒" in feed
    with shared_hub.client() as api:
        assert api.get(f"/members/{guest['id']}/visits").json()["visits"][0]["table_no"] == "5"
        api.post("/checkins", json={"member_id": None, "table": "B2", "party_size": 3})
    page.wait_for_function(
        "document.getElementById('feed').textContent.includes('B2')", timeout=5000)
    shot(page, "tablet-feed")

    page.fill("input[name=q]", "8000")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("#guest:not([hidden])")
    assert re.search(r"王芳", page.text_content("#guest"))


def test_the_door_shows_the_offer_and_credits_the_friend_by_phone(shared_hub, page):
    """The welcome offer and the tiers before the form; the friend who invited the guest
    named by phone, resolved on the hub: the kiosk's answer is the same for a member's phone
    and a stranger's."""
    hub = shared_hub
    with hub.client() as api:
        assert api.post("/coupon-templates", json={
            "name": WELCOME, "kind": "amount_off", "amount_fen": 2000}).status_code == 201
        friend = api.post("/members", json={"name": "李姐", "phone": "13800138001",
                                            "marketing_consent": False}).json()["id"]
    page.goto(kiosk_link(hub))
    page.wait_for_selector("#welcome-offer:not([hidden])")
    assert page.text_content("#welcome-offer") == "注册就送20.00元无门槛券"
    assert page.locator("#tiers li").count() == 4
    assert "9.5折" in page.text_content("#tiers li[data-tier=gold]")
    assert page.locator("#offers").bounding_box()["y"] < \
        page.locator("#signup").bounding_box()["y"], "the offer comes before the form"
    shot(page, "kiosk-offer")

    answers = []
    for phone, name, inviter in [("13500007001", "王一", "138 0013 8001"),
                                 ("13500007002", "王二", "139 0000 0000")]:
        page.fill("input[name=phone]", phone)
        page.fill("input[name=name]", name)
        page.fill("input[name=referrer_phone]", inviter)
        with page.expect_response(lambda r: r.url.endswith("/api/v1/members")) as signed:
            page.click("button[type=submit]")
        answers.append(signed.value.json())
        page.wait_for_selector("#member-qr")
        page.click("#finish")
    assert [sorted(a) for a in answers] == [["id", "name", "qr", "welcome_slip"]] * 2, \
        "a member's phone and a stranger's give the kiosk the same answer"
    with hub.client() as api:
        referred = [api.get("/members/lookup", params={"phone": p}).json()["referred_by"]
                    for p in ("13500007001", "13500007002")]
    assert referred == [friend, None]

    page.fill("input[name=phone]", "13500007003")
    page.fill("input[name=name]", "王三")
    page.fill("input[name=referrer_phone]", "12")
    page.click("button[type=submit]")
    page.wait_for_selector("#error:not(:empty)")
    with hub.client() as api:
        assert api.get("/members/lookup", params={"phone": "13500007003"}).status_code == 404, \
            "a mistyped inviter's phone refuses the sign-up and keeps nothing"

    page.click("#language")
    assert page.text_content("#welcome-offer") == \
        "Join now and get 20.00 yuan off, no minimum spend"
