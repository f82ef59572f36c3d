"""What an event of the WeChat Official Account means for the store, whoever heard it: the
hub's own callback (hub/wechat.py reads WeChat's XML into an `Event`), or HQ, which hosts the
callback of a chain's one account and hands each store the events of its guests
(`wechat.event` on the feed, [messaging] route = "hq"). Both thus do the same thing with the
same event: a follow or scan with a kiosk's scene links the OpenID to its guest, leaving the
account withdraws WeChat consent, a template message's or notice's outcome settles it, and a
guest accepting a notice (or turning it down) is counted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from .clock import to_iso
from .errors import InvalidInput
from .outreach import mark_receipt
from .store import Store
from .wechat import (
    SCENE_PREFIX,
    follow,
    notice_accepted,
    notice_withdrawn,
    settle_notice,
    unfollow,
)

FOLLOWS = ("subscribe", "subscribe_scan", "scan")
NOTICE_EVENTS = ("subscribe_msg_popup_event", "subscribe_msg_change_event",
                 "subscribe_msg_sent_event")
KNOWN = (*FOLLOWS, "unsubscribe", "templatesendjobfinish", *NOTICE_EVENTS)  # the rest: none
PUSHES_KEPT = timedelta(days=1)  # WeChat pushes an event again within seconds, if at all
ERASED = "erased"  # the OpenID an erasure leaves in the events that carried it


class Event(TypedDict):
    """One pushed event as laoke keeps it: WeChat's event name (lower case), the follower's
    OpenID, the QR's scene (follows and scans), CreateTime, a template message's status and
    MsgID (templatesendjobfinish), and a notice event's <List> items, WeChat's fields as
    text."""

    event: str
    openid: str
    scene: str
    time: int
    status: str
    msgid: str
    notices: list[dict[str, str]]


def event_of(data: Any) -> Event:
    """An `Event` from what the feed carried: HQ's, so typed as WeChat's fields are, or the
    relayed event is refused whole (a conflict for a person, replica.UNAPPLIABLE)."""
    if not isinstance(data, dict) or not isinstance(data.get("notices"), list):
        raise ValueError("a WeChat event without its fields")
    notices = [{str(k): str(v) for k, v in item.items()} for item in data["notices"]
               if isinstance(item, dict)]
    return Event(event=str(data["event"]), openid=str(data["openid"]),
                 scene=str(data.get("scene") or ""), time=int(data.get("time") or 0),
                 status=str(data.get("status") or ""), msgid=str(data.get("msgid") or ""),
                 notices=notices)


def pushed(store: Store, event: Event) -> str:
    """An event WeChat pushed to this hub's callback: done once, whatever WeChat pushes
    again when no answer came within five seconds, in the same change as what it does."""
    with store.write():
        if not first_push(store.conn.execute, "wechat_pushes", event, store.now()):
            return "repeated"
        return on_event(store, event)


def first_push(execute: Callable[..., Any], table: str, event: Event, now: datetime) -> bool:
    """Whether this push is new, noted in `table` (key, seen_at) inside the caller's change:
    a hub's own callback, or HQ's (sync/hq/wechat.py). A push is named by a digest of the
    event whole (a retry is the same XML; two reports in one second differ in their
    MsgID), so no OpenID is kept for it; an event without a CreateTime cannot be known
    again, and is new."""
    if event["time"] <= 0:
        return True
    execute(f"DELETE FROM {table} WHERE seen_at < ?", (to_iso(now - PUSHES_KEPT),))
    key = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    return bool(execute(f"INSERT INTO {table} (key, seen_at) VALUES (?, ?) ON CONFLICT DO "
                        "NOTHING", (key, to_iso(now))).rowcount)


def on_event(store: Store, event: Event) -> str:
    """Do what the event means here; returns what was done (for the log and the tests).
    Anything else is passed over."""
    openid, kind = event["openid"], event["event"]
    if openid == ERASED:  # an event HQ handed on, redacted since by an erasure
        return "ignored"
    if kind in FOLLOWS:
        scene = event["scene"]
        linked = follow(store, openid, scene if scene.startswith(SCENE_PREFIX) else "")
        return "linked" if linked else "followed"
    if kind == "unsubscribe":
        return "unfollowed" if unfollow(store, openid) else "ignored"
    if kind in NOTICE_EVENTS:
        return _on_notices(store, openid, event)
    if kind == "templatesendjobfinish":
        status = event["status"]
        row = store.one("SELECT id FROM messages WHERE channel = 'wechat' AND provider_ref = ?",
                        (event["msgid"],)) if event["msgid"] else None
        if row is None:
            return "ignored"
        if status == "failed:user block":  # the guest refused the account's messages
            unfollow(store, openid, actor="guest:wechat-block")
        mark_receipt(store, row["id"], status == "success",
                     "" if status == "success" else f"WeChat: {status}")
        return "settled"
    return "ignored"


def _on_notices(store: Store, openid: str, event: Event) -> str:
    items = event["notices"]
    if event["event"] == "subscribe_msg_popup_event":
        taken = notice_accepted(store, openid, [i.get("TemplateId", "") for i in items
                                                if i.get("SubscribeStatusString") == "accept"])
        return "accepted" if taken else "ignored"
    if event["event"] == "subscribe_msg_change_event":
        withdrawn = [notice_withdrawn(store, openid, i.get("TemplateId", "")) for i in items
                     if i.get("SubscribeStatusString") == "reject"]
        return "withdrawn" if any(withdrawn) else "ignored"
    try:
        if event["time"] <= 0:
            raise ValueError(event["time"])
        reported_at = to_iso(datetime.fromtimestamp(event["time"], UTC))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("a WeChat notice report without a valid CreateTime") from None
    settled = False
    for item in items:
        template_id, status = item.get("TemplateId", ""), item.get("ErrorStatus", "")
        ok = item.get("ErrorCode") == "0"
        if not store.settings.messaging.wechat.is_notice(template_id) or not settle_notice(
                store, openid, template_id, item.get("MsgID", ""), reported_at, ok,
                "" if ok else f"WeChat: {status}"):
            continue
        settled = True
        if status == "failed:user block":
            unfollow(store, openid, actor="guest:wechat-block")
    return "settled" if settled else "ignored"
