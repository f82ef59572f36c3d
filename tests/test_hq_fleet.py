"""The simulated chain's soak (issue 23): sixty simulated stores, each a real MQTT client
logged in as itself under the shipped ACL, sell against two partitioned HQ workers on
PostgreSQL while stores drop and come back and one worker is SIGKILLed; at the end HQ's
books equal the sum of the stores, with nothing applied twice, nothing missing and nothing
parked."""

import os
import signal

from hub.bench.chain import HQ_PASSWORD, HQ_USER, hq_workers
from hub.bench.fleet import Fleet
from sync.hq import HqBook
from sync.hq.partitions import holders
from sync.localbroker import Mosquitto
from sync.protocol import PARTITIONS, partition_of
from tests.support.hubproc import wait_until

STORES = {f"sim-{n:03d}": f"pw-{n}" for n in range(50)}



def offline_at_hq(book, store_ids):
    return {s["store_id"] for s in book.stores() if not s["online"]} >= set(store_ids)


def test_a_fleet_through_dropped_links_and_a_killed_worker_ends_equal_to_its_stores(
        tmp_path, postgres):
    broker = Mosquitto(tmp_path / "broker", users={HQ_USER: HQ_PASSWORD, **STORES}).start()
    url = postgres.database()
    book = HqBook(url)
    # A checkout per store every 4 s (a lunch rush is one per 10 s), a pull every 5 s.
    fleet = Fleet(broker.url, STORES, checkout_every_s=4.0, pull_every_s=5.0, seed=23)
    ids = sorted(STORES)
    try:
        with hq_workers(tmp_path, url, broker.url, 2) as workers:
            fleet.start()
            wait_until(lambda: book.conn.execute("SELECT COUNT(*) FROM hq_stores WHERE "
                                                 "applied_seq > 0").fetchone()[0] == len(ids),
                       timeout=60)
            dropped = ids[:10]
            fleet.offline(dropped, for_s=4.0)  # they keep selling, and come back by themselves
            wait_until(lambda: offline_at_hq(book, dropped), timeout=45)  # their last wills
            victim_pid = holders(book.conn)[partition_of(ids[0])]
            victim = next(w for w in workers if w.pid == victim_pid)
            survivor = next(w for w in workers if w.pid != victim_pid)
            fleet.offline(ids[10:20], for_s=6.0)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            wait_until(lambda: set(holders(book.conn).values()) == {survivor.pid} and
                       len(holders(book.conn)) == PARTITIONS, timeout=15)
            fleet.offline(ids[:5], for_s=2.0)  # dropped again after the takeover
            wait_until(lambda: fleet.state()["online"] == len(ids), timeout=60)
            fleet.selling = False
            wait_until(fleet.settled, timeout=120)
            wait_until(lambda: all(s["online"] for s in book.stores()), timeout=10)

        totals = fleet.totals()
        report = book.report()
        points = dict(book.conn.execute(
            "SELECT m.home_store, SUM(p.balance) FROM hq_points p JOIN hq_members m "
            "ON m.id = p.member_id GROUP BY m.home_store").fetchall())
        events = {r[0]: tuple(r[1:]) for r in book.conn.execute(
            "SELECT store_id, COUNT(*), COUNT(DISTINCT id), MAX(seq) FROM hq_events "
            "GROUP BY store_id").fetchall()}
        for sid, store in totals.items():
            at_hq = report["stores"][sid]
            assert (at_hq["orders"], at_hq["revenue_fen"], at_hq["members"],
                    points.get(sid, 0)) == (store.orders, store.revenue_fen, store.members,
                                            store.points), sid
            assert events[sid] == (store.written,) * 3, f"{sid}: a duplicate or a gap"
            assert at_hq["last_seq"] == store.written
        assert report["totals"]["orders"] == sum(t.orders for t in totals.values())
        assert report["totals"]["revenue_fen"] == sum(t.revenue_fen for t in totals.values())
        assert book.conn.execute("SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 0
        assert book.flags() == []
        assert fleet.alarms == []
        assert {s["store_id"]: s["alarms"] for s in book.stores() if s["alarms"]} == {}
    finally:
        fleet.stop()
        book.conn.close()
        broker.stop()
