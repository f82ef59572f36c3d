"""HQ workers sharing the chain by partition on PostgreSQL: each holds its share through an
advisory lock, a worker killed with SIGKILL has its partitions taken over, and across the
takeover no event is applied twice or lost (issue 23)."""

import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest

from hub import __version__
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member, points_balance
from sync.hq import HqBook
from sync.hq.partitions import holders
from sync.protocol import PARTITIONS, dumps, feed_topic, partition_of, pull_topic, store_of
from sync.publisher import Publisher
from tests.support.chain import make_store
from tests.support.hubproc import wait_until


def sell(store, store_n, round_, guests):
    """Guests who join and pay at their store: members, points and orders for HQ."""
    for n in range(guests):
        member = add_member(store, NewMember(name=f"客{n}",
                                             phone=f"13{round_}{store_n}{n:07d}"))
        checkout(store, CheckoutRequest(f"{round_}-{n}", [Line("面", 1 + n % 3, 1800)],
                                        member_id=member["id"]))


def written(store):
    return store.scalar("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence "
                        "WHERE name = 'outbox'")


def test_a_killed_workers_partitions_are_taken_over_and_nothing_is_applied_twice_or_lost(
        tmp_path, broker, postgres):
    url = postgres.database()
    book = HqBook(url)
    workers, logs = start_workers(tmp_path, url, broker)
    names = ("s-1", "s-2", "s-3", "s-4")
    stores = {sid: make_store(tmp_path, sid, broker) for sid in names}
    publishers = []
    try:
        # Two workers, a fair share each.
        wait_until(lambda: sorted(map(len, _by_worker(holders(book.conn)).values())) ==
                   [PARTITIONS // 2, PARTITIONS // 2], timeout=90)  # a loaded CI box
        publishers = [Publisher(s).start() for s in stores.values()]
        for n, sid in enumerate(names):
            sell(stores[sid](), n, 1, 3)
        wait_until(lambda: _caught_up(book, stores), timeout=30)
        assert all(p.partitioned for p in publishers), "each store sends under its partition"
        owner = holders(book.conn)[partition_of("s-1")]
        victim = next(w for w in workers if w.pid == owner)
        survivor = next(w for w in workers if w.pid != owner)

        def trade_on():  # the stores keep selling while the worker dies
            for n, sid in enumerate(names):
                sell(stores[sid](), n, 2, 4)

        selling = threading.Thread(target=trade_on)
        selling.start()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: set(holders(book.conn).values()) == {survivor.pid} and
                   len(holders(book.conn)) == PARTITIONS, timeout=15)
        selling.join()
        for n, sid in enumerate(names):
            sell(stores[sid](), n, 3, 2)
        wait_until(lambda: _caught_up(book, stores), timeout=60)
        report = book.report()["stores"]
        for sid, store in stores.items():
            shop = store()
            assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE store_id = ?",
                                     (sid,)).fetchone()[0] == written(shop), "none lost"
            assert report[sid]["orders"] == shop.scalar("SELECT COUNT(*) FROM orders")
            assert report[sid]["revenue_fen"] == shop.scalar(
                "SELECT SUM(total_fen - discount_fen) FROM orders")
            for member_id, balance in book.conn.execute(
                    "SELECT p.member_id, p.balance FROM hq_points p JOIN hq_members m "
                    "ON m.id = p.member_id WHERE m.home_store = ?", (sid,)).fetchall():
                assert balance == points_balance(shop, member_id), "none applied twice"
        assert book.conn.execute("SELECT COUNT(*) FROM hq_dead_letters").fetchone()[0] == 0
        fleet = {s["store_id"]: s for s in book.stores()}  # what the stores said of themselves
        assert {(fleet[sid]["version"], fleet[sid]["online"]) for sid in names} == \
            {(__version__, 1)}
        assert all(fleet[sid]["last_seen"] and fleet[sid]["skew_s"] is not None for sid in names)
    except AssertionError:
        for log in logs:
            print(f"--- {log.name}", log.read_text(errors="replace")[-20_000:], sep="\n")
        print("--- HQ's stores", book.report()["stores"])
        print("--- the stores wrote", {sid: written(store()) for sid, store in stores.items()})
        raise
    finally:
        for publisher in publishers:
            publisher.stop()
        stop_workers(workers)
        book.conn.close()


def start_workers(tmp_path, url, broker):
    """Two `laoke hq run --partitioned` workers on one PostgreSQL book, as an operator starts
    them, each logging to a file (shown when a test fails)."""
    logs = [tmp_path / f"hq{n}.log" for n in (1, 2)]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "hub", "--home", str(tmp_path / f"hq{n}"), "hq", "run",
         "--db", url, "--broker", broker.url, "--partitioned", "--client-id", f"hq-{n}"],
        stderr=log.open("w")) for n, log in zip((1, 2), logs, strict=True)]
    return workers, logs


def stop_workers(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(20)


def _by_worker(held):
    workers = {}
    for partition, pid in held.items():
        workers.setdefault(pid, set()).add(partition)
    return workers


def _caught_up(book, stores):
    report = book.report()["stores"]
    return all(report.get(sid, {}).get("last_seq") == written(store())
               for sid, store in stores.items())


def test_a_killed_workers_session_swallows_no_stores_requests(tmp_path, broker, postgres):
    """mosquitto hands a shared subscription's messages in turn to every session of the
    group, one whose worker was killed included; a session kept for a week would have eaten
    every other request, and with the turn fixed, every pull of some stores, whose tail of
    events then never reached HQ."""
    url = postgres.database()
    book = HqBook(url)
    workers, _ = start_workers(tmp_path, url, broker)
    names = [f"s-{n}" for n in range(8)]
    answered: dict[str, int] = {}
    stores = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="stores",
                         protocol=mqtt.MQTTv5)
    stores.on_message = lambda _c, _u, m: answered.update(
        {store_of(m.topic): answered.get(store_of(m.topic), 0) + 1})
    try:
        wait_until(lambda: len(_by_worker(holders(book.conn))) == 2, timeout=90)
        stores.connect("127.0.0.1", broker.port)
        stores.loop_start()
        stores.subscribe([(feed_topic(sid), 1) for sid in names])
        time.sleep(1)  # both workers' request links are up once each holds its share
        workers[0].kill()
        workers[0].wait(10)
        wait_until(lambda: set(holders(book.conn).values()) == {workers[1].pid}, timeout=15)
        for _ in range(2):
            for sid in names:
                stores.publish(pull_topic(sid), dumps({"after": 0}), qos=1).wait_for_publish(5)
        wait_until(lambda: all(answered.get(sid) == 2 for sid in names), timeout=20)
    finally:
        stores.loop_stop()
        stores.disconnect()
        stop_workers(workers)
        book.conn.close()


def relaying_book(postgres):
    """HQ's book on PostgreSQL with the chain's webhook at a gateway, and a way to hand HQ
    a store's message as the store's publisher would."""
    from hub.domain.config import new_settings
    from sync.chain import CHAIN_ID
    from sync.protocol import events_topic
    from tests.support.standins import Gateway

    url = postgres.database()
    book = HqBook(url)
    gateway = Gateway()
    settings = new_settings(CHAIN_ID)
    settings.messaging.webhook_url, settings.messaging.timeout_s = gateway.url, 10
    settings.campaigns.quiet_start = settings.campaigns.quiet_end = "00:00"

    def hand_over(message_id, seq):
        book.apply(events_topic("s-p"), dumps({"schema": 1, "store": "s-p", "events": [{
            "store": "s-p", "seq": seq, "id": f"e-{seq}", "type": "message.relayed",
            "ts": "t", "data": {"id": message_id, "member_id": "m-1", "channel": "webhook",
                                "address": "+8613800138000", "template": "", "params": "",
                                "body": "好久不见", "created_at": "2026-12-01T02:00:00.000Z"}}]}))

    def status(message_id):
        return book.conn.execute("SELECT status FROM hq_messages WHERE id = ?",
                                 (message_id,)).fetchone()[0]

    def sender():
        from sync.hq.partitions import RELAY_JOB, Sole
        from sync.hq.relay import RelaySender

        return RelaySender(book, settings, every_s=0.1, sole=Sole(url, RELAY_JOB)).start()

    return SimpleNamespace(url=url, book=book, gateway=gateway, hand_over=hand_over,
                           status=status, sender=sender)


@pytest.fixture
def relaying(postgres):
    chain = relaying_book(postgres)
    chain.senders = []
    yield chain
    for sender in chain.senders:
        sender.stop()
    chain.gateway.close()
    chain.book.conn.close()


def test_only_one_partitioned_worker_relays_and_a_newcomer_takes_nothing_mid_send(relaying):
    """Each `laoke hq run` worker on PostgreSQL has a message relay: the one holding the
    relay's lock sends. A worker that starts while another is mid-send leaves that message
    alone (taking it back would send a webhook twice, or call a sent e-mail unconfirmed),
    and takes the relay over once the holder is gone."""
    chain = relaying
    chain.gateway.delay_s = 2.0
    first = chain.sender()
    chain.senders.append(first)
    chain.hand_over("msg-1", 1)
    wait_until(lambda: chain.status("msg-1") == "sending")
    second = chain.sender()
    chain.senders.append(second)
    wait_until(lambda: second.state()["state"] == "running")
    time.sleep(0.5)  # the newcomer's rounds, while the first is mid-send
    assert not second.active and chain.status("msg-1") == "sending"
    wait_until(lambda: chain.status("msg-1") == "delivered")
    assert chain.gateway.requests == 1, "sent once"

    first.stop()  # its lock goes with its connection: the second takes the relay
    chain.gateway.delay_s = 0
    chain.hand_over("msg-2", 2)
    wait_until(lambda: chain.status("msg-2") == "delivered")
    assert second.active and chain.gateway.requests == 2


def test_a_relay_whose_lock_died_mid_send_is_not_sent_again_by_the_next(relaying):
    """The lock's session ends while its worker is sending (a network blip): another worker
    takes the relay, and leaves the message to the worker sending it, which finishes it and
    sends nothing more."""
    chain = relaying
    chain.gateway.delay_s = 2.0
    first = chain.sender()
    chain.senders.append(first)
    wait_until(lambda: first.active)
    chain.hand_over("msg-1", 1)
    wait_until(lambda: chain.status("msg-1") == "sending")
    chain.book.conn.execute("SELECT pg_terminate_backend(?)",
                            (first.sole.conn.info.backend_pid,))
    second = chain.sender()
    chain.senders.append(second)
    wait_until(lambda: second.active)
    wait_until(lambda: chain.status("msg-1") == "delivered")
    chain.hand_over("msg-2", 2)
    wait_until(lambda: chain.status("msg-2") == "delivered")
    assert chain.gateway.requests == 2, "each sent once"


def test_a_relay_whose_book_went_opens_it_again_or_lets_another_send(relaying):
    chain = relaying
    senders = [chain.sender(), chain.sender()]
    chain.senders.extend(senders)
    wait_until(lambda: any(s.active for s in senders))
    [active] = [s for s in senders if s.active]
    chain.book.conn.execute("SELECT pg_terminate_backend(?)",
                            (active.relay.book.conn.conn.info.backend_pid,))
    chain.hand_over("msg-1", 1)
    wait_until(lambda: chain.status("msg-1") == "delivered")
    assert chain.gateway.requests == 1
