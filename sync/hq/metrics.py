"""HQ's fleet view as Prometheus metrics (`laoke hq run --metrics-port N`), so a chain's own
monitoring watches the stores with the alerts it already has: the same figures as
`laoke hq stores`, read from the book at each scrape, never kept twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.domain.clock import Clock, from_iso

from .book import HqBook

ALARMS = ("stalled", "conflicts", "poison", "attention", "clock_skew")


class Fleet(Collector):
    """Reads the fleet at each scrape, on a connection of its own (the scrape runs on the
    metrics server's thread, beside the receiver's transactions)."""

    def __init__(self, url: str, clock: Clock) -> None:
        self.url, self.clock = url, clock
        self.book: HqBook | None = None
        self.lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        with self.lock:
            if self.book is None:
                self.book = HqBook(self.url, self.clock)
            stores = self.book.stores()
            now = self.book.clock()
        label = ["store"]
        online = GaugeMetricFamily("laoke_hq_store_online",
                                   "1 while the store's retained status says online", labels=label)
        applied = GaugeMetricFamily("laoke_hq_store_applied_seq",
                                    "The last seq of the store HQ applied", labels=label)
        backlog = GaugeMetricFamily("laoke_hq_store_backlog_events",
                                    "Events the store wrote that HQ has not applied yet",
                                    labels=label)
        seen = GaugeMetricFamily("laoke_hq_store_last_seen_age_seconds",
                                 "Seconds since HQ last heard from the store", labels=label)
        skew = GaugeMetricFamily("laoke_hq_store_clock_skew_seconds",
                                 "The store's clock less HQ's, at its last pull", labels=label)
        letters = GaugeMetricFamily("laoke_hq_store_dead_letters",
                                    "Messages of the store HQ parked for a person", labels=label)
        alarm = GaugeMetricFamily("laoke_hq_store_alarm", "1 while the alarm is raised "
                                  "(stalled, conflicts, poison, attention, clock_skew)",
                                  labels=["store", "alarm"])
        for store in stores:
            sid = [store["store_id"]]
            online.add_metric(sid, int(bool(store["online"])))
            applied.add_metric(sid, store["applied_seq"])
            backlog.add_metric(sid, store["backlog"])
            letters.add_metric(sid, store["dead_letters"])
            if store["last_seen"]:
                seen.add_metric(sid, (now - from_iso(store["last_seen"])).total_seconds())
            if store["skew_s"] is not None:
                skew.add_metric(sid, store["skew_s"])
            for name in ALARMS:
                alarm.add_metric([*sid, name], int(name in store["alarms"]))
        yield from (online, applied, backlog, seen, skew, letters, alarm)


def serve_metrics(book: HqBook, port: int, host: str = "127.0.0.1") -> Any:
    """Serve /metrics on host:port until `.shutdown()` of what this returns."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fleet(book.url, book.clock))
    server, _thread = start_http_server(port, host, registry=registry)
    return server
