"""What stores and HQ say to each other over MQTT, and where.

Store -> HQ: batches of outbox events on `laoke/v1/stores/{store}/events`, each event with
`store`, a per-store `seq`, `id`, `type`, `ts` and `data`; a retained birth/death status on
`.../status`. HQ -> store: the applied watermark, retained, on `.../ack`, and a request to
send again from a sequence number on `.../resend`. Other stores' changes reach a store in
pages it asks for: `.../pull` {"after": position} answered on `.../feed`, so a store back
from days offline catches up from where it was, not from what a broker happened to keep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

PREFIX = "laoke/v1"
SCHEMA = 1
HQ_GROUP = "laoke-hq"  # the MQTT 5 shared subscription group of HQ receivers


def events_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/events"


def status_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/status"


def ack_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/ack"


def resend_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/resend"


def pull_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/pull"


def feed_topic(store_id: str) -> str:
    return f"{PREFIX}/stores/{store_id}/feed"


def store_of(topic: str) -> str | None:
    """The store id a topic is about, or None for a topic that is not ours."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[:3] == ["laoke", "v1", "stores"]:
        return parts[3]
    return None


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool


def parse_broker(url: str) -> Broker:
    """mqtt://host:1883 or mqtts://host:8883."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
        raise ValueError(f"not a broker URL: {url!r} (mqtt://HOST:1883 or mqtts://HOST:8883)")
    tls = parsed.scheme == "mqtts"
    return Broker(parsed.hostname, parsed.port or (8883 if tls else 1883), tls)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
