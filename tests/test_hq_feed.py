"""The feed stores pull, served from a worker's memory (sync/hq/feed.py): the same pages as
from the database, for a store pulling all along and one far behind, with another worker
writing meanwhile; an erasure another worker applies is not served again from memory."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from sync.hq import HqBook, feed
from sync.protocol import PROTOCOL, dumps, events_topic

SEQS: dict[str, itertools.count[int]] = {}


def send(book: HqBook, store_id: str, *events: tuple[str, dict[str, Any]]) -> list[str]:
    """One batch of `store_id`'s next events through `book` (a worker); their ids."""
    seqs = SEQS.setdefault(f"{book.url}/{store_id}", itertools.count(1))
    batch = [{"store": store_id, "seq": next(seqs), "id": f"{store_id}-{kind}-{n}",
              "type": kind, "ts": "2026-12-03T12:00:00+08:00", "data": data}
             for n, (kind, data) in enumerate(events)]
    for event in batch:
        event["id"] += f"-{event['seq']}"
    book.apply(events_topic(store_id), dumps({"schema": PROTOCOL, "store": store_id,
                                              "events": batch}))
    return [str(e["id"]) for e in batch]


def guest(store_id: str, n: int) -> tuple[str, dict[str, Any]]:
    return "member.created", {"id": f"m-{store_id}-{n}", "name": f"客{n}",
                              "phone": f"+8613800{n:06d}", "home_store": store_id}


def order(store_id: str, n: int) -> tuple[str, dict[str, Any]]:
    return "order.created", {"id": f"o-{store_id}-{n}", "total_fen": 4800,
                             "discount_fen": 0, "created_at": "2026-12-03T12:00:00+08:00"}


def pages(book: HqBook, store_id: str, after: int) -> tuple[list[dict[str, Any]], int]:
    """Every page the store would take from `after`, as it takes them (again while
    `more`)."""
    events: list[dict[str, Any]] = []
    while True:
        page = json.loads(book.feed(store_id, after))
        assert page["position"] >= after
        events += page["events"]
        after = page["position"]
        if not page["more"]:
            return events, after


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """A span and a page a test can fill: trimming, the database's path and `more` run."""
    monkeypatch.setattr(feed, "SPAN", 7)
    monkeypatch.setattr(feed, "FEED_PAGE", 3)


@pytest.mark.usefixtures("small")
def test_every_store_takes_every_other_stores_change_once_however_far_behind(
        hq_db: Path | str) -> None:
    one, two = HqBook(hq_db), HqBook(hq_db)  # two workers on one database
    SEQS.clear()
    start = json.loads(one.feed("s-a", 0))["position"]
    keeping_up = start  # s-a pulls after every batch, through worker one
    kept_up: list[dict[str, Any]] = []
    relayed: list[tuple[str, str]] = []  # (store, event id) in the order HQ applied them
    for n in range(12):
        writer, store_id = (one, two)[n % 2], ("s-a", "s-b", "s-c")[n % 3]
        ids = send(writer, store_id, guest(store_id, n), order(store_id, n),
                   *([guest(store_id, 100 + n)] if n % 4 == 0 else []))
        relayed += [(store_id, i) for i in ids if "member.created" in i]
        if n == 5:  # HQ's word to one store about its texts: for it alone
            one.publish_change("message.settled", {"store": "s-a", "id": "msg-1"})
        time.sleep(feed.FRESH_S)  # the other worker's commits are in the next look
        taken, keeping_up = pages(one, "s-a", keeping_up)
        kept_up += taken
        if n == 1:  # s-c takes what there is now, then nothing until the end
            _, midway = pages(one, "s-c", start)
            seen_by_then = len(relayed)
    time.sleep(feed.FRESH_S)
    assert [e["id"] for e in kept_up if e["store"] != "~hq"] == [
        i for sid, i in relayed if sid != "s-a"]
    assert [e["data"]["id"] for e in kept_up if e["store"] == "~hq"] == ["msg-1"]
    assert all(e["type"] == "member.created" for e in kept_up if e["store"] != "~hq")
    assert kept_up[0]["data"] == {"id": "m-s-b-1", "name": "客1", "phone": "+8613800000001",
                                  "home_store": "s-b"}, "the event as the store sent it"
    behind, _ = pages(two, "s-a", start)  # far behind worker two's span: the database's
    assert behind == kept_up
    for store_id in ("s-b", "s-c"):  # each through the worker that did not write it last
        got, _ = pages(two, store_id, start)
        assert [e["id"] for e in got] == [i for sid, i in relayed if sid != store_id], \
            "and no text for s-a's eyes"
    rest, _ = pages(one, "s-c", midway)  # from inside what worker one no longer holds
    assert [e["id"] for e in rest] == [i for sid, i in relayed[seen_by_then:] if sid != "s-c"]
    assert pages(one, "s-b", keeping_up) == ([], keeping_up), "nothing new: the same place"


def test_an_erasure_by_another_worker_is_not_served_from_memory(hq_db: Path | str) -> None:
    reader, writer = HqBook(hq_db), HqBook(hq_db)
    SEQS.clear()
    start = json.loads(reader.feed("s-a", 0))["position"]
    send(writer, "s-b", guest("s-b", 1))
    time.sleep(feed.FRESH_S)
    assert "+8613800000001" in reader.feed("s-a", start).decode(), "held in memory now"
    send(writer, "s-b", ("member.erased", {"id": "m-s-b-1"}))
    time.sleep(feed.FRESH_S)
    page = reader.feed("s-a", start).decode()
    assert "+8613800000001" not in page and "客1" not in page
    assert [e["type"] for e in json.loads(page)["events"]] == ["member.created",
                                                               "member.erased"]
