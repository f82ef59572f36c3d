"""What stores and HQ say to each other over MQTT, and where.

Store -> HQ: batches of outbox events on `laoke/v1/stores/{store}/events`, each event with
`store`, a per-store `seq`, `id`, `type`, `ts` and `data`; a retained birth/death status on
`.../status`. HQ -> store: the applied watermark, retained, on `.../ack`, and a request to
send again from a sequence number on `.../resend`. Other stores' changes reach a store in
pages it asks for: `.../pull` {"after": position} answered on `.../feed`, so a store back
from days offline catches up from where it was, not from what a broker happened to keep.
A replacement hub rebuilds its store from HQ the same way: `.../restore` {"after": seq}
answered on `.../history` with the store's own events.

A hub is one incarnation of its store: at each connect it says `.../hello` (its install id,
the epoch HQ issued it, what each HQ acknowledged, the protocol it speaks) and HQ answers on
`.../welcome` with the epoch, issued at first contact and again at a restore, or with why it
refuses this hub. Batches carry the epoch and the id of the event they follow (`prev`).

Questions with one answer use MQTT 5's response topic and correlation data: a spend to
approve (`.../authorise`, answered on `.../approval`) and, for a store whose weather HQ
relays, its place's weather (`.../weather`, answered on `.../weather_days`).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.domain.authority import ASSETS, STORED_VALUE, Asset
from hub.domain.schema import STEPS

PREFIX = "laoke/v1"
HQ_GROUP = "laoke-hq"  # the MQTT 5 shared subscription group of HQ receivers
# The most one batch or page of events may weigh, well under the shipped brokers'
# max_packet_size (config/mosquitto): a bigger one would be refused, again and again.
MAX_BATCH_BYTES = 256 * 1024
# How many parts HQ's workers share the chain in: part of the protocol, since a store's
# partition (crc32 of its id, modulo this) must be the same for every HQ worker.
PARTITIONS = 32


def protocol_of(steps: tuple[tuple[str, str], ...]) -> int:
    """The protocol a hub with these migrations speaks: its events have the shapes its
    schema has, so every migration is a new version, and no constant can be forgotten."""
    return len(steps)


PROTOCOL = protocol_of(STEPS)


def fitting(events: list[Any], budget: int = MAX_BATCH_BYTES) -> list[Any]:
    """The leading events that fit in `budget` bytes as JSON; always at least one, since
    one event alone is never bigger than a broker takes (its size is bounded at the till)."""
    taken: list[Any] = []
    size = 0
    for event in events:
        size += len(dumps(event)) + 1
        if taken and size > budget:
            break
        taken.append(event)
    return taken


def partition_of(store_id: str) -> int:
    """The store's partition, fixed by its id: HQ workers share the chain by partition, and
    one worker at a time holds each (sync/hq/partitions.py)."""
    return zlib.crc32(store_id.encode()) % PARTITIONS


def events_topic(store_id: str, partitioned: bool = False) -> str:
    """Where a store's batches go: under its partition when HQ's workers say they share the
    chain by partition (their welcome), else where every HQ reads them."""
    topic = f"{PREFIX}/stores/{store_id}/events"
    return f"{topic}/{partition_of(store_id)}" if partitioned else topic


def partition_filter(partition: int) -> str:
    """What the worker holding a partition subscribes to: every store's batches in it."""
    return f"{PREFIX}/stores/+/events/{partition}"


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


def restore_topic(store_id: str) -> str:
    """A replacement hub asks for its store's own past events: {"after": seq}."""
    return f"{PREFIX}/stores/{store_id}/restore"


def history_topic(store_id: str) -> str:
    """HQ's answer to a restore request: a page of the store's events, in seq order."""
    return f"{PREFIX}/stores/{store_id}/history"


def hello_topic(store_id: str) -> str:
    """A hub says who it is at each connect: its install, its incarnation (epoch)."""
    return f"{PREFIX}/stores/{store_id}/hello"


def welcome_topic(store_id: str) -> str:
    """HQ's answer to a hello, for the install that said it: the epoch, or a refusal."""
    return f"{PREFIX}/stores/{store_id}/welcome"


def authorise_topic(store_id: str) -> str:
    """A store asks HQ to approve a spend of stored value or points (MQTT 5
    request/response)."""
    return f"{PREFIX}/stores/{store_id}/authorise"


def authorise_request(member_id: str, amount: int, hold_id: str, asset: str) -> dict[str, Any]:
    """The question on `.../authorise`. Stored value is asked as it always was
    (`amount_fen`); points name their asset and their amount (`amount`), so an HQ from
    before points finds no `amount_fen` and refuses rather than approve points as money."""
    spend = ASSETS[asset]
    body: dict[str, Any] = {"member_id": member_id, spend.key("amount"): amount,
                            "hold_id": hold_id}
    if spend is not STORED_VALUE:
        body["asset"] = asset
    return body


def read_authorise_request(payload: bytes) -> tuple[Asset, str, int, str | None]:
    """(asset, member, amount, hold id) from a store's question; ValueError, KeyError or
    TypeError when it is not one."""
    body = json.loads(payload)
    spend = ASSETS[body.get("asset", STORED_VALUE.name)]
    member_id, amount = body["member_id"], body[spend.key("amount")]
    hold_id = body.get("hold_id")
    if not isinstance(member_id, str) or isinstance(amount, bool) or \
            not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"member_id and a positive {spend.key('amount')}")
    if hold_id is not None and (not isinstance(hold_id, str) or
                                not 0 < len(hold_id) <= 64 or ":" in hold_id):
        raise ValueError("hold_id: the store's id for the approval")
    return spend, member_id, amount, hold_id


def approval_topic(store_id: str) -> str:
    """HQ's answers to a store's authorisation requests (the requests' response topic)."""
    return f"{PREFIX}/stores/{store_id}/approval"


def weather_topic(store_id: str) -> str:
    """A store whose weather comes from HQ (`[weather] source = "hq"`) asks for its place's
    days here (MQTT 5 request/response): its latitude, longitude and time zone, and either
    `forecast_days` or `start_date` and `end_date`, as Open-Meteo is asked."""
    return f"{PREFIX}/stores/{store_id}/weather"


def weather_days_topic(store_id: str) -> str:
    """HQ's answers to a store's weather requests: Open-Meteo's `daily` block as HQ fetched
    (or had cached) it, or {"error": why}."""
    return f"{PREFIX}/stores/{store_id}/weather_days"


def store_of(topic: str) -> str | None:
    """The store id a topic is about, or None for a topic that is not ours."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[:3] == ["laoke", "v1", "stores"]:
        return parts[3]
    if len(parts) == 6 and parts[:3] == ["laoke", "v1", "stores"] and parts[4] == "events" \
            and parts[5] == str(partition_of(parts[3])):
        return parts[3]  # a batch under its store's own partition; under another: not ours
    return None


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool


def parse_broker(url: str, tls: bool = False) -> Broker:
    """mqtt://host:1883 or mqtts://host:8883 (mqtts, or `tls`, means TLS)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
        raise ValueError(f"not a broker URL: {url!r} (mqtt://HOST:1883 or mqtts://HOST:8883)")
    tls = tls or parsed.scheme == "mqtts"
    return Broker(parsed.hostname, parsed.port or (8883 if tls else 1883), tls)


def mqtt_client(client_id: str, url: str, username: str = "", password: str = "",
                tls: bool = False, ca_file: str = "",
                manual_ack: bool = False) -> tuple[mqtt.Client, Broker]:
    """An MQTT 5 client with the chain's credentials and TLS settings, not yet connected.

    With TLS the broker's certificate and host name are checked against `ca_file` (the
    chain's own CA, PEM), or the system's CAs when it is empty. With `manual_ack` a message
    is acknowledged only when the caller says it is done with it.
    """
    broker = parse_broker(url, tls)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if username:
        client.username_pw_set(username, password)
    if broker.tls:
        client.tls_set(ca_certs=ca_file or None)
    return client, broker


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
