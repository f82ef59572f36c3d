"""Platform guests known by their own phone, and Meituan's brand member card (品牌会员卡).

A delivery platform hands the guest's own phone over only when the guest agrees, and in one
place laoke trusts: Meituan's brand member card, where the guest asks, in Meituan's app, for
the brand's membership (the platform then calls the store's card endpoint with the phone; see
`receive_meituan_card`). Phones on orders are privacy numbers (`13812345678_1234`), masked
(`138****5678`) or, bare, a relay's number that looks like anyone's: none of them ever joins a
member (`phones.real_phone` refuses the first two; the last is why only the card is trusted).

The platform guest is then kept as a keyed hash of the phone (HMAC-SHA256 with the chain's key,
so every store of the chain keys them alike and HQ, seeing the join, learns no phone), joined to
the member who has that phone. The platform names that member on their next orders
(`user_member_info.poi_member_id`), and an order is theirs only if the member was joined here
through the card (delivery.land_order), so a push cannot hand an order to a member the
platform never linked.
Erasure removes the joins and their keys (members.scrub_guest, redact_events).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypedDict

from .delivery import _accept, meituan_sig
from .errors import NotFound
from .members import NewMember, add_member
from .phones import real_phone
from .store import Store

PHONE_KEY_PURPOSE = "platform-phone"
CARD_ACTIONS = ("query", "open")
CARD_NAME = "美团会员"  # the name a card opened without one is signed up under, for staff to ask
CARD_CONSENT = "meituan-card"  # the wording was Meituan's card terms, with the store's version


class CardAnswer(TypedDict):
    """What Meituan's card asks after (the fields its orders carry as `user_member_info`)."""

    is_poi_member: bool
    poi_member_id: str
    card_code: str
    level_code: str


@dataclass(frozen=True)
class CardCall:
    """One call from Meituan's card: the guest's own phone, and the name they gave, if any."""

    action: str
    mobile: str
    name: str


def phone_key(store: Store, e164: str) -> str:
    """The platform guest's key: a keyed hash of their phone, never the phone itself."""
    return hmac.new(store.settings.chain_key, f"{PHONE_KEY_PURPOSE}:{e164}".encode(),
                    hashlib.sha256).hexdigest()


def join_by_phone(store: Store, platform: str, phone: str, actor: str,
                  open_as: NewMember | None = None) -> str | None:
    """The platform handed over the guest's own phone with their consent: its key joins the
    member with that phone, or, given `open_as`, a guest signed up with it. Returns the member,
    or None when nobody here has the phone (and nothing is kept). A privacy or masked number is
    PhoneInvalid, and joins nobody."""
    e164 = real_phone(phone, store.settings.region)
    key = phone_key(store, e164)
    with store.write():
        row = store.one("SELECT id FROM members WHERE phone = ?", (e164,))
        member_id: str
        if row is not None:
            member_id = row["id"]
        elif open_as is None:
            return None
        else:
            member_id = add_member(store, replace(open_as, phone=e164), actor)["id"]
        opened = row is None
        joined = store.one("SELECT member_id FROM platform_phones WHERE platform = ? AND "
                           "phone_key = ?", (platform, key))
        if joined is not None and joined["member_id"] == member_id:
            return member_id
        store.conn.execute(
            "INSERT INTO platform_phones (platform, phone_key, member_id, opened, joined_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, phone_key) DO UPDATE SET "
            "member_id = excluded.member_id, opened = excluded.opened, "
            "joined_at = excluded.joined_at",
            (platform, key, member_id, int(opened), store.now_iso()))
        store.emit("delivery.phone_joined", {"platform": platform, "phone_key": key,
                                             "member_id": member_id, "opened": opened})
        store.audit(actor, "delivery.phone_join", member_id,
                    {"platform": platform, "opened": opened})
    return member_id


def card_answer(store: Store, member_id: str | None) -> CardAnswer:
    if member_id is None:
        return CardAnswer(is_poi_member=False, poi_member_id="", card_code="", level_code="")
    member = store.one("SELECT tier FROM members WHERE id = ?", (member_id,))
    card = store.one("SELECT number FROM member_cards WHERE member_id = ? AND "
                     "status = 'active' ORDER BY linked_at LIMIT 1", (member_id,))
    return CardAnswer(is_poi_member=True, poi_member_id=member_id,
                      card_code=card["number"] if card is not None else "",
                      level_code=member["tier"] if member is not None else "")


def card_call(action: str, params: Mapping[str, str]) -> CardCall:
    if action not in CARD_ACTIONS:
        raise NotFound(f"no Meituan card call {action!r}: one of {', '.join(CARD_ACTIONS)}")
    return CardCall(action, str(params.get("mobile", "")).strip(),
                    str(params.get("name", "")).strip())


def receive_meituan_card(store: Store, url: str, action: str,
                         params: Mapping[str, str]) -> CardAnswer:
    """Meituan's brand member card asks (`query`) whether the guest with this phone is a
    member, or opens their card (`open`): signed and replay-checked as its pushes are. Either
    joins the phone to the member who has it; `open` signs a new guest up only when the store
    allows it (`[delivery.meituan] open_cards`), with the card's terms as the consent's wording.
    A call taken already is answered again and changes nothing."""
    settings = store.settings.delivery.meituan
    call = card_call(action, params)
    expected = meituan_sig(url, params, settings.app_secret)
    with store.write():
        fresh = _accept(store, "meituan", settings.app_secret, params.get("sig"), expected,
                        params.get("timestamp"), expected)
        if not fresh:
            e164 = real_phone(call.mobile, store.settings.region)
            row = store.one("SELECT id FROM members WHERE phone = ?", (e164,))
            return card_answer(store, None if row is None else row["id"])
        opening = call.action == "open" and settings.open_cards
        new = NewMember(name=call.name or CARD_NAME, phone=call.mobile,
                        consent_version=f"{CARD_CONSENT}:"
                                        f"{store.settings.privacy.consent_version}") \
            if opening else None
        return card_answer(store, join_by_phone(store, "meituan", call.mobile, "meituan", new))
