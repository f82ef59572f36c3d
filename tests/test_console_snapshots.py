"""SVG snapshots of the console's main screens in zh-CN and English.

The hub is real and its content fixed (a store with known guests and no trade today), so a
changed picture means the console changed. Update them with `pytest --snapshot-update`
after looking at the difference.
"""

import pytest
from textual.widgets import DataTable, Static

from hub.domain.members import NewMember, add_member
from hub.domain.menu import save_dish, set_portions
from hub.home import ensure_home, open_store
from kiosk.client import HubClient
from kiosk.console import ConsoleApp
from tests.support.hubproc import RunningHub

SIZE = (100, 34)


@pytest.fixture(scope="module")
def fixed_hub(tmp_path_factory):
    home = tmp_path_factory.mktemp("snap") / "home"
    ensure_home(home, "snapshot-store")
    with open_store(home) as store:
        add_member(store, NewMember(name="王芳", phone="13800138000", birthday="1990-05-01",
                                    allergies=["对虾"], avoid=["花椒"], spice_level="mild",
                                    notes="少油", seat_preference="靠窗", tags=["家庭聚餐"]))
        add_member(store, NewMember(name="王小明", phone="13912348000", vip=True))
        for code, name, price, extra in (
                ("HS01", "宫保鸡丁", 4800, {"member_price_fen": 4200, "tags": ["中辣"]}),
                ("LC01", "拍黄瓜", 1800, {"tags": ["新品"]}),
                ("TS01", "番茄蛋汤", 1800, {"tags": ["儿童"], "members_only": True})):
            save_dish(store, {"code": code, "name": name, "price_fen": price,
                              "category": "热菜", "station": "热菜间", **extra}, actor="test")
        set_portions(store, "HS01", 2, actor="test")
    hub = RunningHub(home).start(timeout=90)  # a loaded machine starts a hub slowly
    yield hub
    hub.stop()


def app_for(hub, language):
    return ConsoleApp(HubClient(hub.url, hub.owner_token, pin=hub.pin), language=language,
                      events=False)


async def settle(pilot, check):
    for _ in range(200):
        await pilot.pause(0.05)
        if check():
            await pilot.pause(0.2)
            return
    raise AssertionError("the screen never filled in")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_dashboard(snap_compare, fixed_hub, language):
    async def loaded(pilot):
        await settle(pilot, lambda: "snapshot-store" in str(
            pilot.app.query_one("#status", Static).render()))

    assert snap_compare(app_for(fixed_hub, language), terminal_size=SIZE, run_before=loaded)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_member_profile(snap_compare, fixed_hub, language):
    async def search(pilot):
        await pilot.press("slash", *"8000")
        table = pilot.app.query_one("#results", DataTable)
        await settle(pilot, lambda: table.row_count == 2)
        table.focus()
        await pilot.press("enter")
        await settle(pilot, lambda: "对虾" in str(pilot.app.query_one("#profile").render())
                     and "…" not in str(pilot.app.query_one("#ledgers").render()))
        pilot.app.set_focus(None)

    assert snap_compare(app_for(fixed_hub, language), terminal_size=SIZE, run_before=search)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_checkout(snap_compare, fixed_hub, language):
    async def checkout(pilot):
        await settle(pilot, lambda: "snapshot-store" in str(
            pilot.app.query_one("#status", Static).render()))
        await pilot.press("f3")
        pilot.app.query_one("#lines").text = "宫保鸡丁 2 48\n米饭 2 3"
        await pilot.pause(0.3)

    assert snap_compare(app_for(fixed_hub, language), terminal_size=SIZE, run_before=checkout)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_menu_editor(snap_compare, fixed_hub, language):
    async def menu(pilot):
        await pilot.press("f8")
        await settle(pilot, lambda: pilot.app.query_one("#dish-code").value == "HS01")
        pilot.app.set_focus(None)

    assert snap_compare(app_for(fixed_hub, language), terminal_size=(120, 44), run_before=menu)
