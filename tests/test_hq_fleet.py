"""HQ's fleet view: every store online or not, last seen, backlog, version and protocol,
alarms, in `HqBook.stores()` (what `laoke hq stores` prints) and as Prometheus metrics
(issue 23)."""

import json
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hub.domain.clock import to_iso
from hub.ports import free_port
from sync.hq import HqBook
from sync.hq.book import SKEW_S, STALL_S
from sync.hq.metrics import serve_metrics
from sync.protocol import PROTOCOL, events_topic
from tests.support.chain import order_event


def test_the_fleet_shows_each_stores_state_and_raises_its_alarms(hq_db, clock):
    book = HqBook(hq_db, clock=clock)
    book.set_status("s-a", True, PROTOCOL, "0.9.1")
    book.set_status("s-b", False, PROTOCOL, "0.9.0")
    poison = {**order_event("s-a", 2), "type": "stored_value.entry",
              "data": {"id": "x", "amount_fen": 500}}
    book.apply(events_topic("s-a"), json.dumps({"schema": 1, "store": "s-a", "events": [
        order_event("s-a", 1), poison, order_event("s-a", 3)]}).encode())
    ahead = clock() + timedelta(seconds=SKEW_S + 30)  # s-a's clock runs ahead of HQ's
    book.pull("s-a", {"after": 0, "acked": {}, "top": 7, "ts": to_iso(ahead), "conflicts": 2})
    book.pull("s-b", {"after": 0, "acked": {}, "top": 0, "ts": to_iso(clock())})
    fleet = {s["store_id"]: s for s in book.stores()}
    a, b = fleet["s-a"], fleet["s-b"]
    assert (a["online"], a["version"], a["schema"], a["backlog"]) == (1, "0.9.1", PROTOCOL, 4)
    assert a["last_seen"] == to_iso(clock()) and a["dead_letters"] == 1
    assert a["alarms"] == ["conflicts", "poison", "attention", "clock_skew"]
    assert (b["online"], b["backlog"], b["alarms"]) == (0, 0, [])
    clock.advance(seconds=STALL_S)  # four events written at s-a and nothing comes
    assert "stalled" in {s["store_id"]: s for s in book.stores()}["s-a"]["alarms"]

    server = serve_metrics(book, port := free_port())
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("laoke_hq_store_backlog_events", (("store", "s-a"),))] == 4
    assert samples[("laoke_hq_store_online", (("store", "s-b"),))] == 0
    assert samples[("laoke_hq_store_alarm", (("alarm", "stalled"), ("store", "s-a")))] == 1
    assert samples[("laoke_hq_store_alarm", (("alarm", "poison"), ("store", "s-b")))] == 0
    assert samples[("laoke_hq_store_clock_skew_seconds", (("store", "s-a"),))] == \
        SKEW_S + 30
    assert samples[("laoke_hq_store_last_seen_age_seconds", (("store", "s-a"),))] == STALL_S
    book.conn.close()
