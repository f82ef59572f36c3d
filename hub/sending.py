"""What every channel that sends a message promises the dispatcher (hub/messaging.py).

`send` either returns what the far end said (`Sent`) or raises `SendFailed` saying whether
trying again could help, and whether the message may have left all the same. A channel that
also hears back later (delivery receipts, replies) has `poll`, which the dispatcher runs
after each round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .domain.store import Store


class SendFailed(Exception):
    """`unconfirmed`: the far end may have taken it and cannot be asked, so no retry."""

    def __init__(self, reason: str, retryable: bool, unconfirmed: bool = False) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.unconfirmed = unconfirmed


@dataclass(frozen=True)
class Sent:
    delivered: bool = False  # the far end confirmed it reached the guest
    ref: str | None = None  # the far end's id of it, which its receipts name


class Channel(Protocol):
    def send(self, message: dict[str, Any]) -> Sent: ...


@runtime_checkable
class Polled(Protocol):
    def poll(self, store: Store) -> int: ...
