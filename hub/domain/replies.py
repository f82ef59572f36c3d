"""What a guest texts back to the shop: a stop word withdraws marketing consent (outreach's
rule), and the claim code off a delivery bag's slip claims that order, and its platform user,
for the guest whose phone sent it, as the code typed at the kiosk does (issue 20). Apart from
outreach, which checkout reaches, so that claiming (delivery, which writes orders) does not
close a cycle through it."""

from __future__ import annotations

from typing import Any

from .codes import canonical
from .delivery import CLAIM_LENGTH, claim
from .errors import ClaimTaken, NotFound
from .members import member_by_phone
from .outreach import is_stop_word, withdraw
from .store import Store


def is_answer(text: Any) -> bool:
    """Whether a reply says anything laoke acts on (what HQ relays back to the store)."""
    return is_stop_word(text) or (isinstance(text, str) and
                                  len(canonical(text)) == CLAIM_LENGTH)


def reply_from(store: Store, phone: str, text: str) -> str:
    """A guest's SMS reply relayed by the gateway. Returns what was done ("unsubscribed",
    "claimed" or "none"), never who the number belongs to."""
    if not is_answer(text):
        return "none"
    return _answer(store, member_by_phone(store, phone), text)  # a bad number: the caller's 422


def reply_of_member(store: Store, member_id: str, text: str) -> str:
    """A guest's answer to a text HQ sent for this store: HQ names the guest by id, not by
    phone, since it knows them only from the texts it sent."""
    return _answer(store, store.one("SELECT * FROM members WHERE id = ?", (member_id,)), text)


def _answer(store: Store, row: Any, text: str) -> str:
    if is_stop_word(text):
        return withdraw(store, row)
    if row is None or row["erased_at"] or not is_answer(text):
        return "none"
    try:  # the phone is the guest's own (they texted from it): it may claim, as at the kiosk
        claim(store, text, row["id"], actor="guest:sms-reply")
    except (NotFound, ClaimTaken):
        return "none"  # a mistyped code, or another guest's order: nothing to tell the sender
    return "claimed"
