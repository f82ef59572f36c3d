"""What one pane tells the others, through the app: a pane never reaches into another."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from hub.domain.profiles import MemberProfile


@dataclass
class OpenGuest(Message):
    """Show this guest's profile (a row chosen in a list of guests)."""

    member_id: str


@dataclass
class GuestShown(Message):
    """The members tab now shows this guest, as the hub has them: the one at the till."""

    member: MemberProfile


class Charged(Message):
    """A bill was charged: the guest's balances and today's figures have moved."""
