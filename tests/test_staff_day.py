"""A day in a store over real HTTP: three staff take turns on two tablets, signed in by shift
alone (no PIN per request); every action lands on the right person, the guests rate their
meals (tablet and the receipt's signed QR), and `laoke report staff --json` equals independent
sums over the books."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest

from hub.domain import database
from hub.home import DB_NAME, home_key, open_store
from printer.virtual import VirtualPrinter
from tests.support.hubproc import ROOT, RunningHub, wait_until

PINS = {"安娜": "4101", "波": "4202", "晨": "4303"}
ROLES = {"安娜": "waiter", "波": "waiter", "晨": "cashier"}
LINES = [{"code": "HS01", "qty": 1}, {"code": "VIP1", "qty": 2}]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    home = tmp_path_factory.mktemp("staff-day") / "home"
    hub = RunningHub(home)
    with open_store(home):
        pass  # the home and its laoke.toml, which this store then edits like an owner
    config = home / "laoke.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      .replace('public_url = ""', f'public_url = "{hub.url}"')
                      .replace('apology_coupon_template = ""',
                               'apology_coupon_template = "致歉券"')
                      .replace("sales_bp = 0", "sales_bp = 150")  # 1.5 % of takings
                      .replace("stored_value_bp = 0", "stored_value_bp = 200")
                      .replace("signup_fen = 0", "signup_fen = 500")
                      .replace("dishes = []", 'dishes = [{category = "热菜", amount_fen = 100}, '
                               '{code = "VIP1", amount_fen = 300}]'), encoding="utf-8")
    hub.start(timeout=90)  # a loaded machine starts a hub slowly
    with hub.client() as owner:
        staff = {name: owner.post("/staff", json={"name": name, "role": ROLES[name],
                                                  "pin": pin}).json()["id"]
                 for name, pin in PINS.items()}
        owner.put("/menu/dishes/HS01", json={"name": "红烧肉", "category": "热菜",
                                            "price_fen": 6800})
        owner.put("/menu/dishes/VIP1", json={"name": "会员虾", "category": "热菜",
                                            "price_fen": 3000, "members_only": True})
        for table in ("A1", "A2", "A3"):
            owner.put(f"/tables/{table}", json={"seats": 4})
        owner.post("/coupon-templates", json={"name": "致歉券", "kind": "amount_off",
                                              "amount_fen": 2000})
        template = owner.post("/coupon-templates", json={"name": "下次再来", "kind":
                                                         "amount_off", "amount_fen": 500}).json()
        regular = owner.post("/members", json={"name": "老王", "phone": "13600000001",
                                               "marketing_consent": True}).json()["id"]
        owner.post("/checkins", json={"member_id": regular, "table": "B9", "party_size": 1})
        tablets = {name: owner.post("/devices", json={"name": name, "role": "cashier"})
                   .json()["token"] for name in ("tablet 1", "tablet 2")}
        tablets["kiosk"] = owner.post("/devices", json={"name": "door", "role": "kiosk"}) \
            .json()["token"]
    yield {"hub": hub, "staff": staff, "tablets": tablets, "regular": regular,
           "template": template["id"]}
    hub.stop()


def sign_in(api, name):
    answer = api.post("/shifts", json={"pin": PINS[name]})
    assert answer.status_code == 201, answer.text
    assert answer.json()["staff"]["name"] == name
    return answer.json()


def serve(api, table, party, member=None, key=None):
    tab = api.post("/tabs", json={"table": table, "party_size": party, "member_id": member})
    assert tab.status_code == 201, tab.text
    return tab.json()["id"]


def test_a_day_of_three_staff_on_two_tablets(day):
    hub, staff = day["hub"], day["staff"]
    one = hub.client(day["tablets"]["tablet 1"])
    two = hub.client(day["tablets"]["tablet 2"])
    with one, two:
        assert one.get("/shifts/current").json() == {"shift": None}
        anna = sign_in(one, "安娜")
        sign_in(two, "晨")
        # 安娜 seats the regular and takes the first round; a new guest signs up with her.
        tab_a1 = serve(one, "A1", 2, day["regular"])
        assert one.post(f"/tabs/{tab_a1}/items", json={"lines": LINES}).status_code == 200
        newcomer = one.post("/members", json={"name": "新客", "phone": "13600000002",
                                              "marketing_consent": False}).json()["id"]
        # 波 takes over tablet 1 (a switch ends 安娜's shift), seats a walk-in, adds a round
        # to 安娜's table.
        sign_in(one, "波")
        assert two.get("/shifts").status_code == 403, "the day's shifts are the manager's"
        # At the kiosk by the door a guest names 波, who is on shift, as who invited them.
        with hub.client(day["tablets"]["kiosk"]) as kiosk:
            duty = kiosk.get("/shifts/on-duty").json()["staff"]
            assert sorted(p["name"] for p in duty) == ["晨", "波"]
            joined = {"name": "门口", "phone": "13600000003", "marketing_consent": False}
            assert kiosk.post("/members", json={**joined, "invited_by": staff["安娜"]}) \
                .status_code == 422, "安娜 is not on shift now"
            invited = kiosk.post("/members", json={**joined, "invited_by": staff["波"]})
            assert invited.status_code == 201, invited.text
        tab_a2 = serve(one, "A2", 3)
        assert one.post(f"/tabs/{tab_a2}/items",
                        json={"lines": [{"code": "HS01", "qty": 2}]}).status_code == 200
        assert one.post(f"/tabs/{tab_a1}/items",
                        json={"lines": [{"code": "HS01", "qty": 1}]}).status_code == 200
        # 晨 at tablet 2 rings both tables up, sells stored value and hands out a coupon.
        paid = {}
        for tab in (tab_a1, tab_a2):
            answer = two.post(f"/tabs/{tab}/checkout", json={"print": True},
                              headers={"Idempotency-Key": f"day-{tab}"})
            assert answer.status_code == 201, answer.text
            paid[tab] = answer.json()["order_id"]
        assert two.post(f"/members/{newcomer}/topups",
                        json={"amount_fen": 50000}).status_code == 201
        assert two.post("/coupons", json={"template_id": day["template"],
                                          "member_id": newcomer}).status_code == 201
        # 安娜 comes back on tablet 2 (晨 switched out) and seats the newcomer at A3.
        sign_in(two, "安娜")
        tab_a3 = serve(two, "A3", 1, newcomer)
        two.post(f"/tabs/{tab_a3}/items", json={"lines": [{"code": "VIP1", "qty": 1}]})
        answer = two.post(f"/tabs/{tab_a3}/checkout", json={},
                          headers={"Idempotency-Key": "day-a3"})
        paid[tab_a3] = answer.json()["order_id"]
        # The regular rates on the tablet handed over; the walk-in's receipt QR goes to the
        # form on the guest's own phone; the newcomer rates on the tablet.
        assert two.post("/feedback", json={"order_id": paid[tab_a1], "rating": 5,
                                           "tags": ["口味", "service"]}).status_code == 201
        assert two.post("/feedback", json={"order_id": paid[tab_a1],
                                           "rating": 1}).status_code == 409, "one per order"
        assert two.post("/feedback", json={"order_id": paid[tab_a3],
                                           "rating": 4}).status_code == 201
    slip = wait_until(lambda: next((s for s in VirtualPrinter(hub.home / "virtual-printer")
                                    .slips() if paid[tab_a2][-12:] in s["text"]), None))
    link = next(qr for qr in slip["qr"] if "/feedback?" in qr)
    assert link.startswith(hub.url)
    query = {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}
    assert query["order"] == paid[tab_a2]
    with hub.client("") as phone:
        forged = phone.post("/feedback/signed", json={"order_id": paid[tab_a1], "rating": 1,
                                                      "sig": query["sig"]})
        assert forged.status_code == 403, "a link signs one order only"
        rated = phone.post("/feedback/signed", json={
            "order_id": query["order"], "sig": query["sig"], "rating": 2, "tags": ["speed"],
            "comment": "上菜太慢"})
        assert rated.status_code == 201, rated.text

    with hub.client() as owner:
        day_shifts = owner.get("/shifts").json()["shifts"]
    assert [(s["staff"]["name"], s["closed_by"]) for s in day_shifts] == [
        ("安娜", "switch"), ("晨", "switch"), ("波", None), ("安娜", None)]
    assert day_shifts[0]["id"] == anna["id"]
    books = database.connect(hub.home / DB_NAME, home_key(hub.home), readonly=True)
    by_name = {v: k for k, v in staff.items()}

    def who(sql, *args):
        return [by_name.get(r[0]) for r in books.execute(sql, args)]

    # Every action on the right person.
    assert who("SELECT staff_id FROM visits WHERE table_no IN ('A1', 'A2', 'A3') "
               "ORDER BY visited_at") == ["安娜", "波", "安娜"]
    assert who("SELECT staff_id FROM tab_items WHERE tab_id = ? ORDER BY line_no",
               tab_a1) == ["安娜", "安娜", "波"]
    assert who("SELECT staff_id FROM orders ORDER BY created_at") == ["晨", "晨", "安娜"]
    assert who("SELECT signed_up_by FROM members WHERE id = ?", newcomer) == ["安娜"]
    assert who("SELECT signed_up_by FROM members WHERE id = ?", invited.json()["id"]) == ["波"]
    assert who("SELECT staff_id FROM stored_value_ledger WHERE kind = 'topup'") == ["晨"]
    assert who("SELECT issued_by FROM coupons WHERE reason IS NULL") == ["晨"]
    assert who("SELECT staff_id FROM feedback ORDER BY created_at") == ["安娜", "安娜", "波"]

    out = subprocess.run([sys.executable, "-m", "hub", "--home", str(hub.home), "report",
                          "staff", "--json"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, check=True).stdout
    report = {p["staff_id"]: p for p in json.loads(out)["staff"]}
    for staff_id, name in by_name.items():
        person = report[staff_id]
        expected = {
            "covers": books.execute("SELECT COALESCE(SUM(party_size), 0) FROM visits "
                                    "WHERE staff_id = ?", (staff_id,)).fetchone()[0],
            "orders": books.execute("SELECT COUNT(*) FROM orders WHERE staff_id = ?",
                                    (staff_id,)).fetchone()[0],
            "revenue_fen": books.execute("SELECT COALESCE(SUM(total_fen - discount_fen), 0) "
                                         "FROM orders WHERE staff_id = ?",
                                         (staff_id,)).fetchone()[0],
            "signups": books.execute("SELECT COUNT(*) FROM members WHERE signed_up_by = ?",
                                     (staff_id,)).fetchone()[0],
        }
        ratings = [r[0] for r in books.execute("SELECT rating FROM feedback WHERE staff_id = ?",
                                               (staff_id,))]
        expected["feedback_count"] = len(ratings)
        expected["rating_avg"] = round(sum(ratings) / len(ratings), 2) if ratings else None
        expected["good_rate"] = (round(sum(r >= 4 for r in ratings) / len(ratings), 4)
                                 if ratings else None)
        assert {k: person[k] for k in expected} == expected, name
    anna, bo, chen = (report[staff[n]] for n in ("安娜", "波", "晨"))
    check_commission(hub, books, by_name)
    assert (anna["covers"], anna["tables"], anna["returning_share"]) == (3, 2, 0.5)
    assert (anna["rating_avg"], anna["good_rate"]) == (4.5, 1.0)
    assert (bo["feedback_count"], bo["good_rate"]) == (1, 0.0)
    assert chen["good_rate"] is None and chen["revenue_fen"] == 6800 * 4 + 3000 * 2
    assert (chen["topups_fen"], chen["coupons_issued"]) == (50000, 1)
    assert anna["members_only_sold"] == 1 and chen["members_only_sold"] == 2


def check_commission(hub, books, by_name):
    """The month's statement: each line recomputed from the books under the rules set."""
    from hub.domain.reports import report
    from hub.report_files import export_report

    with open_store(hub.home) as store:  # in-process: the CLI's own path is the staff report's
        statement = report(store, "commission")
        export_report(store, statement, hub.home / "statement", "xlsx", actor="test")
    people = {p["staff_id"]: p for p in statement["staff"]}
    for staff_id in by_name:
        sales, = books.execute("SELECT COALESCE(SUM(total_fen - discount_fen), 0) FROM orders "
                               "WHERE staff_id = ?", (staff_id,)).fetchone()
        sold, = books.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger "
                              "WHERE kind = 'topup' AND staff_id = ?", (staff_id,)).fetchone()
        signups, = books.execute("SELECT COUNT(*) FROM members WHERE signed_up_by = ?",
                                 (staff_id,)).fetchone()
        hot, vip = books.execute(
            "SELECT COALESCE(SUM(l.qty * (l.code IN ('HS01', 'VIP1'))), 0), "
            "COALESCE(SUM(l.qty * (l.code = 'VIP1')), 0) FROM orders o JOIN order_lines l "
            "ON l.order_id = o.id WHERE o.staff_id = ?", (staff_id,)).fetchone()
        expected = sales * 150 // 10_000 + sold * 200 // 10_000 + signups * 500 \
            + hot * 100 + vip * 300
        assert people[staff_id]["total_fen"] == expected, by_name[staff_id]
    chen = next(i for i, name in by_name.items() if name == "晨")
    assert people[chen]["total_fen"] == 33200 * 150 // 10_000 + 1000 + 600 + 600
    assert statement["total_fen"] == sum(p["total_fen"] for p in statement["staff"])
    total, = books.execute("SELECT SUM(total_fen - discount_fen) FROM orders").fetchone()
    assert statement["books"]["sales_fen"] == total
    from openpyxl import load_workbook

    sheet = load_workbook(hub.home / "statement" / "commission.xlsx")["staff"]
    rows = list(sheet.iter_rows(values_only=True))
    column = rows[0].index("total_fen")
    assert sum(row[column] for row in rows[1:]) == statement["total_fen"]


def test_a_low_rating_reaches_the_console_and_is_answered_with_one_key(day):
    import asyncio

    from textual.widgets import Static

    from kiosk.client import HubClient
    from kiosk.console import ConsoleApp
    from kiosk.console.screens import RatingAlert
    from tests.support.pilot import until

    hub = day["hub"]

    def subscribers():
        return hub.client().get("/health").json()["event_subscribers"]

    async def scenario():
        before = subscribers()
        app = ConsoleApp(HubClient(hub.url, hub.owner_token, pin=hub.pin), language="zh-CN")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f10")
            await until(pilot, lambda: app.screen.query("#shift-pin"))
            for key in PINS["晨"]:
                await pilot.press(key)
            await pilot.press("enter")
            await until(pilot, lambda: app.sub_title == "当班: 晨")
            await until(pilot, lambda: subscribers() > before)
            with hub.client(day["tablets"]["tablet 1"]) as tablet:
                order = tablet.post("/checkouts", json={"lines": [
                    {"code": "HS01", "qty": 1}]}, headers={"Idempotency-Key": "day-low"})
                assert tablet.post("/feedback", json={
                    "order_id": order.json()["order_id"], "rating": 1, "tags": ["service"],
                    "comment": "等了很久"}).status_code == 201
            await until(pilot, lambda: isinstance(app.screen, RatingAlert))
            shown = str(app.screen.query_one("#alert", Static).render())
            assert "等了很久" in shown and "★" in shown and "波" in shown
            await pilot.press("enter")  # the apology button has the focus
            await until(pilot, lambda: not isinstance(app.screen, RatingAlert))

    asyncio.run(scenario())
    books = database.connect(hub.home / DB_NAME, home_key(hub.home), readonly=True)
    code, by = books.execute("SELECT code, issued_by FROM coupons WHERE reason = 'apology'") \
        .fetchone()
    assert by == day["staff"]["晨"], "the console's shift issued it"
    assert books.execute("SELECT apology_code FROM feedback WHERE comment = '等了很久'") \
        .fetchone() == (code,)
    assert books.execute("SELECT COUNT(*) FROM print_jobs WHERE kind = 'coupon' AND "
                         "coupon_code = ?", (code,)).fetchone() == (1,)


def test_the_tablet_signs_staff_in_and_the_receipt_qr_opens_the_rating_form(day, browser):
    from tests.support.browser import TABLET, shot

    hub = day["hub"]
    with hub.client() as owner:
        added = owner.post("/devices", json={"name": "pad 3", "role": "cashier",
                                             "pair_link": True}).json()
        order = owner.post("/checkouts", json={"lines": [{"code": "HS01", "qty": 1}],
                                               "print": True},
                           headers={"Idempotency-Key": "day-browser"}).json()["order_id"]
    tablet = browser.new_context(viewport=TABLET, locale="zh-CN", ignore_https_errors=True)
    page = tablet.new_page()
    page.goto(hub.url + "/pair" + added["pair_url"].split("/pair", 1)[1])
    page.goto(f"{hub.url}/tablet")
    page.fill("#shift-pin", PINS["安娜"])
    page.press("#shift-pin", "Enter")
    page.wait_for_selector("#shift-who:text-is('当班: 安娜')")
    page.click("#shift-switch")  # two taps and a PIN: another person on the same tablet
    page.fill("#shift-pin", PINS["波"])
    page.press("#shift-pin", "Enter")
    page.wait_for_selector("#shift-who:text-is('当班: 波')")
    shot(page, "tablet-shift")
    page.click("#shift-out")
    page.wait_for_selector("#shift-form")
    tablet.close()

    slip = wait_until(lambda: next((s for s in VirtualPrinter(hub.home / "virtual-printer")
                                    .slips() if order[-12:] in s["text"]), None))
    assert "扫码评价本次用餐" in slip["text"]
    link = next(qr for qr in slip["qr"] if "/feedback?" in qr)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                ignore_https_errors=True)
    form = phone.new_page()
    form.goto(link)
    form.click("#stars label:has-text('4★')")
    form.click("#tags label:has-text('环境')")
    form.fill("textarea[name=comment]", "很安静")
    form.click("button[type=submit]")
    form.wait_for_selector("#thanks:not([hidden])")
    shot(form, "feedback-form")
    phone.close()
    books = database.connect(hub.home / DB_NAME, home_key(hub.home), readonly=True)
    assert books.execute("SELECT rating, tags, comment, source FROM feedback WHERE order_id = ?",
                         (order,)).fetchone() == (4, '["ambience"]', "很安静", "receipt")
