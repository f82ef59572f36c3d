"""SIGKILL a writer at random instants: the database holds only whole checkouts. The home is
encrypted, as every new one is, so the cipher's pages and WAL are what the kills cut into."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.domain.config import new_settings, write_settings
from hub.domain.ledgers import add_points_entry, top_up
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from hub.home import open_store

WRITER = Path(__file__).parent / "support" / "crash_writer.py"


def check_whole(store: Store) -> int:
    assert store.scalar("PRAGMA integrity_check") == "ok"
    events = {json.loads(r[0])["id"] for r in store.conn.execute(
        "SELECT data FROM outbox WHERE type = 'order.created'")}
    orders = store.conn.execute("SELECT * FROM orders").fetchall()
    assert events == {o["id"] for o in orders}, "every order has its outbox event, and no more"
    for order in orders:
        lines = store.scalar("SELECT SUM(qty * unit_price_fen) FROM order_lines "
                             "WHERE order_id = ?", (order["id"],))
        assert lines == order["total_fen"]
        points = store.one("SELECT COALESCE(SUM(CASE WHEN delta > 0 THEN delta END), 0), "
                           "COALESCE(-SUM(CASE WHEN delta < 0 THEN delta END), 0) "
                           "FROM points_ledger WHERE order_id = ?", (order["id"],))
        assert tuple(points) == (order["points_earned"], order["points_redeemed"])
        paid = store.scalar("SELECT COALESCE(-SUM(amount_fen), 0) FROM stored_value_ledger "
                            "WHERE order_id = ?", (order["id"],))
        assert paid == order["stored_value_paid_fen"]
    for table, column in (("points_ledger", "delta"), ("stored_value_ledger", "amount_fen")):
        ledger_events = store.scalar(
            "SELECT COUNT(*) FROM outbox WHERE type = ?",
            ("points.entry" if table == "points_ledger" else "stored_value.entry",))
        assert ledger_events == store.scalar(f"SELECT COUNT(*) FROM {table}")
        assert store.scalar(f"SELECT MIN(s) FROM (SELECT SUM({column}) AS s FROM {table} "
                            "GROUP BY member_id)") >= 0
    return len(orders)


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_only_whole_checkouts(tmp_path):
    write_settings(tmp_path, new_settings("crash"))
    with open_store(tmp_path) as store:
        assert store.key is not None
        for n in range(20):
            member = add_member(store, NewMember(name=f"客{n}", phone=f"1390013{n:04d}"))
            top_up(store, member["id"], 100_000)
            with store.write():
                add_points_entry(store, member["id"], 1000, "earn")
    rng = random.Random(5)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    seen = 0
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path)],
                                  stdout=subprocess.PIPE, env=env)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        with open_store(tmp_path) as store:
            count = check_whole(store)
        assert count > seen, "the writer got work done before each kill"
        seen = count
