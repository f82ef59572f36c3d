"""Guests: sign-up with consent, taste notes and allergies, cards, lookup, and erasure."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypedDict

import phonenumbers

from . import database
from .clock import parse_day
from .codes import b32encode
from .errors import (
    CardBlocked,
    CardTaken,
    ExactKeyRequired,
    InvalidInput,
    MemberErased,
    MemberNotFound,
    NotFound,
    PhoneInvalid,
    PhoneTaken,
    QrInvalid,
)
from .ids import new_id
from .phones import mask_phone, normalize_phone, phone_digits_reversed
from .schema import spaced_chars
from .store import Store, dumps
from .wechat import erase_follower

GENDERS = ("f", "m", "x")
SPICE_LEVELS = {"none": "不辣", "mild": "微辣", "medium": "中辣", "hot": "特辣"}
LIST_FIELDS = ("avoid", "allergies", "tags")
EDITABLE = (
    "name", "phone", "birthday", "gender", "spice_level", "avoid", "allergies", "notes",
    "seat_preference", "tags", "vip", "marketing_consent", "email",
)
MAX_NAME, MAX_ITEM, MAX_ITEMS, MAX_NOTES = 40, 40, 20, 500
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class NewMember:
    name: str
    phone: str
    birthday: str | None = None
    gender: str | None = None
    spice_level: str | None = None
    avoid: list[str] = field(default_factory=list)
    allergies: list[str] = field(default_factory=list)
    notes: str = ""
    seat_preference: str = ""
    tags: list[str] = field(default_factory=list)
    vip: bool = False
    referred_by: str | None = None
    marketing_consent: bool = False
    card: str | None = None
    email: str | None = None
    signed_up_by: str | None = None  # the staff member whose PIN signed them up
    # the wording the guest agreed to, when it was not this store's own form's (a platform's
    # card terms); None: the store's current `[privacy] consent_version`
    consent_version: str | None = None


# -- validation ------------------------------------------------------------------------------

def _text(value: Any, what: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    value = " ".join(value.split()) if what == "name" else value.strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise InvalidInput(f"{what} contains control characters")
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return str(value)


def _items(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part for part in value.replace("，", ",").split(",")]
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{what} must be a list of text")
    items = [_text(v, what, MAX_ITEM) for v in value]
    items = list(dict.fromkeys(i for i in items if i))
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"{what}: at most {MAX_ITEMS} entries")
    return items


def _birthday(value: Any, today: date) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        day = value
    else:
        try:
            day = parse_day(value, "birthday")
        except ValueError as error:
            raise InvalidInput(str(error)) from None
    if day > today or day.year < 1900:
        raise InvalidInput(f"birthday {day.isoformat()} is not a plausible birth date")
    return day.isoformat()


def _flag(value: Any, what: str) -> int:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false")
    return int(value)


def _email(value: Any) -> str | None:
    """Good enough to catch typos at the kiosk; the mail server has the last word."""
    if value in (None, ""):
        return None
    text = _text(value, "email", 254)
    if not EMAIL.fullmatch(text):
        raise InvalidInput(f"email {text!r} is not an e-mail address")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def mask_email(email: str | None) -> str | None:
    if not email:
        return email
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def _clean(store: Store, field_name: str, value: Any) -> Any:
    """Validate one editable field and turn it into its column value."""
    if field_name == "name":
        return _text(value, "name", MAX_NAME, required=True)
    if field_name == "phone":
        return normalize_phone(value, store.settings.region)
    if field_name == "birthday":
        return _birthday(value, store.now().date())
    if field_name == "gender":
        if value not in (None, "", *GENDERS):
            raise InvalidInput(f"gender must be one of {', '.join(GENDERS)}")
        return value or None
    if field_name == "spice_level":
        if value not in (None, "", *SPICE_LEVELS):
            raise InvalidInput(f"spice_level must be one of {', '.join(SPICE_LEVELS)}")
        return value or None
    if field_name in LIST_FIELDS:
        return dumps(_items(value, field_name))
    if field_name == "notes":
        return _text(value, "notes", MAX_NOTES)
    if field_name == "seat_preference":
        return _text(value, "seat_preference", MAX_ITEM)
    if field_name in ("vip", "marketing_consent"):
        return _flag(value, field_name)
    if field_name == "email":
        return _email(value)
    raise InvalidInput(f"unknown member field {field_name!r}")


# -- reading ---------------------------------------------------------------------------------

def points_balance(store: Store, member_id: str) -> int:
    return int(store.scalar(
        "SELECT COALESCE(SUM(delta), 0) FROM points_ledger WHERE member_id = ?", (member_id,)))


def stored_value_balance(store: Store, member_id: str) -> int:
    return int(store.scalar(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger WHERE member_id = ?",
        (member_id,)))


def member_row(store: Store, member_id: str) -> database.Row:
    row = store.one("SELECT * FROM members WHERE id = ?", (member_id,))
    if row is None:
        raise MemberNotFound(f"no member with id {member_id!r}")
    return row


def member_record(row: database.Row) -> dict[str, Any]:
    """The member as HQ and other stores receive it: every stored field, no balances."""
    record = dict(row)
    record.pop("phone_rev", None)
    for key in LIST_FIELDS:
        record[key] = json.loads(record[key])
    record["vip"] = bool(record["vip"])
    record["marketing_consent"] = bool(record["marketing_consent"])
    return record


class Consent(TypedDict):
    given_at: str | None
    version: str | None
    marketing: bool


class MemberCard(TypedDict):
    number: str
    status: str
    linked_at: str
    blocked_at: str | None
    block_reason: str | None


class MemberView(TypedDict):
    """The member as people and devices see it (shared/SPEC.md's "member"): the stored
    fields HQ also gets, the consent as given, the tier by name, balances and cards."""

    id: str
    name: str | None  # None once erased, like the phone
    phone: str | None
    birthday: str | None
    gender: str | None
    spice_level: str | None
    avoid: list[str]
    allergies: list[str]
    notes: str
    seat_preference: str
    tags: list[str]
    vip: bool
    referred_by: str | None
    marketing_consent: bool
    tier: str
    home_store: str
    created_at: str
    updated_at: str
    erased_at: str | None
    email: str | None
    signed_up_by: str | None
    erased: bool
    consent: Consent
    tier_name: str
    tier_name_en: str
    points_balance: int
    stored_value_fen: int
    cards: list[MemberCard]


def member_view(store: Store, row: database.Row, masked: bool = False) -> MemberView:
    """A waiter's view (`masked`) shows the phone and email masked."""
    tier = store.settings.tier(row["tier"])
    return MemberView(
        id=row["id"], name=row["name"],
        phone=mask_phone(row["phone"]) if masked else row["phone"],
        birthday=row["birthday"], gender=row["gender"], spice_level=row["spice_level"],
        avoid=json.loads(row["avoid"]), allergies=json.loads(row["allergies"]),
        notes=row["notes"], seat_preference=row["seat_preference"],
        tags=json.loads(row["tags"]), vip=bool(row["vip"]), referred_by=row["referred_by"],
        marketing_consent=bool(row["marketing_consent"]), tier=row["tier"],
        home_store=row["home_store"], created_at=row["created_at"],
        updated_at=row["updated_at"], erased_at=row["erased_at"],
        email=mask_email(row["email"]) if masked else row["email"],
        signed_up_by=row["signed_up_by"], erased=row["erased_at"] is not None,
        consent=Consent(given_at=row["consent_at"], version=row["consent_version"],
                        marketing=bool(row["marketing_consent"])),
        tier_name=tier.name, tier_name_en=tier.name_en,
        points_balance=points_balance(store, row["id"]),
        stored_value_fen=stored_value_balance(store, row["id"]),
        cards=[MemberCard(number=card["number"], status=card["status"],
                          linked_at=card["linked_at"], blocked_at=card["blocked_at"],
                          block_reason=card["block_reason"])
               for card in store.conn.execute(
                   "SELECT number, status, linked_at, blocked_at, block_reason "
                   "FROM member_cards WHERE member_id = ? ORDER BY linked_at", (row["id"],))])


def get_member(store: Store, member_id: str, masked: bool = False) -> MemberView:
    return member_view(store, member_row(store, member_id), masked)


def member_by_phone(store: Store, phone: str) -> database.Row | None:
    return store.one("SELECT * FROM members WHERE phone = ?",
                     (normalize_phone(phone, store.settings.region),))


def member_by_card(store: Store, number: str) -> database.Row:
    """The card's guest; a blocked card is refused, an unknown one is NotFound."""
    card = store.one("SELECT * FROM member_cards WHERE number = ?", (number.strip(),))
    if card is None:
        raise NotFound(f"unknown card {number!r}: offer signup or link it to a guest")
    if card["status"] == "blocked":
        raise CardBlocked(f"card {number} is blocked ({card['block_reason'] or 'no reason'})")
    return member_row(store, card["member_id"])


def resolve_member(store: Store, id_or_phone: str) -> database.Row:
    """A member by id, phone in any common form, or card number."""
    row = store.one("SELECT * FROM members WHERE id = ?", (id_or_phone,))
    if row is not None:
        return row
    try:
        row = member_by_phone(store, id_or_phone)
    except PhoneInvalid:
        row = None
    if row is not None:
        return row
    try:
        return member_by_card(store, id_or_phone)
    except NotFound:
        raise MemberNotFound(f"no member with id, phone or card {id_or_phone!r}") from None


QR_PREFIX = "LKM1."
QR_PURPOSE = "member-qr"


def member_qr(store: Store, member_id: str) -> str:
    """The guest's QR payload: their id and an HMAC, so it can be neither guessed nor forged."""
    member_row(store, member_id)
    return QR_PREFIX + member_id + "." + _qr_signature(store, member_id)


def _qr_signature(store: Store, member_id: str) -> str:
    digest = hmac.new(store.settings.chain_key, f"{QR_PURPOSE}:{member_id}".encode(),
                      hashlib.sha256).digest()
    return b32encode(int.from_bytes(digest[:10], "big"), 16)


def member_by_qr(store: Store, payload: str) -> database.Row:
    """The member a scanned QR names; a tampered or foreign code is refused with the reason."""
    if not isinstance(payload, str) or not payload.strip().startswith(QR_PREFIX):
        raise QrInvalid("not a laoke member QR code")
    body = payload.strip()[len(QR_PREFIX):]
    member_id, _, signature = body.rpartition(".")
    if not member_id or not hmac.compare_digest(signature, _qr_signature(store, member_id)):
        raise QrInvalid("member QR code failed its signature check (tampered or forged)")
    row = member_row(store, member_id)
    if row["erased_at"]:
        raise MemberErased("this guest's data was erased")
    return row


def find_members(store: Store, query: str, limit: int = 20) -> list[database.Row]:
    """Phone in any form, its first or last digits (3+), card number, or any part of a name
    (prefixes first); every branch is an index lookup with a LIMIT, so a million guests
    answer at once."""
    # Control characters match nothing a person typed, and break FTS5's query syntax.
    query = "".join(ch for ch in (query or "") if unicodedata.category(ch) != "Cc").strip()
    if not query:
        return []
    found: dict[str, database.Row] = {}

    def add(rows: list[database.Row]) -> None:
        for row in rows:
            found.setdefault(row["id"], row)

    try:
        row = member_by_phone(store, query)
        if row is not None:
            add([row])
    except PhoneInvalid:
        pass
    add(store.conn.execute(
        "SELECT m.* FROM member_cards c JOIN members m ON m.id = c.member_id "
        "WHERE c.number = ?", (query,)).fetchall())
    digits = "".join(ch for ch in query if ch.isdigit())
    if digits and len(digits) >= 3 and len(digits) == len(query.replace(" ", "").lstrip("+")):
        # Typed from the start (as you type) or the last digits (the guest says "尾号8000").
        code = phonenumbers.country_code_for_region(store.settings.region)
        start = "+" + digits if query.startswith("+") else f"+{code}{digits}"
        add(store.conn.execute(
            "SELECT * FROM members WHERE phone >= ? AND phone < ? ORDER BY phone LIMIT ?",
            (start, start + ":", limit)).fetchall())
        tail = digits[::-1]
        add(store.conn.execute(
            "SELECT * FROM members WHERE phone_rev >= ? AND phone_rev < ? LIMIT ?",
            (tail, tail + "\x7f", limit)).fetchall())
    else:
        add(store.conn.execute(
            "SELECT * FROM members WHERE name >= ? AND name < ? ORDER BY name LIMIT ?",
            (query, query + "\U0010ffff", limit)).fetchall())
        phrase = spaced_chars(query) or ""
        if len(found) < limit and phrase:
            add(store.conn.execute(
                "SELECT m.* FROM member_search s JOIN members m ON m.rowid = s.rowid "
                "WHERE member_search MATCH ? LIMIT ?",
                ('"' + phrase.replace('"', '""') + '"', limit)).fetchall())
    return list(found.values())[:limit]


MIN_TAIL = 4  # the fewest last digits of a phone that find a guest for a masked role
MAX_TAIL_MATCHES = 5  # the most guests one such search shows


def looks_like_tail(query: str) -> bool:
    """Digits only, too few for a phone: a search by a phone's last digits."""
    query = query.strip()
    return query.isdigit() and len(query) < 11


def find_by_key(store: Store, query: str, limit: int = 5) -> tuple[str, list[database.Row]]:
    """What a role that sees masked phones may find guests by, and which key it was: the full
    phone (`phone`), a card number (`card`), a member QR (`qr`) or the phone's last four or
    more digits (`tail`, which the caller rate-limits).

    Never a phone prefix, which unmasks `138****8000` a digit at a time, nor a name, which
    lists guests at will.
    """
    query = "".join(ch for ch in (query or "") if unicodedata.category(ch) != "Cc").strip()
    if query.startswith(QR_PREFIX):
        return "qr", [member_by_qr(store, query)]
    try:
        row = member_by_phone(store, query)
    except PhoneInvalid:
        row = None
    if row is not None:
        return "phone", [row]
    cards = store.conn.execute(
        "SELECT m.* FROM member_cards c JOIN members m ON m.id = c.member_id "
        "WHERE c.number = ? AND c.status = 'active'", (query,)).fetchall()
    if cards:
        return "card", cards
    if query.isdigit() and len(query) >= MIN_TAIL:
        tail = query[::-1]
        return "tail", store.conn.execute(
            "SELECT * FROM members WHERE phone_rev >= ? AND phone_rev < ? LIMIT ?",
            (tail, tail + "\x7f", limit)).fetchall()
    raise ExactKeyRequired(f"find a guest by the full phone, a card, the member QR or the "
                           f"last {MIN_TAIL} or more digits of the phone")


# -- writing ---------------------------------------------------------------------------------

def add_member(store: Store, new: NewMember, actor: str = "system") -> MemberView:
    """Sign a guest up, recording privacy consent with its time and wording version."""
    values = {name: _clean(store, name, getattr(new, name)) for name in EDITABLE}
    now = store.now_iso()
    member_id = new_id()
    values.update(
        id=member_id,
        phone_rev=phone_digits_reversed(values["phone"]),
        referred_by=new.referred_by or None,
        signed_up_by=new.signed_up_by,
        consent_at=now,
        consent_version=new.consent_version or store.settings.privacy.consent_version,
        tier=store.settings.tiers[0].code,
        home_store=store.store_id,
        created_at=now,
        updated_at=now,
    )
    with store.write():
        if values["referred_by"] is not None:
            member_row(store, values["referred_by"])
        if store.one("SELECT 1 FROM members WHERE phone = ?", (values["phone"],)):
            raise PhoneTaken(f"phone {values['phone']} already belongs to a member")
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        store.conn.execute(f"INSERT INTO members ({columns}) VALUES ({marks})", values)
        row = member_row(store, member_id)
        store.emit("member.created", member_record(row))
        if new.card:
            link_card(store, member_id, new.card, actor=actor)
    return get_member(store, member_id)


def update_member(store: Store, member_id: str, changes: dict[str, Any],
                  actor: str = "system") -> MemberView:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot change member field(s): {', '.join(unknown)}")
    values = {name: _clean(store, name, value) for name, value in changes.items()}
    with store.write():
        row = member_row(store, member_id)
        if row["erased_at"]:
            raise MemberErased(f"member {member_id} was erased")
        if "phone" in values:
            other = store.one("SELECT id FROM members WHERE phone = ? AND id <> ?",
                              (values["phone"], member_id))
            if other:
                raise PhoneTaken(f"phone {values['phone']} already belongs to another member")
            values["phone_rev"] = phone_digits_reversed(values["phone"])
        if "marketing_consent" in values:
            values["consent_at"] = store.now_iso()
            values["consent_version"] = store.settings.privacy.consent_version
        values["updated_at"] = store.now_iso()
        sets = ", ".join(f"{k} = :{k}" for k in values)
        store.conn.execute(f"UPDATE members SET {sets} WHERE id = :id", {**values, "id": member_id})
        store.emit("member.updated", member_record(member_row(store, member_id)))
        if "marketing_consent" in values:
            store.audit(actor, "member.consent", member_id,
                        {"marketing": bool(values["marketing_consent"])})
    return get_member(store, member_id)


def card_ref(number: str) -> str:
    """A card as the append-only audit log names it: its last four characters, so the log
    says which card without keeping a number an erasure could not take back."""
    return "…" + number[-4:] if len(number) > 6 else "…"


def link_card(store: Store, member_id: str, number: str, actor: str = "system") -> None:
    number = _text(number, "card number", 64, required=True)
    with store.write():
        row = member_row(store, member_id)
        if row["erased_at"]:
            raise MemberErased(f"member {member_id} was erased")
        existing = store.one("SELECT member_id FROM member_cards WHERE number = ?", (number,))
        if existing is not None:
            raise CardTaken(f"card {number} is already linked to a member")
        linked_at = store.now_iso()
        store.conn.execute(
            "INSERT INTO member_cards (number, member_id, status, linked_at) "
            "VALUES (?, ?, 'active', ?)", (number, member_id, linked_at))
        store.emit("card.linked", {"number": number, "member_id": member_id,
                                   "linked_at": linked_at})
        store.audit(actor, "card.link", member_id, {"number": card_ref(number)})


def block_card(store: Store, number: str, reason: str, actor: str = "system") -> None:
    """A lost card stops working everywhere; the guest keeps their account."""
    reason = _text(reason, "reason", 200, required=True)
    with store.write():
        card = store.one("SELECT * FROM member_cards WHERE number = ?", (number,))
        if card is None:
            raise NotFound(f"unknown card {number!r}")
        blocked_at = store.now_iso()
        store.conn.execute(
            "UPDATE member_cards SET status = 'blocked', blocked_at = ?, block_reason = ? "
            "WHERE number = ?", (blocked_at, reason, number))
        store.emit("card.blocked", {"number": number, "member_id": card["member_id"],
                                    "reason": reason, "blocked_at": blocked_at})
        store.audit(actor, "card.block", card["member_id"],
                    {"number": card_ref(number), "reason": reason})


ERASED_FIELDS = {
    "name": None, "phone": None, "phone_rev": None, "birthday": None, "gender": None,
    "spice_level": None, "avoid": "[]", "allergies": "[]", "notes": "", "seat_preference": "",
    "tags": "[]", "marketing_consent": 0, "email": None,
}


# Print jobs that carry a guest on paper: welcome slips, their receipts, their coupons and
# their tables' kitchen tickets (allergies in large type).
GUEST_PRINT_JOBS = """
SELECT id FROM print_jobs WHERE (kind = 'welcome' AND subject = :id)
   OR (kind = 'receipt' AND subject IN (SELECT id FROM orders WHERE member_id = :id))
   OR (kind = 'kitchen' AND subject IN (SELECT id FROM visits WHERE member_id = :id))
   OR (kind = 'coupon' AND subject IN (SELECT code FROM coupons WHERE member_id = :id))
"""


def empty_print_jobs(store: Store, member_id: str) -> list[str]:
    """Empty the print jobs about a guest (an unprinted one is cancelled), inside the caller's
    change; returns their ids. For an erasure here and one relayed from another store."""
    jobs = [r[0] for r in store.conn.execute(GUEST_PRINT_JOBS, {"id": member_id})]
    store.conn.executemany(
        "UPDATE print_jobs SET data = X'', preview = '', state = CASE WHEN state IN "
        "('queued', 'waiting', 'unconfirmed') THEN 'cancelled' ELSE state END, "
        "last_error = NULL WHERE id = ?", [(job,) for job in jobs])
    return jobs


def scrub_guest(store: Store, member_id: str, at: str) -> list[str]:
    """What an erasure does to a guest wherever it happens (here, or relayed from another
    store), inside the caller's change: their personal data, cards, the print jobs about them
    (emptied; returned), the messages still waiting for them and what they wrote when rating
    a meal (the rating stays, for the staff's figures) or told a caller (the call's reason stays,
    for the churn report)."""
    sets = ", ".join(f"{k} = :{k}" for k in ERASED_FIELDS)
    store.conn.execute(f"UPDATE members SET {sets}, erased_at = :at, updated_at = :at "
                       "WHERE id = :id AND erased_at IS NULL",
                       {**ERASED_FIELDS, "at": at, "id": member_id})
    store.conn.execute("DELETE FROM member_cards WHERE member_id = ?", (member_id,))
    jobs = empty_print_jobs(store, member_id)
    store.conn.execute(
        "UPDATE messages SET address = NULL, body = '', params = '', status = CASE WHEN status IN "
        "('queued', 'held') THEN 'skipped' ELSE status END, reason = 'guest erased' "
        "WHERE member_id = ?", (member_id,))
    store.conn.execute("UPDATE feedback SET comment = '' WHERE order_id IN "
                       "(SELECT id FROM orders WHERE member_id = ?)", (member_id,))
    store.conn.execute("UPDATE calls SET note = '', address = NULL WHERE member_id = ?",
                       (member_id,))
    # Their delivery platforms' user ids: the joins go, and so do the ids on their orders.
    store.conn.execute(
        "UPDATE delivery_orders SET platform_user_id = NULL WHERE member_id = ?1 OR "
        "(platform, platform_user_id) IN (SELECT platform, platform_user_id FROM "
        "platform_identities WHERE member_id = ?1)", (member_id,))
    store.conn.execute("DELETE FROM platform_identities WHERE member_id = ?", (member_id,))
    erase_follower(store, member_id)  # their WeChat OpenID
    store.conn.execute("DELETE FROM platform_phones WHERE member_id = ?", (member_id,))
    return jobs


EVENT_TABLES = ("outbox", "sent_events")  # a store's own events: to send, and kept once sent


def redact_events(conn: database.Connection, member_id: str,
                  tables: tuple[str, ...] = EVENT_TABLES) -> None:
    """A guest's personal data out of stored events (their sign-up and edits keep only the
    id, their cards only a placeholder number): at a store the events waiting for HQ and the
    ones kept for an HQ restored from a backup, at HQ its event history."""
    for table in tables:
        conn.execute(f"UPDATE {table} SET data = json_object('id', ?1, 'redacted', "
                     "json('true')) WHERE type IN ('member.created', 'member.updated') "
                     "AND json_extract(data, '$.id') = ?1", (member_id,))
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.number', 'erased') "
                     "WHERE type IN ('card.linked', 'card.blocked') "
                     "AND json_extract(data, '$.member_id') = ?", (member_id,))
        # a delivery platform's user id joined to them: off its orders, then off the join
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.platform_user_id', NULL) "
                     "WHERE type = 'delivery.order' AND json_extract(data, '$.platform_user_id')"
                     f" IN (SELECT json_extract(data, '$.platform_user_id') FROM {table} WHERE "
                     "type = 'delivery.joined' AND json_extract(data, '$.member_id') = ?)",
                     (member_id,))
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.platform_user_id', "
                     "'erased') WHERE type = 'delivery.joined' "
                     "AND json_extract(data, '$.member_id') = ?", (member_id,))
        # a text handed to HQ to send: its number and words
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.address', NULL, '$.body', "
                     "'', '$.params', '') WHERE type = 'message.relayed' "
                     "AND json_extract(data, '$.member_id') = ?", (member_id,))
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.openid', 'erased') "
                     "WHERE type = 'wechat.follower' AND json_extract(data, '$.member_id') = ?",
                     (member_id,))
        conn.execute(f"UPDATE {table} SET data = json_set(data, '$.phone_key', 'erased') "
                     "WHERE type = 'delivery.phone_joined' "
                     "AND json_extract(data, '$.member_id') = ?", (member_id,))


# A platform guest joined to a member, and the key that names the guest (an erasure's to go).
JOIN_KEYS = {"delivery.joined": "platform_user_id", "delivery.phone_joined": "phone_key"}


def redacted_data(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """`redact_events` on one event's data, for a book whose engine has not SQLite's JSON
    functions (HQ on PostgreSQL): the same result."""
    if type_ in ("member.created", "member.updated"):
        return {"id": data.get("id"), "redacted": True}
    if type_ in ("card.linked", "card.blocked"):
        return {**data, "number": "erased"}
    if type_ == "message.relayed":
        return {**data, "address": None, "body": "", "params": ""}
    if type_ == "wechat.follower":
        return {**data, "openid": "erased"}
    if type_ == "wechat.event":  # an event of the account HQ handed a store
        return {**data, "event": {**data["event"], "openid": "erased"}}
    if type_ in JOIN_KEYS:
        return {**data, JOIN_KEYS[type_]: "erased"}
    return data


def erase_member(store: Store, member_id: str, actor: str, reason: str = "") -> list[str]:
    """Erase a guest's personal data for good, keeping orders and ledgers (anonymised).

    Events still waiting in the outbox, or kept once sent, lose the guest's personal data
    too, and so do the print jobs about them (emptied; an unprinted one is cancelled); the
    audit log, which is append-only, never held more than a card's last digits (`card_ref`).
    The erasure event itself tells HQ and every other store to do the same. Returns the print
    jobs emptied, so the caller can remove their slips from the virtual printer.
    """
    with store.write():
        row = member_row(store, member_id)
        if row["erased_at"]:
            return []
        now = store.now_iso()
        jobs = scrub_guest(store, member_id, now)
        redact_events(store.conn, member_id)
        store.emit("member.erased", {"id": member_id, "erased_at": now})
        store.audit(actor, "member.erase", member_id, {"reason": reason})
        # Merge the name index so no old segment still spells the name (a rare, owner-only
        # action: worth the seconds this takes on a million guests).
        store.conn.execute("INSERT INTO member_search (member_search) VALUES ('optimize')")
    # The old pages may still sit in the WAL; fold them in and truncate it.
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return jobs
