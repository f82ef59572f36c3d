"""Rebuilding a store's books from what HQ applied, for a replacement hub.

HQ holds every event the store ever sent, in the store's own order. Replaying them into an
empty database gives back its guests, visits, orders, ledgers, coupons and campaigns with
their original ids; the outbox then carries on numbering from HQ's watermark, so the next
event is the one HQ expects and nothing is doubled or skipped. What never went to HQ does not
come back: paired devices (pair them again), staff PINs (staff get new ones), the print queue.
Recipes, ingredients, suppliers and the stock ledger come back with the rest (`stock.*`).
"""

from __future__ import annotations

import json
from typing import Any

from .boosts import BOX_BOOST_USED
from .errors import InvalidInput
from .mystery import BOX_EVENT
from .offers import INSTALLED
from .replica import WATERMARK_KEY, apply_event, upsert_campaign
from .stock import EVENTS as STOCK_EVENTS
from .stock import apply_event as apply_stock_event
from .store import Store
from .wechat import EVENT as EVENT_WECHAT
from .wechat import restore_follower

ORDER_COLUMNS = (
    "id", "store_id", "member_id", "visit_id", "channel", "total_fen", "combo_discount_fen",
    "tier_discount_fen", "promo_discount_fen", "coupon_discount_fen", "points_discount_fen",
    "discount_fen",
    "stored_value_paid_fen", "points_earned", "points_redeemed", "coupon_code", "tier",
    "staff_id", "idempotency_key", "created_at",
)
VISIT_COLUMNS = ("id", "store_id", "member_id", "table_no", "party_size", "staff_id",
                 "visited_at")
NO_PIN = "restored: set a new PIN"  # matches no PIN (see staff.pin_matches)


def check_empty(store: Store) -> None:
    if store.scalar("SELECT EXISTS (SELECT 1 FROM members UNION ALL SELECT 1 FROM orders "
                    "UNION ALL SELECT 1 FROM outbox)"):
        raise InvalidInput(f"{store.path} already has data; restore only into a new home")


def _row(data: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {key: data.get(key) for key in columns}


def _insert(store: Store, table: str, rows: list[dict[str, Any]]) -> None:
    """INSERT OR IGNORE, in plain SQL: sqlite-utils reads the schema on every call, which
    was half the time of replaying a chain's orders (a restore, HQ's chain books)."""
    for columns in dict.fromkeys(tuple(row) for row in rows):
        store.conn.executemany(
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [tuple(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                   for v in row.values()) for row in rows if tuple(row) == columns])


def restore_event(store: Store, event: dict[str, Any]) -> None:
    """Apply one of the store's own past events, inside the caller's transaction."""
    kind, data = event["type"], event.get("data") or {}
    if kind == "visit.created":
        _insert(store, "visits", [_row(data, VISIT_COLUMNS)])
    elif kind == "order.created":
        order = _row(data, ORDER_COLUMNS)
        order["request_hash"] = ""  # a retried checkout from before the restore cannot match
        for key in ("combo_discount_fen", "tier_discount_fen", "promo_discount_fen",
                    "coupon_discount_fen", "points_discount_fen", "stored_value_paid_fen",
                    "points_earned", "points_redeemed"):
            order[key] = order[key] or 0
        _insert(store, "orders", [order])
        _insert(store, "order_lines",
                [{"order_id": data["id"], **line} for line in data.get("lines", [])])
        _insert(store, "order_tenders",
                [{"order_id": data["id"], **paid} for paid in data.get("tenders", [])])
    elif kind == "delivery.order":  # so the platform's order pushed again stays one order
        store.db.table("delivery_orders").insert(data, ignore=True)
    elif kind == "delivery.ended":
        store.conn.execute("UPDATE delivery_orders SET state = ?, ended_at = ? WHERE "
                           "platform = ? AND platform_order_id = ?",
                           (data["state"], data["ended_at"], data["platform"],
                            data["platform_order_id"]))
    elif kind == BOX_EVENT:
        store.db.table("mystery_boxes").insert(data, ignore=True)
    elif kind == BOX_BOOST_USED:
        store.conn.execute("UPDATE mystery_boxes SET boost_order_id = ? WHERE order_id = ?",
                           (data["boost_order_id"], data["order_id"]))
    elif kind == "delivery.part_refunded":
        store.db.table("delivery_refunds").insert(data, ignore=True)
    elif kind == "delivery.claimed":
        store.conn.execute("UPDATE delivery_orders SET member_id = ? WHERE platform = ? AND "
                           "platform_order_id = ?", (data["member_id"], data["platform"],
                                                    data["platform_order_id"]))
    elif kind == "order.member":  # a platform's orders, claimed or joined (or no more)
        store.conn.executemany("UPDATE orders SET member_id = ? WHERE id = ?",
                               [(data["member_id"], order) for order in data["order_ids"]])
    elif kind == "delivery.joined":
        store.db.table("platform_identities").upsert(
            {**data, "joined_at": event.get("ts") or store.now_iso()},
            pk=("platform", "platform_user_id"))
    elif kind == "delivery.phone_joined" and data["phone_key"] != "erased":
        store.db.table("platform_phones").upsert(
            {**data, "joined_at": event.get("ts") or store.now_iso()},
            pk=("platform", "phone_key"))
    elif kind == "delivery.unjoined":
        store.conn.execute("DELETE FROM platform_identities WHERE platform = ? AND "
                           "platform_user_id = ?", (data["platform"], data["platform_user_id"]))
    elif kind == EVENT_WECHAT:
        restore_follower(store, data)
    elif kind in STOCK_EVENTS:  # the store is the event's, whatever its data says
        apply_stock_event(store, kind, {**data, "store_id": event["store"]})
    elif kind.startswith("group_voucher."):  # each carries the voucher whole, as it is now
        store.db.table("group_vouchers").upsert(data, pk="id")
    elif kind == "staff.created":
        staff = _row(data, ("id", "name", "role", "active", "created_at"))
        store.db.table("staff").insert({**staff, "pin_hash": NO_PIN}, ignore=True)
    elif kind == "campaign.targeted":
        store.db.table("campaign_targets").insert_all(
            [{"campaign_id": data["campaign_id"], **target} for target in data["targets"]],
            ignore=True)
    elif kind == "campaign.used":
        store.db.table("campaign_uses").insert(data, ignore=True)
    elif kind == "campaign.saved":
        upsert_campaign(store, data)
    else:
        apply_event(store, event, own=True)


def restore_page(store: Store, events: list[dict[str, Any]]) -> int:
    """Apply a page of the store's events in seq order; returns the last seq applied."""
    last = 0
    with store.write():
        for event in sorted(events, key=lambda e: e["seq"]):
            if event.get("store") != store.store_id:
                raise InvalidInput(f"event {event.get('id')} belongs to store "
                                   f"{event.get('store')!r}, not {store.store_id!r}")
            restore_event(store, event)
            last = event["seq"]
    return last


def finish(store: Store, applied_seq: int) -> None:
    """Carry on numbering where HQ's watermark says, as if this hub had never gone away."""
    with store.write():
        store.conn.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
        store.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)",
                           (applied_seq,))
        store.set_meta(WATERMARK_KEY, str(applied_seq))
        store.set_meta("builtin_campaigns", "restored")  # they came back with the rest
        store.set_meta(INSTALLED, "restored")
        store.set_meta("restored_from_hq", store.now_iso())
