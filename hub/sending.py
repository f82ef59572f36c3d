"""What every channel that sends a message promises the dispatcher (hub/messaging.py).

`send` either returns what the far end said (`Sent`) or raises `SendFailed` saying whether
trying again could help, and whether the message may have left all the same. A channel that
also hears back later (delivery receipts, replies) has `poll`, which the dispatcher runs
after each round. What it hears lands in `Receipts`: the store's own messages here, or the
texts HQ sends for the stores (sync/hq/relay.py), so one client serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .domain.outreach import awaiting_receipt, mark_receipt
from .domain.replies import reply_from
from .domain.store import Store


class SendFailed(Exception):
    """`unconfirmed`: the far end may have taken it and cannot be asked, so no retry.
    `refusal`: what the far end's refusal says of the guest (WeChat: they no longer follow,
    or accepted no more of the notice; hub/domain/wechat.py's REFUSALS), which is written
    with the failure, in one change, by whoever sent it: the hub's dispatcher, or the store
    HQ sent it for, which HQ tells. A name, not a callable, since a channel mid-send has no
    store, and HQ's word must travel."""

    def __init__(self, reason: str, retryable: bool, unconfirmed: bool = False,
                 refusal: str | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.unconfirmed = unconfirmed
        self.refusal = refusal


@dataclass(frozen=True)
class Sent:
    delivered: bool = False  # the far end confirmed it reached the guest
    ref: str | None = None  # the far end's id of it, which its receipts name


class Channel(Protocol):
    def send(self, message: dict[str, Any]) -> Sent: ...


@runtime_checkable
class Polled(Protocol):
    def poll(self, store: Store) -> int: ...


class Receipts(Protocol):
    """The messages a channel's receipts and replies settle."""

    def now(self) -> datetime: ...

    def awaiting(self, channel: str, since: datetime) -> list[dict[str, Any]]:
        """Sent messages whose receipt has not come, each marked as asked now."""

    def receipt(self, message_id: str, delivered: bool, reason: str = "") -> bool:
        """The carrier's word on one; whether it changed it."""

    def reply(self, phone: str, text: str) -> str:
        """A guest's answer: "unsubscribed" or "none"; InvalidInput for a bad number."""


@dataclass(frozen=True)
class StoreReceipts:
    """A store's own messages (hub/domain/outreach.py)."""

    store: Store

    def now(self) -> datetime:
        return self.store.now()

    def awaiting(self, channel: str, since: datetime) -> list[dict[str, Any]]:
        return awaiting_receipt(self.store, channel, since)

    def receipt(self, message_id: str, delivered: bool, reason: str = "") -> bool:
        return mark_receipt(self.store, message_id, delivered, reason)

    def reply(self, phone: str, text: str) -> str:
        return reply_from(self.store, phone, text)
