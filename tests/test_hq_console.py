"""HQ's console (`laoke hq console`) through Textual's pilot over a real HQ book, on SQLite
and PostgreSQL: the fleet with the stores that need a person first, the chain's totals, the
flags, and a database that goes away leaving the last fleet up, marked stale (issue 23)."""

import asyncio
import json
import threading

from click.testing import CliRunner
from textual.widgets import DataTable, Static

from hub.cli import cli
from hub.ports import free_port
from kiosk.console.hq import HqConsoleApp, read_fleet
from sync.hq import HqBook
from sync.protocol import PROTOCOL, events_topic
from tests.support.chain import order_event
from tests.support.pilot import until


def _fleet_book(url):
    """Three stores: s-a online with a poison event parked, s-b offline, s-c fine."""
    book = HqBook(url)
    for store_id, online in (("s-a", True), ("s-b", False), ("s-c", True)):
        book.set_status(store_id, online, PROTOCOL, "0.9.1")
    book.set_region("s-a", "华东")
    poison = {**order_event("s-a", 2), "type": "stored_value.entry",
              "data": {"id": "x", "amount_fen": 500}}
    book.apply(events_topic("s-a"), json.dumps({"schema": 1, "store": "s-a", "events": [
        order_event("s-a", 1), poison]}).encode())
    c_orders = [{**order_event("s-c", n), "id": f"c{n}",
                 "data": {**order_event("s-c", n)["data"], "id": f"oc{n}", "total_fen": 2500}}
                for n in (1, 2, 3)]
    book.apply(events_topic("s-c"), json.dumps({"schema": 1, "store": "s-c",
                                                "events": c_orders}).encode())
    book.conn.close()


def _rows(app):
    table = app.query_one("#fleet", DataTable)
    return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]


def test_the_hq_console_puts_stores_that_need_a_person_first_and_survives_a_lost_book(hq_db):
    _fleet_book(hq_db)
    url = str(hq_db)
    app = HqConsoleApp(lambda: read_fleet(url), every_s=0.5, language="en")
    asyncio.run(_scenario(app))


async def _scenario(app):
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: app.fleet is not None and _rows(app))
        rows = _rows(app)
        assert [r[0] for r in rows] == ["s-a", "s-b", "s-c"]  # alarm, offline, fine
        assert rows[0][1:3] == ["华东", "online"] and "cannot apply" in rows[0][10]
        assert rows[1][1:3] == ["-", "offline"] and rows[1][10] == "-"
        assert rows[2][8] == "3" and rows[2][9] == "75.00元"  # its orders and revenue
        summary = str(app.query_one("#summary", Static).render())
        assert "Stores 3" in summary and "offline 1" in summary and "With alarms 1" in summary
        assert "Orders 4" in summary  # s-a's one good order and s-c's three

        await pilot.press("a")
        assert [r[0] for r in _rows(app)] == ["s-a"]
        await pilot.press("a")

        # The book goes away (a PostgreSQL nobody listens for): the fleet stays, stale.
        app.read = lambda: read_fleet(f"postgresql://laoke@127.0.0.1:{free_port()}/gone")
        await until(pilot, lambda: app.stale is not None, timeout=15)
        assert [r[0] for r in _rows(app)] == ["s-a", "s-b", "s-c"]
        assert "Stale" in str(app.query_one("#summary", Static).render())

        await pilot.press("f9")  # 中文, same fleet
        await until(pilot, lambda: app.title == "老客 laoke 总部" and _rows(app))
        assert _rows(app)[1][2] == "离线"


def test_the_hq_console_refuses_a_database_it_cannot_keep_a_book_in(tmp_path):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "hq", "console",
                                      "--db", "mysql://hq/laoke"])
    assert result.exit_code == 2 and "--db" in result.output


def test_a_read_that_comes_back_late_does_not_replace_a_newer_fleet(tmp_path):
    """A read held up (a slow database) finishes after the next one: the newer fleet stays."""
    _fleet_book(tmp_path / "hq.db")
    older = read_fleet(str(tmp_path / "hq.db"))
    book = HqBook(tmp_path / "hq.db")
    book.set_status("s-d", True, PROTOCOL, "0.9.1")  # a store opens meanwhile
    book.conn.close()
    newer = read_fleet(str(tmp_path / "hq.db"))
    release, calls = threading.Event(), []

    def read():
        calls.append(len(calls))
        if len(calls) == 1:
            release.wait(10)  # the first read is slow
            return older
        return newer

    app = HqConsoleApp(read, every_s=3600, language="en")

    async def scenario():
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("r")
            await until(pilot, lambda: app.fleet is newer)
            release.set()
            await until(pilot, lambda: all(w.is_finished for w in app.workers))
            await pilot.pause(0.2)
            assert app.fleet is newer and "s-d" in [r[0] for r in _rows(app)]

    asyncio.run(scenario())
