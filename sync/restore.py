"""A replacement hub rebuilds its store from HQ: page by page over MQTT, then carries on.

The pages are the store's own events as HQ applied them (`.../restore` answered on
`.../history`); paho's callback only queues them, the caller's thread applies them. First
the hub asks HQ for a new incarnation of the store: from then on HQ refuses the hub it
replaces, so nothing that hub still sends slips in after the pages.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.backup import install_database
from hub.domain.config import CONFIG_NAME, load_settings, new_settings, write_settings
from hub.domain.errors import InvalidInput
from hub.domain.ids import new_id
from hub.domain.replica import EPOCH_KEY, INSTALL_KEY
from hub.domain.restore import check_empty, finish, restore_page
from hub.domain.store import Store
from hub.home import DB_NAME, home_key

from .protocol import (
    PROTOCOL,
    dumps,
    hello_topic,
    history_topic,
    mqtt_client,
    restore_topic,
    welcome_topic,
)


class RestoreFailed(InvalidInput):
    pass


def restore_from_hq(store: Store, timeout: float = 30.0,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Fill an empty store with everything HQ holds of it; returns events and watermark."""
    check_empty(store)
    settings = store.settings
    if not settings.broker.url:
        raise InvalidInput("restoring needs HQ's broker: --broker URL or [broker] url")
    store_id = settings.store_id
    pages: queue.Queue[bytes] = queue.Queue()
    welcomes: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client, broker = mqtt_client(f"laoke-restore-{store_id}", settings.broker.url,
                                 settings.broker.username, settings.broker.password,
                                 settings.broker.tls, settings.broker.ca_file)
    client.on_connect = lambda c, _u, _f, _r, _p=None: c.subscribe(
        [(history_topic(store_id), 1), (welcome_topic(store_id), 1)])
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, message: (
        welcomes if message.topic == welcome_topic(store_id) else pages).put(message.payload)
    client.connect_async(broker.host, broker.port, keepalive=15)
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise RestoreFailed(f"HQ's broker at {settings.broker.url} did not answer")
        install = new_id()
        client.publish(hello_topic(store_id), dumps({
            "install": install, "epoch": None, "restore": True, "protocol": PROTOCOL}), qos=1)
        epoch = _incarnation(welcomes, install, timeout)
        after, count, applied = 0, 0, 0
        while True:
            client.publish(restore_topic(store_id), dumps({"after": after}), qos=1)
            page = _next_page(pages, after, timeout)
            if page["events"]:
                after = restore_page(store, page["events"])
                count += len(page["events"])
            applied = int(page["applied_seq"])
            if progress is not None:
                progress(after, applied)
            if not page["more"]:
                break
    finally:
        client.disconnect()
        client.loop_stop()
    if after == 0:
        raise RestoreFailed(f"HQ holds nothing of store {store_id!r}")
    if after != applied:
        raise RestoreFailed(f"HQ sent events up to {after} but has applied up to {applied}")
    finish(store, applied)
    with store.write():
        store.set_meta(INSTALL_KEY, install)
        store.set_meta(EPOCH_KEY, str(epoch))
    return {"store_id": store_id, "events": count, "applied_seq": applied, "epoch": epoch}


def restore_home(home: Path, store_id: str, *, broker: str | None = None,
                 username: str | None = None, password: str | None = None,
                 chain_key: str | None = None, timeout: float = 30.0,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """A replacement hub's home filled with its store as HQ holds it: the settings a new home
    needs (the store id, the chain's key, HQ's broker), the database built aside and moved in
    whole, so a restore cut short leaves the home as it was."""
    home.mkdir(parents=True, exist_ok=True)
    if (home / CONFIG_NAME).exists():
        settings = load_settings(home)
        if settings.store_id != store_id:
            raise InvalidInput(f"{home} belongs to store {settings.store_id!r}, not {store_id!r}")
    else:
        if not chain_key:
            raise InvalidInput("a fresh home needs the chain's key: --chain-key or "
                               "$LAOKE_CHAIN_KEY")
        settings = new_settings(store_id)
        settings.chain.key = chain_key
    for key, value in (("url", broker), ("username", username), ("password", password)):
        if value is not None:
            setattr(settings.broker, key, value)
    db_key = home_key(home)  # a new home's new key: the rebuilt books are encrypted
    if (home / DB_NAME).exists():
        with Store(home / DB_NAME, settings, key=db_key) as existing:
            check_empty(existing)
    building = home / (DB_NAME + ".restoring")
    for leftover in home.glob(building.name + "*"):
        leftover.unlink()
    with Store(building, settings, key=db_key) as store:
        done = restore_from_hq(store, timeout, progress)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    install_database(home, building)
    write_settings(home, settings)
    return done


def _incarnation(welcomes: queue.Queue[bytes], install: str, timeout: float) -> int:
    """The epoch HQ issued this restore (answers for other hubs are skipped)."""
    while True:
        try:
            answer = json.loads(welcomes.get(timeout=timeout))
        except queue.Empty:
            raise RestoreFailed(f"HQ did not answer within {timeout:g} s "
                                "(is `laoke hq run` up?)") from None
        except ValueError:
            continue
        if isinstance(answer, dict) and answer.get("install") == install:
            if isinstance(answer.get("epoch"), int):
                return int(answer["epoch"])
            raise RestoreFailed(f"HQ refuses the restore: {answer.get('refused')}")


def _next_page(pages: queue.Queue[bytes], after: int, timeout: float) -> dict[str, Any]:
    """The page that starts right after `after`; a late copy of an earlier one is dropped."""
    while True:
        try:
            payload = pages.get(timeout=timeout)
        except queue.Empty:
            raise RestoreFailed(f"HQ did not answer within {timeout:g} s "
                                "(is `laoke hq run` up?)") from None
        try:
            page = json.loads(payload)
            events = page["events"]
            first = events[0]["seq"] if events else after + 1
            page["applied_seq"], page["more"]
        except (ValueError, KeyError, TypeError, IndexError):
            raise RestoreFailed("HQ sent a page this hub cannot read") from None
        if first == after + 1:
            return page
