"""Applying what other stores did, as HQ relays it: guests, cards, ledger entries, coupons.

Every change is keyed by the id it had at its origin, so applying the same page twice (after a
lost acknowledgement) changes nothing. Nothing here goes to the outbox: these events came
from HQ and must not travel back. A change that cannot be applied as it stands (the same phone
signed up at two stores while both were offline, a ledger entry the local balance refuses) is
kept in `sync_conflicts` with the reason, for a person to settle; it is never dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

from . import database
from .config import overlay
from .coupons import TERMS
from .errors import ConfigError, InvalidInput
from .ids import HQ_ORIGIN
from .members import LIST_FIELDS, redact_events, scrub_guest
from .menu import apply_chain_menu
from .outreach import settle_relayed
from .phones import phone_digits_reversed
from .replies import reply_of_member
from .store import Store, dumps
from .wechat import qr_made
from .wechat_events import event_of, on_event

MEMBER_COLUMNS = (
    "id", "name", "phone", "birthday", "gender", "spice_level", "avoid", "allergies", "notes",
    "seat_preference", "tags", "vip", "referred_by", "consent_at", "consent_version",
    "marketing_consent", "tier", "home_store", "created_at", "updated_at", "erased_at", "email",
)
RELAYED = ("member.created", "member.updated", "member.erased", "card.linked", "card.blocked",
           "points.entry", "stored_value.entry", "coupon_template.created",
           "coupon_template.updated", "coupon.issued",
           "coupon.redeemed", "campaign.saved", "settings.changed", "menu.changed",
           "message.settled", "message.reply", "wechat.qr", "wechat.event")
# HQ's word to one store about the messages it sends for it ([messaging] route = "hq"), the
# follow QRs it makes for it and the WeChat events of its guests: the feed carries each only
# to the store it names (`data.store`).
ADDRESSED = ("message.settled", "message.reply", "wechat.qr", "wechat.event")
WATERMARK_KEY = "hq_applied_seq"  # hub_meta: the last seq every HQ said it has applied
INSTALL_KEY = "install_id"  # hub_meta: this database's own id, made at its first connect
EPOCH_KEY = "hq_epoch"  # hub_meta: the incarnation HQ issued this hub (first contact, restore)
# What a relayed event that cannot apply here raises: a missing or wrong-typed field, a row
# the schema refuses (a guest erased meanwhile, a balance below zero), a value SQLite cannot
# bind. Each is a conflict for a person, never a reason to stop reading the feed.
UNAPPLIABLE = (KeyError, TypeError, ValueError, AttributeError, database.IntegrityError,
               database.ProgrammingError, InvalidInput)


def _member_values(data: dict[str, Any], own: bool = False) -> dict[str, Any]:
    # Who signed the guest up names staff of the origin store: kept only there.
    values = {key: data.get(key) for key in MEMBER_COLUMNS + (("signed_up_by",) if own else ())}
    for key in LIST_FIELDS:
        values[key] = dumps(values[key] or [])
    values["vip"] = int(bool(values["vip"]))
    values["marketing_consent"] = int(bool(values["marketing_consent"]))
    values["notes"] = values["notes"] or ""
    values["seat_preference"] = values["seat_preference"] or ""
    values["phone_rev"] = phone_digits_reversed(values["phone"]) if values["phone"] else None
    return values


def record_conflict(store: Store, event: dict[str, Any], reason: str) -> None:
    store.conn.execute(
        "INSERT INTO sync_conflicts (event_id, type, origin_store, reason, data, at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (event.get("id"), event.get("type"), event.get("store"),
                                      reason, dumps(event.get("data")), store.now_iso()))


def _only_known_fields(store: Store, table: str, row: dict[str, Any]) -> None:
    """A relayed row with a field this version's table lacks (a newer store's) is refused
    whole, so a person sees it, rather than taken without the field."""
    known = {r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")}
    unknown = sorted(key for key in row if key not in known)
    if unknown:
        raise ValueError(f"{table} has no field {', '.join(map(repr, unknown))}")


def _insert(store: Store, table: str, row: dict[str, Any]) -> None:
    """Insert a relayed row. Its keys came over the network: only the table's own columns
    are ever named in the SQL, and any other key refuses the whole row."""
    _only_known_fields(store, table, row)
    columns = ", ".join(f'"{key}"' for key in row)
    store.conn.execute(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES "
                       f"({', '.join('?' for _ in row)})", tuple(row.values()))


def apply_event(store: Store, event: dict[str, Any], own: bool = False) -> None:
    """Apply one relayed event inside the caller's transaction; `own` for this store's own
    past events (a restore), whose orders are here too. An event that cannot apply leaves
    nothing half done (it runs in a savepoint) and is kept as a conflict."""
    kind, data = event.get("type"), event.get("data") or {}
    if not own and kind not in RELAYED:
        record_conflict(store, event, f"an event of a kind this hub does not know ({kind}): "
                                      "from a newer version; upgrade this hub, then settle it")
        return
    try:
        with store.write():
            _apply(store, kind, data, event, own)
    except UNAPPLIABLE as error:
        record_conflict(store, event, f"cannot apply here: {type(error).__name__}: {error}")


def _apply(store: Store, kind: Any, data: Any, event: dict[str, Any], own: bool) -> None:
    if kind in ("member.created", "member.updated"):
        _member(store, data, event, own)
    elif kind == "member.erased":
        _erase(store, data["id"], data.get("erased_at") or event.get("ts") or store.now_iso())
    elif kind == "card.linked":
        if _erased(store, data["member_id"]):
            return  # the card of a guest erased here: nothing of theirs comes back
        _insert(store, "member_cards", {"number": data["number"],
                                        "member_id": data["member_id"],
                                        "status": "active",
                                        "linked_at": data.get("linked_at") or event.get("ts")})
    elif kind == "card.blocked":
        store.conn.execute("UPDATE member_cards SET status = 'blocked', blocked_at = ?, "
                           "block_reason = ? WHERE number = ?",
                           (data.get("blocked_at") or event.get("ts"), data.get("reason"),
                            data.get("number")))
    elif kind == "points.entry":
        _ledger(store, "points_ledger", data, event, own)
    elif kind == "stored_value.entry":
        _ledger(store, "stored_value_ledger", data, event, own)
    elif kind in ("coupon_template.created", "coupon_template.updated"):
        row = dict(data)
        row["stores"] = None if row.get("stores") is None else dumps(row["stores"])
        row["active"] = int(bool(row.get("active", True)))
        if kind == "coupon_template.created":
            _insert(store, "coupon_templates", row)
        else:  # the template as it is now, whole: its terms replace what is here
            _only_known_fields(store, "coupon_templates", row)
            store.conn.execute(
                f"UPDATE coupon_templates SET {', '.join(f'{k} = :{k}' for k in TERMS)} "
                "WHERE id = :id", {key: row[key] for key in (*TERMS, "id")})
    elif kind == "campaign.saved" and event.get("store") == HQ_ORIGIN:
        upsert_campaign(store, data)  # a store's own campaigns stay at that store
    elif kind == "settings.changed" and event.get("store") == HQ_ORIGIN:
        chain_settings(store, data["settings"])
    elif kind == "menu.changed" and event.get("store") == HQ_ORIGIN:
        apply_chain_menu(store, data["dishes"])
    elif kind in ADDRESSED and event.get("store") == HQ_ORIGIN:
        if data["store"] != store.store_id:
            return  # another store's text
        if kind == "message.settled":
            settle_relayed(store, data)
        elif kind == "wechat.qr":
            qr_made(store, data)
        elif kind == "wechat.event":
            on_event(store, event_of(data["event"]))
        else:  # the guest's answer is this store's to act on: it sends the change to HQ
            reply_of_member(store, data["member_id"], data["text"])
    elif kind == "coupon.issued":
        _insert(store, "coupons", dict(data))
    elif kind == "coupon.redeemed":
        existing = store.one("SELECT order_id, store_id FROM coupon_redemptions "
                             "WHERE code = ?", (data.get("code"),))
        if own:
            _insert(store, "coupon_redemptions", dict(data))
        elif existing is not None and existing["store_id"] != data.get("store_id"):
            record_conflict(store, event, f"coupon {data.get('code')} was also redeemed "
                                          f"at {existing['store_id']}")
        else:
            row = dict(data)
            row["order_id"] = None  # the order lives at its own store
            _insert(store, "coupon_redemptions", row)


def _erased(store: Store, member_id: Any) -> bool:
    return store.one("SELECT 1 FROM members WHERE id = ? AND erased_at IS NOT NULL",
                     (member_id,)) is not None


def _erase(store: Store, member_id: str, at: str) -> None:
    """Another store erased a guest: their personal data goes here too, with the messages
    still waiting for them, the print jobs about them and what conflicts kept of them."""
    scrub_guest(store, member_id, at)
    redact_events(store.conn, member_id)  # what this store sent of them, and will send
    store.conn.execute(
        "UPDATE sync_conflicts SET data = json_object('member_id', ?1, 'redacted', "
        "json('true')) WHERE json_extract(data, '$.id') = ?1 "
        "OR json_extract(data, '$.member_id') = ?1", (member_id,))


def _member(store: Store, data: dict[str, Any], event: dict[str, Any], own: bool) -> None:
    if data.get("redacted"):
        # Erased at its origin before it was sent; the erasure follows. The id alone stays,
        # which the guest's anonymised orders and ledger entries point to, here as there.
        _insert(store, "members", {"id": data["id"], "tier": store.settings.tiers[0].code,
                                   "home_store": store.store_id if own else event["store"],
                                   "created_at": event["ts"], "updated_at": event["ts"]})
        return
    _only_known_fields(store, "members", data)  # a newer version's field is not lost
    values = _member_values(data, own)
    local = store.one("SELECT updated_at, phone, erased_at FROM members WHERE id = ?",
                      (values["id"],))
    if local is not None and local["erased_at"]:
        return  # an erasure wins over any edit, whatever the clocks of the stores say
    if local is not None and (local["updated_at"] or "") >= (values["updated_at"] or ""):
        return  # what we have is as new or newer
    if values["phone"]:
        owner = store.one("SELECT id FROM members WHERE phone = ? AND id <> ?",
                          (values["phone"], values["id"]))
        if owner is not None:
            record_conflict(store, event, f"phone {values['phone']} belongs to member "
                                          f"{owner['id']} here; kept without the phone")
            values["phone"], values["phone_rev"] = None, None
    if local is None:
        _insert(store, "members", values)
    else:
        values.pop("id")
        sets = ", ".join(f"{k} = :{k}" for k in values)
        store.conn.execute(f"UPDATE members SET {sets} WHERE id = :id",
                           {**values, "id": data["id"]})


def chain_settings(store: Store, changes: dict[str, Any]) -> None:
    """HQ's settings for every store: kept in the database (they outlive a restart and a new
    laoke.toml) and applied to the running hub at once."""
    try:
        overlay(store.settings, changes)
    except ConfigError as error:
        raise ValueError(str(error)) from None  # kept as a conflict for a person
    kept = json.loads(store.meta("hq_settings") or "{}")
    kept.update(changes)
    store.set_meta("hq_settings", dumps(kept))


def upsert_campaign(store: Store, data: dict[str, Any]) -> None:
    """A chain-wide campaign from HQ, new or changed; the store keeps its own run times."""
    row = {key: data[key] for key in CAMPAIGN_COLUMNS}
    for key in ("audience", "offer", "channels", "schedule"):
        row[key] = dumps(row[key])
    row["active"] = int(bool(row["active"]))
    sets = ", ".join(f"{k} = excluded.{k}" for k in CAMPAIGN_COLUMNS if k != "id")
    store.conn.execute(
        f"INSERT INTO campaigns ({', '.join(CAMPAIGN_COLUMNS)}) VALUES "
        f"({', '.join(':' + k for k in CAMPAIGN_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET {sets}",
        row)


CAMPAIGN_COLUMNS = ("id", "name", "kind", "audience", "offer", "message_zh", "message_en",
                    "channels", "schedule", "control_pct", "active", "origin", "created_at",
                    "updated_at")


def _ledger(store: Store, table: str, data: dict[str, Any], event: dict[str, Any],
            own: bool = False) -> None:
    if store.one(f"SELECT 1 FROM {table} WHERE id = ?", (data["id"],)) is not None:
        return
    if store.one("SELECT 1 FROM members WHERE id = ?", (data.get("member_id"),)) is None:
        record_conflict(store, event, "ledger entry for a guest this store does not know yet")
        return
    row = dict(data)
    if not own:
        row["order_id"] = None  # orders stay at their store; the entry keeps its meaning
    try:
        _insert(store, table, row)
    except database.IntegrityError as error:
        record_conflict(store, event, f"refused here: {error}")


def apply_page(store: Store, events: list[dict[str, Any]], position: int) -> int:
    """Apply a page of relayed events and remember how far this store has read, together."""
    with store.write():
        for event in events:
            if event.get("store") != store.store_id:
                apply_event(store, event)
        store.set_meta("hq_feed_position", str(position))
    return position


def feed_position(store: Store) -> int:
    return int(store.meta("hq_feed_position") or 0)


def conflicts(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """What could not be applied here, oldest first; with `limit`, only the latest ones."""
    rows = store.conn.execute("SELECT * FROM (SELECT * FROM sync_conflicts ORDER BY id DESC "
                              "LIMIT ?) ORDER BY id", (-1 if limit is None else limit,))
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]
