"""The hub's health as Prometheus metrics (`GET /api/v1/metrics`), so a chain's monitoring
watches every store with the alerts it already has. The figures are the ones `/health`
answers anyone on the LAN (no device addresses, nothing about a guest), drawn from that one
document, so the two never say different things."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# (metric, help, path in the health document)
GAUGES = (
    ("laoke_hub_sync_backlog_events", "Events in the outbox, not yet acknowledged by HQ",
     ("sync", "backlog")),
    ("laoke_hub_sync_connected", "1 while the hub is connected to HQ's broker",
     ("sync", "connected")),
    ("laoke_hub_sync_hq_applied_seq", "The last seq HQ acknowledged", ("sync", "hq_applied_seq")),
    ("laoke_hub_sync_conflicts", "Other stores' changes waiting here for a person",
     ("sync", "conflicts")),
    ("laoke_hub_print_queue_waiting", "Print jobs waiting for a printer",
     ("print_queue", "waiting")),
    ("laoke_hub_print_queue_unconfirmed", "Print jobs sent that no printer confirmed",
     ("print_queue", "unconfirmed")),
    ("laoke_hub_event_subscribers", "Devices listening to the live event stream",
     ("event_subscribers",)),
)


class _Health(Collector):
    def __init__(self, health: dict[str, Any]) -> None:
        self.health = health

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("laoke_hub", "The store, its version and schema")
        info.add_metric([], {"store": str(self.health["store_id"]),
                             "version": str(self.health["version"]),
                             "schema": str(self.health["schema"])})
        yield info
        for name, text, path in GAUGES:
            value: Any = self.health
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                yield GaugeMetricFamily(name, text, value=float(value))
        up = GaugeMetricFamily("laoke_hub_worker_running",
                               "1 while the background worker runs without failing",
                               labels=["worker"])
        failures = GaugeMetricFamily("laoke_hub_worker_failures",
                                     "How often the worker's loop failed", labels=["worker"])
        for worker in self.health.get("workers", []):
            up.add_metric([worker["name"]], int(worker["state"] == "running"))
            failures.add_metric([worker["name"]], worker["failures"])
        yield from (up, failures)


def render(health: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of a `/health` document."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Health(health))
    return generate_latest(registry)
