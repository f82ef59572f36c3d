"""The staff console driven through Textual's pilot against a real hub process."""

import asyncio

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from hub.domain.coupons import create_template, issue_coupon
from hub.domain.ledgers import top_up
from hub.domain.members import NewMember, add_member
from hub.home import open_store
from kiosk.client import HubClient
from kiosk.console import ConsoleApp, parse_lines, to_fen
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub
from tests.support.pilot import click, until


@pytest.fixture(scope="module")
def store_hub(tmp_path_factory):
    home = tmp_path_factory.mktemp("console") / "home"
    with open_store(home) as store:
        from hub.demo_data import generate

        generate(store, members=150, days=200, seed=5)
        guest = add_member(store, NewMember(name="王小芳", phone="13812345678",
                                            allergies=["对虾"], notes="微辣"))
        top_up(store, guest["id"], 50_000)
        template = create_template(store, "满100减20", "amount_off", amount_fen=2000,
                                   min_spend_fen=10000)
        coupon = issue_coupon(store, template["id"], guest["id"])
    hub = RunningHub(home).start(timeout=90)
    with hub.client() as api:  # some points to spend
        api.post("/checkouts", json={"member_id": guest["id"], "lines": [
            {"dish": "包桌", "qty": 1, "unit_price_fen": 50_000}]},
            headers={"Idempotency-Key": "console-setup"})
    yield hub, guest, coupon
    hub.stop()


def console(hub, events=False):
    return ConsoleApp(HubClient(hub.url, hub.owner_token, pin=hub.pin), language="zh-CN",
                      events=events)


def text_of(app, selector):
    return str(app.query_one(selector, Static).render())


async def open_guest(pilot, app, query="138123"):
    await pilot.press("slash")
    assert app.focused is app.query_one("#search", Input)
    for key in query:
        await pilot.press(key)
    table = app.query_one("#results", DataTable)
    await until(pilot, lambda: table.row_count == 1)
    table.focus()
    await pilot.press("enter")
    await until(pilot, lambda: "王小芳" in text_of(app, "#profile"))


def test_search_as_you_type_and_open_a_profile(store_hub):
    hub, _guest, coupon = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await open_guest(pilot, app)
            profile = text_of(app, "#profile")
            assert "对虾" in profile and "500.00元" in profile and coupon["code"] in profile

    asyncio.run(scenario())


def test_edit_a_taste_note(store_hub):
    hub, guest, _ = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await open_guest(pilot, app)
            app.query_one("#edit-notes", Input).value = "不放花椒, 少盐"
            await click(pilot, "#save")
            await until(pilot, lambda: "不放花椒" in text_of(app, "#profile"))
        with hub.client() as api:
            assert api.get(f"/members/{guest['id']}").json()["notes"] == "不放花椒, 少盐"

    asyncio.run(scenario())


def test_checkout_with_points_and_a_coupon_shows_the_receipt(store_hub):
    hub, guest, coupon = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await open_guest(pilot, app)
            await pilot.press("f3")
            await pilot.pause(0.3)
            app.query_one("#lines", TextArea).text = "宫保鸡丁 2 48\n米饭 2 3"
            app.query_one("#pay-points", Input).value = "100"
            app.query_one("#pay-coupon", Input).value = coupon["code"]
            app.query_one("#pay-stored", Input).value = "10"
            await pilot.pause(0.1)
            await click(pilot, "#charge")
            await until(pilot, lambda: "宫保鸡丁" in text_of(app, "#receipt"))
            receipt = text_of(app, "#receipt")
            assert "102.00元" in receipt and "-20.00元" in receipt and "-10.00元" in receipt
        with hub.client() as api:
            orders = api.get(f"/members/{guest['id']}/visits").json()["orders"]
            latest = orders[0]
            assert latest["coupon_code"] == coupon["code"] and latest["points_redeemed"] == 100

    asyncio.run(scenario())


def test_lapsed_list_to_coupon_sent(store_hub):
    hub, _, _ = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f4")
            await pilot.pause(0.3)
            await click(pilot, "#load-segment")
            table = app.query_one("#segment-members", DataTable)
            await until(pilot, lambda: table.row_count > 0)
            member_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            from textual.widgets import Select

            select = app.query_one("#list-template", Select)
            await until(pilot, lambda: len(select._options) > 1)
            select.value = select._options[1][1]
            await click(pilot, "#list-coupon")
            await pilot.pause(0.5)
            with hub.client() as api:
                await until(pilot, lambda: api.get(f"/members/{member_id}/coupons").json()[
                    "coupons"])

    asyncio.run(scenario())


def test_the_call_list_to_a_logged_call(store_hub):
    """F4's call list, the most valuable first; a call refused for want of a note keeps its
    dialog, and the logged one takes the guest off the list."""
    hub, _, _ = store_hub
    from textual.widgets import Select

    from kiosk.console.panes import ListsPane

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f4")
            await pilot.pause(0.3)
            await click(pilot, "#load-calls")
            table = app.query_one("#call-list", DataTable)
            await until(pilot, lambda: table.row_count > 1)
            pane = app.query_one(ListsPane)
            spends = [pane.to_call[str(row.key.value)]["spend_fen"]
                      for row in table.ordered_rows]
            assert spends == sorted(spends, reverse=True)
            member_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
            table.focus()
            await pilot.press("enter")
            await until(pilot, lambda: bool(app.screen.query("#call-reason")))
            app.screen.query_one("#call-reason", Select).value = "other"
            await click(pilot, "#call-save")
            await pilot.pause(0.5)
            assert app.screen.query("#call-reason"), "refused: the dialog stays to be mended"
            app.screen.query_one("#call-note", Input).value = "换了工作，离得远"
            await click(pilot, "#call-save")
            await until(pilot, lambda: member_id not in pane.to_call and bool(pane.to_call))
            with hub.client() as api:
                logged = api.get(f"/members/{member_id}/calls").json()["calls"]
            assert [(c["outcome"], c["reason"], c["note"]) for c in logged] == [
                ("reached", "other", "换了工作，离得远")]

    asyncio.run(scenario())


def test_a_live_checkin_appears_on_the_dashboard(store_hub):
    hub, guest, _ = store_hub

    async def scenario():
        app = console(hub, events=True)
        async with app.run_test(size=(120, 50)) as pilot:
            table = app.query_one("#checked-in", DataTable)
            await pilot.pause(1.0)
            with hub.client() as api:
                api.post("/checkins", json={"member_id": guest["id"], "table": "包间9",
                                            "party_size": 4})
            await until(pilot, lambda: any(
                "包间9" in [str(c) for c in table.get_row(key)] for key in table.rows))
            row = next(table.get_row(k) for k in table.rows if "包间9" in map(str,
                                                                          table.get_row(k)))
            assert "王小芳" in row and "对虾" in row

    asyncio.run(scenario())


def test_language_switch_and_help(store_hub):
    hub, _, _ = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(80, 24)) as pilot:
            assert "看板" in str(app.query_one("#tabs").render()) or app.language == "zh-CN"
            await pilot.press("f9")
            await pilot.pause(0.3)
            assert app.language == "en"
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            assert app.screen.query("HelpPanel")

    asyncio.run(scenario())


def test_money_and_bill_parsing():
    assert to_fen("12") == 1200 and to_fen("12.5") == 1250 and to_fen("0.05") == 5
    with pytest.raises(ValueError):
        to_fen("12.345")
    with pytest.raises(ValueError):
        to_fen("abc")
    assert parse_lines("宫保 鸡丁 2 48\n\n米饭 1 3") == [
        {"dish": "宫保 鸡丁", "qty": 2, "unit_price_fen": 4800},
        {"dish": "米饭", "qty": 1, "unit_price_fen": 300}]
    with pytest.raises(ValueError):
        parse_lines("宫保鸡丁 two 48")
    assert parse_lines("R01 2\n开瓶费 1 20") == [
        {"code": "R01", "qty": 2}, {"dish": "开瓶费", "qty": 1, "unit_price_fen": 2000}]
    with pytest.raises(ValueError, match="code qty"):
        parse_lines("米饭 2")


def test_a_counter_bill_by_menu_code_seats_its_party(store_hub):
    hub, _, _ = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f3")
            await pilot.pause(0.3)
            app.query_one("#lines", TextArea).text = "R01 2\n开瓶费 1 20"
            app.query_one("#party", Input).value = "3"
            await pilot.pause(0.1)
            await click(pilot, "#charge")
            await until(pilot, lambda: "宫保鸡丁" in text_of(app, "#receipt"))
            assert "116.00元" in text_of(app, "#receipt"), "priced by the menu"

    asyncio.run(scenario())
    with home_db(hub.home) as db:
        seated = db.execute("SELECT v.table_no, v.party_size, o.member_id FROM orders o "
                            "JOIN visits v ON v.id = o.visit_id ORDER BY o.created_at DESC "
                            "LIMIT 1").fetchone()
    assert seated == ("柜台", 3, None), "a counter bill is covers too"


def test_campaigns_tab_switches_runs_and_shows_the_lift(store_hub):
    hub, _guest, _coupon = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(140, 50)) as pilot:
            await pilot.press("f5")
            table = app.query_one("#campaign-table", DataTable)
            await until(pilot, lambda: table.row_count >= 6)
            win_back = next(key.value for key in table.rows
                            if table.get_row(key)[1] == "win_back")
            table.move_cursor(row=table.get_row_index(win_back))
            await click(pilot, "#campaign-toggle")
            await until(pilot, lambda: table.get_row(win_back)[3] == "开")
            await click(pilot, "#campaign-run")
            await until(pilot, lambda: "对照组" in text_of(app, "#campaign-detail"))
            detail = text_of(app, "#campaign-detail")
            assert "触达组" in detail and "消息" in detail
            await click(pilot, "#campaign-texts")
            await until(pilot, lambda: "目标人数" in text_of(app, "#campaign-detail"))
            texts = text_of(app, "#campaign-detail")
            asked = HubClient(hub.url, hub.owner_token, pin=hub.pin)
            shown = asked.campaign_preview(win_back)
            asked.close()
            assert shown["messages"] and all(m["text"] in texts for m in shown["messages"]), \
                "word for word"
            edit = app.query_one("#campaign-edit", Input)
            await until(pilot, lambda: '"lapsed_days": 90' in edit.value)
            edit.value = edit.value.replace('"lapsed_days": 90', '"lapsed_days": 120')
            await click(pilot, "#campaign-save")
            check = HubClient(hub.url, hub.owner_token, pin=hub.pin)
            await until(pilot, lambda: any(
                c["id"] == win_back and c["audience"].get("lapsed_days") == 120
                for c in check.campaigns()))
            check.close()
            rules = app.query_one("#rules", Input)
            rules.value = '{"lapsed_days": 90}'
            await click(pilot, "#preview")
            await until(pilot, lambda: "目标人数" in text_of(app, "#preview-count"))
            rules.value = "{not json"
            await click(pilot, "#preview")
            await pilot.pause(0.2)

    asyncio.run(scenario())


def test_reports_tab_draws_the_chart_and_exports(store_hub, tmp_path):
    hub, _guest, _coupon = store_hub

    async def scenario():
        app = ConsoleApp(HubClient(hub.url, hub.owner_token, pin=hub.pin), language="en",
                         events=False, export_dir=tmp_path)
        async with app.run_test(size=(140, 60)) as pilot:
            await pilot.press("f7")
            table = app.query_one("#report-table", DataTable)
            await until(pilot, lambda: table.row_count > 5)
            assert [str(c.label) for c in table.columns.values()] == ["dish", "qty",
                                                                       "revenue_fen"]
            await click(pilot, "#export-report")
            await until(pilot, lambda: (tmp_path / "dishes.png").exists()
                        and (tmp_path / "dishes.xlsx").exists(), timeout=20)

    asyncio.run(scenario())


def test_reports_tab_narrows_the_dish_mix_to_a_category(store_hub):
    """The weekday x daypart grid of one menu category, as the hub answers it for that
    category: a row per weekday, a column per daypart."""
    from textual.widgets import Select

    hub, _guest, _coupon = store_hub
    with hub.client() as api:
        drinks = api.get("/reports/dish_mix", params={"category": "饮品"}).json()

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(140, 60)) as pilot:
            await pilot.press("f7")
            table = app.query_one("#report-table", DataTable)
            await until(pilot, lambda: table.row_count > 5)
            app.query_one("#report-name", Select).value = "dish_mix"
            app.query_one("#report-category", Input).value = "饮品"
            await click(pilot, "#load-report")
            await until(pilot, lambda: len(table.columns) == 6)
            assert [str(c.label) for c in table.columns.values()] == ["row", *drinks["dayparts"]]
            rows = [[int(str(cell)) for cell in table.get_row_at(n)[1:]] for n in range(7)]
            assert rows == drinks["qty"] and sum(map(sum, rows)) > 0

    asyncio.run(scenario())


def test_the_menu_tab_edits_everything_about_a_dish(store_hub):
    """A manager changes a dish in one form (prices, tags, portions left today), sells it out,
    adds a dish, takes one off the menu; a chain's dish keeps its chain fields greyed."""
    from textual.widgets import Button, Checkbox, Select

    from hub.domain.menu import apply_chain_menu

    hub, _, _ = store_hub
    with open_store(hub.home) as store, store.write():
        apply_chain_menu(store, [{"code": "C01", "name": "招牌酸汤鱼", "category": "热菜",
                                  "price_fen": 8800, "station": "热菜间"}])

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(140, 60)) as pilot:
            await pilot.press("f8")
            table = app.query_one("#menu-table", DataTable)
            await until(pilot, lambda: table.row_count == 36)

            async def choose(code):
                table.focus()
                table.move_cursor(row=table.get_row_index(code))
                await pilot.press("enter")
                await until(pilot, lambda: app.query_one("#dish-code", Input).value == code)

            def field(name):
                return app.query_one(f"#dish-{name}", Input)

            await choose("R01")
            field("price").value = "52"
            field("member-price").value = "48.5"
            field("portions").value = "3"
            app.query_one("#dish-new", Checkbox).value = True
            app.query_one("#dish-spice", Select).value = "中辣"
            await click(pilot, "#dish-save")
            await until(pilot, lambda: {"52.00元", "48.50元", "剩3份 快沽清"} <= set(
                map(str, table.get_row("R01"))))
            await click(pilot, "#menu-sold-out")
            await until(pilot, lambda: "售罄" in map(str, table.get_row("R01")))

            await click(pilot, "#dish-add")
            assert field("code").value == "" and not field("code").disabled
            for name, text in (("code", "TS01"), ("name", "番茄蛋汤"), ("name-en", "Tomato soup"),
                               ("category", "汤"), ("station", "热菜间"), ("price", "18"),
                               ("limit", "20"), ("tags", "招牌")):
                field(name).value = text
            app.query_one("#dish-kids", Checkbox).value = True
            app.query_one("#dish-members-only", Checkbox).value = True
            await click(pilot, "#dish-save")
            await until(pilot, lambda: table.row_count == 37)
            assert field("code").disabled, "a saved dish keeps its code"

            field("limit").value = "二十"
            await click(pilot, "#dish-save")
            await until(pilot, lambda: any("整数" in n.message for n in app._notifications))
            field("limit").value = ""  # no limit any more
            saved = sum("番茄蛋汤" in str(n.message) for n in app._notifications)
            await click(pilot, "#dish-save")
            # its answer first: a reload landing after the next dish is chosen resets a retire
            await until(pilot, lambda: sum("番茄蛋汤" in str(n.message)
                                           for n in app._notifications) > saved)

            await choose("R02")
            await click(pilot, "#dish-retire")
            assert "确认" in str(app.query_one("#dish-retire", Button).label), "asks once"
            await click(pilot, "#dish-retire")
            await until(pilot, lambda: table.row_count == 36)

            await choose("C01")
            assert field("name").disabled and app.query_one("#dish-retire", Button).disabled
            assert "总部菜品" in text_of(app, "#dish-note")
            assert not field("price").disabled and not field("portions").disabled
            field("price").value = "92"
            await click(pilot, "#dish-save")
            await until(pilot, lambda: "92.00元" in map(str, table.get_row("C01")))

    asyncio.run(scenario())
    with hub.client() as api:
        dishes = {d["code"]: d for d in api.get("/menu").json()["dishes"]}
    edited, added = dishes["R01"], dishes["TS01"]
    assert (edited["price_fen"], edited["member_price_fen"], edited["portions_left"]) == \
        (5200, 4850, 3) and {"新品", "中辣"} <= set(edited["tags"]) and not edited["available"]
    assert (added["name"], added["name_en"], added["category"], added["station"],
            added["price_fen"], added["members_only"], added["daily_limit"]) == \
        ("番茄蛋汤", "Tomato soup", "汤", "热菜间", 1800, True, None)
    assert set(added["tags"]) == {"儿童", "招牌"}
    assert "R02" not in dishes and dishes["C01"]["price_fen"] == 9200


def test_an_answer_that_comes_back_late_does_not_put_back_what_a_change_removed(store_hub):
    """The console asks the hub from worker threads, so answers can come back in any order.
    A menu read that left before a dish was sold out and lands after the fresh one must not
    show the dish on sale again; a search's answer for the first key typed must not replace
    the one for the whole number."""
    import threading

    hub, _, _ = store_hub

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(140, 60)) as pilot:
            await pilot.press("f8")
            table = app.query_one("#menu-table", DataTable)
            await until(pilot, lambda: table.row_count > 0)
            real, read, release = app.client.menu, threading.Event(), threading.Event()

            def stale():
                dishes = real()  # read before the change, answered after it
                read.set()
                release.wait(20)
                return dishes

            app.client.menu = stale
            app.query_one("#menu").load()
            await until(pilot, read.is_set)
            app.client.menu = real

            table.focus()
            table.move_cursor(row=table.get_row_index("R03"))
            await pilot.press("enter")
            await until(pilot, lambda: app.query_one("#dish-code", Input).value == "R03")
            await click(pilot, "#menu-sold-out")
            await until(pilot, lambda: "售罄" in map(str, table.get_row("R03")))
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
            assert "售罄" in map(str, table.get_row("R03")), "the late answer put it back"

            await click(pilot, "#menu-sold-out")  # on sale again, for the other tests
            await until(pilot, lambda: "售罄" not in map(str, table.get_row("R03")))

            # the same for search as you type: the answer for "1" lands after the one for "138123"
            real_search, release = app.client.search, threading.Event()

            def late(query, limit):
                release.wait(20)
                return real_search(query, limit)

            app.client.search = late
            await pilot.press("slash", "1")
            app.client.search = real_search
            for key in "38123":
                await pilot.press(key)
            results = app.query_one("#results", DataTable)
            await until(pilot, lambda: results.row_count == 1)
            release.set()
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
            assert results.row_count == 1, "the late answer for '1' replaced the one for '138123'"

    asyncio.run(scenario())


def test_the_devices_tab_shows_every_workers_state_and_the_sync_conflicts(store_hub):
    """What the chain sent that could not apply here is on the devices tab for a person to
    settle, beside the state of each of the hub's background workers (issue 15 fault 1), and
    so is a group-buy voucher taken offline that the platform then refused (issue 20)."""
    from hub.domain import groupbuy
    from hub.domain.checkout import CheckoutRequest, Tender, checkout
    from hub.domain.coupons import Line
    from hub.domain.replica import apply_page

    hub, _, _ = store_hub
    with open_store(hub.home) as store:  # a card of a guest this store never heard of
        apply_page(store, [{"store": "s-x", "seq": 1, "id": "x1", "type": "card.linked",
                            "ts": "2026-11-25T04:30:00.000Z",
                            "data": {"number": "77", "member_id": "nobody", "linked_at": "t"}}],
                   0)
        checkout(store, CheckoutRequest("offline-voucher", [Line("烤鸭", 1, 5_000)], tenders=[
            Tender("voucher", 5_000, code="555566667777")],
            vouchers=[groupbuy.Taken("555566667777", "rid-1", None)]))
        [pending] = groupbuy.vouchers(store, state="pending")
        groupbuy.settle(store, pending["id"], None, "券码不存在")
    with hub.client() as api:
        workers = api.get("/health").json()["workers"]
    states = {"running": "运行中", "failing": "出错重试中", "stopped": "已停止",
              "not started": "未启动"}

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f6")
            table = app.query_one("#conflict-table", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            _when, kind, origin, reason = map(str, table.get_row_at(0))
            assert (kind, origin) == ("card.linked", "s-x") and "FOREIGN KEY" in reason
            shown = text_of(app, "#sync-state")
            assert "同步冲突 1" in shown
            vouchers = app.query_one("#voucher-table", DataTable)
            await until(pilot, lambda: vouchers.row_count == 1)
            _when, code, covered, order_id, why = map(str, vouchers.get_row_at(0))
            assert (code, covered, why) == ("555566667777", "50.00", "券码不存在")
            assert order_id == pending["order_id"]
            for worker in workers:
                assert f"{worker['name']} {states[worker['state']]}" in shown, shown

    asyncio.run(scenario())


def test_the_member_detail_shows_delivery_orders_next_to_the_table(store_hub):
    """Issue 20: a guest's platform orders (claimed, here) are in their history beside the
    till's, with the platform, the dishes and the amount; never the platform's user id."""
    from hub.domain.delivery import claim, end_order, import_orders

    hub, _, _ = store_hub
    with hub.client() as api:
        guest = api.post("/members", json={"name": "赵小美", "phone": "137 5555 0000",
                                           "marketing_consent": False}).json()
        assert api.post("/checkouts", json={"member_id": guest["id"], "lines": [
            {"dish": "水煮鱼", "qty": 1, "unit_price_fen": 12_800}]},
            headers={"Idempotency-Key": "console-dine-in"}).status_code == 201
    line = {"customer_id": "mt-user-4242", "phone": "137****0000", "platform_fee_fen": ""}
    with open_store(hub.home) as store:
        import_orders(store, "meituan", [
            {**line, "platform_order_id": "MT-C1", "created_at": "2026-11-20T12:00:00+08:00",
             "dish": "宫保鸡丁", "qty": "2", "unit_price_fen": "3800"},
            {**line, "platform_order_id": "MT-C1", "created_at": "2026-11-20T12:00:00+08:00",
             "dish": "米饭", "qty": "2", "unit_price_fen": "300"},
            {**line, "platform_order_id": "MT-C2", "created_at": "2026-11-21T19:00:00+08:00",
             "dish": "酸辣汤", "qty": "1", "unit_price_fen": "2200"}])
        code = store.scalar("SELECT claim_code FROM delivery_orders WHERE "
                            "platform_order_id = 'MT-C1'")
        claim(store, code, guest["id"], actor="test")  # MT-C2 comes with its platform user
        end_order(store, "meituan", "MT-C2", "refunded")
    with hub.client() as api:
        history = api.get(f"/members/{guest['id']}/visits")
    assert history.status_code == 200 and "mt-user-4242" not in history.text
    orders = history.json()["orders"]
    assert [(o["channel"], o["platform"], o["state"], o["total_fen"]) for o in orders] == [
        ("dine_in", None, "placed", 12_800), ("delivery", "meituan", "refunded", 2200),
        ("delivery", "meituan", "placed", 8200)]
    assert orders[2]["lines"] == [{"dish": "宫保鸡丁", "qty": 2}, {"dish": "米饭", "qty": 2}]

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("slash", *"1375555")
            table = app.query_one("#results", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            table.focus()
            await pilot.press("enter")
            await until(pilot, lambda: "美团外卖" in text_of(app, "#ledgers"))
            shown = text_of(app, "#ledgers")
            assert "11-20 美团外卖 宫保鸡丁×2、米饭×2 82.00" in shown, shown
            assert "11-21 美团外卖 酸辣汤×1 22.00元 (已退款)" in shown, shown
            assert "堂食 水煮鱼×1 128.00" in shown, shown
            assert "4242" not in shown

    asyncio.run(scenario())


def test_a_flagged_voucher_is_settled_from_the_devices_tab_and_audited(store_hub):
    """The owner accepts the loss of a voucher the platform refused after it was taken
    offline: it leaves the flagged list, and the hub records who settled it (issue 20)."""
    from hub.domain import groupbuy
    from hub.domain.checkout import CheckoutRequest, Tender, checkout
    from hub.domain.coupons import Line

    hub, _, _ = store_hub
    with open_store(hub.home) as store:
        checkout(store, CheckoutRequest("refused-voucher", [Line("烤鸭", 1, 6_000)], tenders=[
            Tender("voucher", 6_000, code="444455556666")],
            vouchers=[groupbuy.Taken("444455556666", "rid-settle", None)]))
        [pending] = groupbuy.vouchers(store, state="pending")
        groupbuy.settle(store, pending["id"], None, "券码已过期")

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.press("f6")
            vouchers = app.query_one("#voucher-table", DataTable)
            await until(pilot, lambda: pending["id"] in [k.value for k in vouchers.rows])
            vouchers.move_cursor(row=vouchers.get_row_index(pending["id"]))
            shown = vouchers.row_count
            await click(pilot, "#voucher-loss")
            await until(pilot, lambda: vouchers.row_count == shown - 1)
            assert pending["id"] not in [k.value for k in vouchers.rows]

    asyncio.run(scenario())
    with home_db(hub.home) as db:
        assert db.execute("SELECT resolution FROM group_vouchers WHERE id = ?",
                          (pending["id"],)).fetchone()[0] == "loss"
        actor, detail = db.execute("SELECT actor, detail FROM audit_log WHERE action = "
                                   "'group_voucher.resolved'").fetchone()
    assert "444455556666" in detail and actor


def test_a_person_joins_the_delivery_order_a_guest_shows_and_can_undo_it(store_hub):
    """The guest at the counter shows a Meituan order in their app: the manager picks it on
    the guest's page and joins that platform user to them; its orders are the guest's, the
    hub audits it, and the join is undone from the same row (issue 20)."""
    from textual.widgets import Select

    from hub.domain.delivery import import_orders

    hub, guest, _ = store_hub
    with open_store(hub.home) as store:
        import_orders(store, "meituan", [
            {"platform_order_id": "MT-CONSOLE-1", "created_at": "2026-11-20T12:00:00+08:00",
             "customer_id": "mt-user-9", "phone": "", "dish": "宫保鸡丁", "qty": "2",
             "unit_price_fen": "3800", "platform_fee_fen": ""}])

    def owner():
        with home_db(hub.home) as db:
            return db.execute("SELECT o.member_id FROM delivery_orders d JOIN orders o ON "
                              "o.id = d.order_id WHERE d.platform_order_id = 'MT-CONSOLE-1'"
                              ).fetchone()[0]

    async def scenario():
        app = console(hub)
        async with app.run_test(size=(120, 50)) as pilot:
            await open_guest(pilot, app)
            orders = app.query_one("#delivery-order", Select)
            key = "meituan\tmt-user-9"
            await until(pilot, lambda: key in [value for _, value in orders._options])
            orders.value = key
            await click(pilot, "#delivery-join")
            joined = app.query_one("#delivery-identity", Select)
            await until(pilot, lambda: key in [value for _, value in joined._options])
            assert owner() == guest["id"]
            await until(pilot, lambda: "美团外卖 宫保鸡丁×2" in text_of(app, "#ledgers"))
            joined.value = key
            await click(pilot, "#delivery-unjoin")
            await until(pilot, lambda: key not in [value for _, value in joined._options])
            assert owner() is None

    asyncio.run(scenario())
    with home_db(hub.home) as db:
        assert [row[0] for row in db.execute(
            "SELECT action FROM audit_log WHERE action LIKE 'delivery.%join' ORDER BY rowid")
        ] == ["delivery.join", "delivery.unjoin"]
