"""Delivery platforms (美团外卖, 饿了么): their orders land in the store's books like the till's.

An order arrives three ways: pushed by the platform (signed; `receive_meituan`,
`receive_eleme`), or in a file the owner downloads (`import_orders`). Each lands once, keyed by
(platform, platform order id), so a push repeated, a push replayed and the same order imported
again stay one order. The platform's price stands; its lines name dishes by the platform's
names, mapped to the menu's codes through `delivery_dish_map` (a name not mapped yet is kept as
the platform spells it and listed by `unmapped_dishes` for the owner to map). What the platform
kept (commission) and charged (delivery fee) is stored with the order so margins are real.

The guest's phone the platforms hand over is a privacy number (`13812345678_123456`) or masked
(`138****5678`): it is never stored and never joins anyone to a member.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, get_args
from zoneinfo import ZoneInfo

from .checkout import Tender, write_order
from .clock import to_iso
from .codes import ALPHABET, canonical
from .config import OrderFileColumn
from .coupons import Line
from .errors import ClaimTaken, InvalidInput, MemberErased, NotFound, PushRefused
from .ids import new_id
from .members import member_row
from .menu import get_dish
from .money import to_fen
from .store import Row, Store

PLATFORMS = ("meituan", "eleme")
ORDER_ID_LONGEST = 64
DISH_LONGEST = 60
MAX_LINES = 200
MAX_LINE_FEN = 10_000_000
MAX_QTY = 999
# 饿了么's message types (订单消息类型) that end an order: cancelled (被取消, 置为无效, 强制无效,
# 商户同意取消单, 客服仲裁取消有效) and refunded (商户同意退单, 客服仲裁退单有效).
ELEME_NEW = 10
ELEME_CANCELLED = frozenset({14, 15, 17, 23, 25})
ELEME_REFUNDED = frozenset({33, 35})  # a part refund when the message's refundType is "part"
MEITUAN_EVENTS = ("order", "cancel", "refund", "partrefund")
OPEN_UID = re.compile(r"[A-Za-z0-9_=+/.-]{6,64}")  # what a platform's user id looks like
CLAIM_LENGTH = 8  # 40 random bits in Crockford base32: typed by a guest off the bag's slip


@dataclass(frozen=True)
class PlatformLine:
    name: str
    qty: int
    unit_price_fen: int


@dataclass(frozen=True)
class PlatformOrder:
    """One order as the platform gave it, prices in fen."""

    platform: str
    platform_order_id: str
    placed_at: str  # ISO 8601 UTC, the store's format
    lines: Sequence[PlatformLine]
    platform_user_id: str | None = None
    commission_fen: int = 0
    delivery_fee_fen: int = 0
    # the member the platform says ordered (Meituan's brand member card): theirs only if the
    # card joined that member here (platform_members)
    card_member_id: str | None = None


@dataclass(frozen=True)
class Received:
    """What a push did: whether it changed the books, and the order it landed, if new (whose
    slip, with its claim code, goes in the bag)."""

    changed: bool
    order_id: str | None = None


NOTHING = Received(False)


def _landed(store: Store, order: PlatformOrder) -> Received:
    order_id, new = land_order(store, order)
    return Received(True, order_id) if new else NOTHING


class Imported(TypedDict):
    added: int
    unchanged: int  # in the books before, as they are
    ended: int  # cancelled or refunded by this file (new or not)
    refunded: int  # part refunded by this file (what it says was paid back, more than known)


class UnmappedDish(TypedDict):
    platform: str
    name: str
    orders: int


# -- checking what comes in ------------------------------------------------------------------

def _platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    return platform


def _order_id(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) \
        else ""
    if not text or len(text) > ORDER_ID_LONGEST:
        raise InvalidInput(f"platform order id must be 1 to {ORDER_ID_LONGEST} characters")
    return text


def _count(value: Any, what: str, maximum: int, minimum: int = 0) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInput(f"{what} must be a whole number from {minimum} to {maximum}, "
                           f"got {value!r}")
    return int(value)


def _yuan(value: Any, what: str) -> int:
    """A platform's amount in yuan (a JSON number or text: 12.5) to fen; a platform writes
    what it keeps as a negative figure (饿了么's serviceFee), so the sign is dropped."""
    try:
        return abs(to_fen(str(value).lstrip("-"))) if value not in (None, "") else 0
    except ValueError:
        raise InvalidInput(f"{what}: not an amount in yuan: {value!r}") from None


def _moment(value: Any, timezone: str) -> str:
    """ISO 8601 text (a time without an offset is the store's local time) or Unix seconds
    (or milliseconds) to the store's UTC text."""
    try:
        if (isinstance(value, int | float) and not isinstance(value, bool)) or \
                (isinstance(value, str) and value.strip().isdigit()):
            seconds = float(value)
            return to_iso(datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds,
                                                 UTC))
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(f"created_at must be ISO 8601 (2026-05-01T12:30:00+08:00), got "
                           f"{value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return to_iso(moment)


def _line(name: Any, qty: Any, unit_price_fen: int) -> PlatformLine:
    text = str(name or "").strip()
    if not text or len(text) > DISH_LONGEST:
        raise InvalidInput(f"dish name must be 1 to {DISH_LONGEST} characters, got {name!r}")
    return PlatformLine(text, _count(qty, f"{text}: qty", MAX_QTY, 1),
                        _count(unit_price_fen, f"{text}: unit price", MAX_LINE_FEN))


def _dishes(items: list[Any], name: str, qty: str) -> list[tuple[str, int]]:
    """The dishes a platform says it refunded, (name, qty): what the money was for, kept
    for a person to read. An entry that would not make an order's line is passed over,
    since refusing it would refuse the money with it."""
    dishes = []
    for item in items[:MAX_LINES]:
        try:
            line = _line(item.get(name), item.get(qty), 0) if isinstance(item, dict) else None
        except InvalidInput:
            line = None
        if line is not None:
            dishes.append((line.name, line.qty))
    return dishes


def _checked(order: PlatformOrder) -> PlatformOrder:
    _platform(order.platform)
    _order_id(order.platform_order_id)
    if not order.lines or len(order.lines) > MAX_LINES:
        raise InvalidInput(f"order {order.platform_order_id}: 1 to {MAX_LINES} lines")
    _count(order.commission_fen, "platform fee", MAX_LINE_FEN)
    _count(order.delivery_fee_fen, "delivery fee", MAX_LINE_FEN)
    return order


# -- landing and ending ----------------------------------------------------------------------

def land_order(store: Store, order: PlatformOrder) -> tuple[str, bool]:
    """The platform's order in the books, once: (order id, whether it is new). Inside one
    change with its outbox event, so HQ sees it exactly when the store does."""
    _checked(order)
    with store.write():
        done = store.one("SELECT order_id FROM delivery_orders WHERE platform = ? AND "
                         "platform_order_id = ?", (order.platform, order.platform_order_id))
        if done is not None:
            return done["order_id"], False
        codes = dict(store.conn.execute(
            "SELECT m.name, m.code FROM delivery_dish_map m WHERE m.platform = ?",
            (order.platform,)).fetchall())
        names = dict(store.conn.execute("SELECT code, name FROM menu_dishes").fetchall())
        lines = [Line(dish=names[codes[line.name]] if line.name in codes else line.name,
                      qty=line.qty, unit_price_fen=line.unit_price_fen,
                      code=codes.get(line.name)) for line in order.lines]
        total = sum(line.qty * line.unit_price_fen for line in lines)
        order_id = new_id()
        joined = store.scalar("SELECT member_id FROM platform_identities WHERE platform = ? "
                              "AND platform_user_id = ?",
                              (order.platform, order.platform_user_id))
        carded = order.card_member_id is not None and store.one(
            "SELECT 1 FROM platform_phones WHERE platform = ? AND member_id = ? LIMIT 1",
            (order.platform, order.card_member_id)) is not None
        # The member's order from the start when the platform named them through their
        # member card, or its user was joined already (OWNER: the card's, as a claim's, first).
        write_order(store, {
            "id": order_id, "store_id": store.store_id,
            "member_id": order.card_member_id if carded else joined, "visit_id": None,
            "channel": "delivery", "total_fen": total, "discount_fen": 0,
            "idempotency_key": f"delivery:{order.platform}:{order.platform_order_id}",
            "request_hash": "", "created_at": order.placed_at,
        }, lines, [Tender(order.platform, total)])
        row = {"platform": order.platform, "platform_order_id": order.platform_order_id,
               "order_id": order_id, "platform_user_id": order.platform_user_id,
               "member_id": order.card_member_id if carded else None,
               "commission_fen": order.commission_fen,
               "delivery_fee_fen": order.delivery_fee_fen, "placed_at": order.placed_at,
               "claim_code": "".join(secrets.choice(ALPHABET) for _ in range(CLAIM_LENGTH))}
        store.conn.execute(
            "INSERT INTO delivery_orders (platform, platform_order_id, order_id, "
            "platform_user_id, member_id, commission_fen, delivery_fee_fen, placed_at, "
            "claim_code) VALUES (:platform, :platform_order_id, :order_id, :platform_user_id, "
            ":member_id, :commission_fen, :delivery_fee_fen, :placed_at, :claim_code)", row)
        store.emit("delivery.order", row)
    return order_id, True


def _landed_row(store: Store, platform: str, platform_order_id: str) -> Row:
    """The platform's order as it stands here (order_id, state). NotFound when it has not
    landed: what a push says of it is then not taken, so the platform's retry brings it
    again once the order is in."""
    row = store.one("SELECT order_id, state FROM delivery_orders WHERE platform = ? AND "
                    "platform_order_id = ?", (_platform(platform), platform_order_id))
    if row is None:
        raise NotFound(f"{platform} order {platform_order_id} has not landed here yet")
    return row


def end_order(store: Store, platform: str, platform_order_id: str, state: str,
              actor: str = "system") -> bool:
    """The platform cancelled or refunded its order: the order is kept (the books are
    append-only) and marked, so the reports no longer count its takings. Returns whether it
    changed; an order already ended changes nothing. NotFound for an order that has not
    landed: a push is then not taken, so the platform's retry brings it again once the
    order is in."""
    if state not in ("cancelled", "refunded"):
        raise InvalidInput(f"an order ends cancelled or refunded, not {state!r}")
    with store.write():
        row = _landed_row(store, platform, platform_order_id)
        if row["state"] != "placed":
            return False
        now = store.now_iso()
        store.conn.execute("UPDATE delivery_orders SET state = ?, ended_at = ? WHERE "
                           "platform = ? AND platform_order_id = ?",
                           (state, now, platform, platform_order_id))
        store.emit("delivery.ended", {"platform": platform,
                                      "platform_order_id": platform_order_id,
                                      "order_id": row["order_id"], "state": state,
                                      "ended_at": now})
        store.audit(actor, f"delivery.{state}", row["order_id"],
                    {"platform": platform, "platform_order_id": platform_order_id})
    return True


@dataclass(frozen=True)
class PartRefund:
    """What a platform paid back of an order it did not end, by its own id of the refund;
    or, from an order file (`so_far`), all it has paid back of the order by then."""

    platform: str
    platform_order_id: str
    refund_id: str
    amount_fen: int
    dishes: Sequence[tuple[str, int]] = ()  # (the platform's dish name, qty) it names
    so_far: bool = False


# What the books take off an order: each push names one refund and a file the order's total
# so far, and either may come first or not at all, so both are lower bounds of what was
# paid back. The books hold the higher: the pushes' sum, or the latest file's total (never
# past what the order took). Each refund is kept with what it said (`asked_fen`) and what
# it added (`amount_fen`, 0 when the other source had it already).
_BOUNDS = (
    "SELECT o.total_fen - o.discount_fen AS took, COALESCE(SUM(r.amount_fen), 0) AS held, "
    "COALESCE(SUM(CASE WHEN r.refund_id NOT LIKE 'file:%' THEN r.asked_fen END), 0) AS pushed, "
    "COALESCE(MAX(CASE WHEN r.refund_id LIKE 'file:%' THEN r.asked_fen END), 0) AS filed "
    "FROM orders o LEFT JOIN delivery_refunds r ON r.order_id = o.id WHERE o.id = ?")


def refund_part(store: Store, refund: PartRefund, actor: str = "system") -> bool:
    """A part refund comes off the order's takings in every report, once per refund id;
    the order's lines stand (the kitchen made them). Returns whether it took more off
    (_BOUNDS); an order that ended changes nothing. NotFound for an order that has not
    landed: the push is not taken, so the platform's retry brings it again."""
    if not refund.refund_id or len(refund.refund_id) > ORDER_ID_LONGEST:
        raise InvalidInput("a part refund needs the platform's refund id (at most "
                           f"{ORDER_ID_LONGEST} characters)")
    if refund.so_far != refund.refund_id.startswith("file:"):
        raise InvalidInput("an order file's refund is keyed file:TOTAL, and only it")
    with store.write():
        row = _landed_row(store, refund.platform, refund.platform_order_id)
        if row["state"] != "placed" or store.one(
                "SELECT 1 FROM delivery_refunds WHERE platform = ? AND platform_order_id = ? "
                "AND refund_id = ?", (refund.platform, refund.platform_order_id,
                                      refund.refund_id)) is not None:
            return False
        took, held, pushed, filed = (int(v) for v in store.conn.execute(
            _BOUNDS, (row["order_id"],)).fetchone())
        if refund.so_far:
            filed = max(filed, refund.amount_fen)
        else:
            pushed += refund.amount_fen
        amount = max(0, min(max(pushed, filed), took) - held)
        data = {"platform": refund.platform, "refund_id": refund.refund_id,
                "platform_order_id": refund.platform_order_id, "order_id": row["order_id"],
                "amount_fen": amount, "asked_fen": refund.amount_fen,
                "refunded_at": store.now_iso(),
                "dishes": json.dumps([{"dish": d, "qty": q} for d, q in refund.dishes],
                                     ensure_ascii=False)}
        store.conn.execute(
            "INSERT INTO delivery_refunds (platform, refund_id, platform_order_id, order_id, "
            "amount_fen, asked_fen, dishes, refunded_at) VALUES (:platform, :refund_id, "
            ":platform_order_id, :order_id, :amount_fen, :asked_fen, :dishes, :refunded_at)",
            data)
        store.emit("delivery.part_refunded", data)
        store.audit(actor, "delivery.part_refund", row["order_id"],
                    {"platform": refund.platform, "refund_id": refund.refund_id,
                     "amount_fen": amount, "asked_fen": refund.amount_fen})
    return amount > 0


# -- platform guests ------------------------------------------------------------------------

# Whose a platform order is (its delivery_orders row `d`): the guest who claimed it by its
# code, else the member its platform user is joined to, else nobody's.
OWNER = ("COALESCE(d.member_id, (SELECT i.member_id FROM platform_identities i WHERE "
         "i.platform = d.platform AND i.platform_user_id = d.platform_user_id))")


def _relink(store: Store, platform: str, platform_user_id: str | None = None,
            order_id: str | None = None) -> None:
    """After a claim, a join or an unjoin: the member id on the platform's orders of that user
    (or that one order) is whose they are (OWNER), inside the caller's change, with an event
    HQ applies. The orders' own member id is what member_stats, audiences, reports and the
    profile read, so every one of them sees a claimed order the moment it is claimed, and
    no longer the moment a join is undone."""
    moved: dict[str | None, list[str]] = {}
    for row in store.conn.execute(
            f"SELECT d.order_id, {OWNER} FROM delivery_orders d JOIN orders o ON "
            "o.id = d.order_id WHERE d.order_id IN (SELECT order_id FROM delivery_orders WHERE "
            "platform = :platform AND platform_user_id = :user UNION ALL SELECT :order) "
            f"AND o.member_id IS NOT {OWNER} ORDER BY d.order_id",
            {"platform": platform, "user": platform_user_id, "order": order_id}).fetchall():
        moved.setdefault(row[1], []).append(row[0])
    for member_id, orders in moved.items():
        store.conn.executemany("UPDATE orders SET member_id = ? WHERE id = ?",
                               [(member_id, order) for order in orders])
        store.emit("order.member", {"member_id": member_id, "order_ids": orders})


class Claimed(TypedDict):
    platform: str
    platform_order_id: str
    member_id: str


def _joinable(store: Store, member_id: str) -> None:
    if member_row(store, member_id)["erased_at"]:
        raise MemberErased(f"member {member_id} was erased")


def _identity(store: Store, platform: str, platform_user_id: str, member_id: str,
              by: str) -> None:
    store.conn.execute(
        "INSERT INTO platform_identities (platform, platform_user_id, member_id, joined_by, "
        "joined_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, platform_user_id) DO UPDATE "
        "SET member_id = excluded.member_id, joined_by = excluded.joined_by, "
        "joined_at = excluded.joined_at", (platform, platform_user_id, member_id, by,
                                          store.now_iso()))
    store.emit("delivery.joined", {"platform": platform, "platform_user_id": platform_user_id,
                                   "member_id": member_id, "joined_by": by})


def claim(store: Store, code: str, member_id: str, actor: str) -> Claimed:
    """The guest enters the code printed on their bag's slip: the order is theirs, and so is
    the platform user who ordered it (their next orders too), unless a person already joined
    that user to someone else. The same guest entering it again changes nothing; another
    guest is refused, since the code was the first one's."""
    found = canonical(code) if isinstance(code, str) else ""
    with store.write():
        _joinable(store, member_id)
        order = store.one("SELECT * FROM delivery_orders WHERE claim_code = ?", (found,)) \
            if len(found) == CLAIM_LENGTH else None
        if order is None:
            raise NotFound("no delivery order has this claim code")
        claimed = Claimed(platform=order["platform"],
                          platform_order_id=order["platform_order_id"], member_id=member_id)
        if order["member_id"] == member_id:
            return claimed
        if order["member_id"] is not None:
            raise ClaimTaken("this order was claimed by another guest")
        store.conn.execute("UPDATE delivery_orders SET member_id = ? WHERE platform = ? AND "
                           "platform_order_id = ?", (member_id, order["platform"],
                                                    order["platform_order_id"]))
        store.emit("delivery.claimed", dict(claimed))
        user = order["platform_user_id"]
        if user and store.one("SELECT 1 FROM platform_identities WHERE platform = ? AND "
                              "platform_user_id = ?", (order["platform"], user)) is None:
            _identity(store, order["platform"], user, member_id, "claim")
        _relink(store, order["platform"], user, order["order_id"])
        store.audit(actor, "delivery.claim", member_id, dict(claimed))
    return claimed


def join(store: Store, platform: str, platform_user_id: str, member_id: str,
         actor: str) -> None:
    """A person joins a platform user to a member (the guest showed their app, say); audited,
    and undone by `unjoin`. Never a phone: a platform's phone is a privacy number."""
    platform_user_id = _order_id(platform_user_id)  # the same bounds as the platform's ids
    with store.write():
        _platform(platform)
        _joinable(store, member_id)
        _identity(store, platform, platform_user_id, member_id, "staff")
        _relink(store, platform, platform_user_id)
        store.audit(actor, "delivery.join", member_id,
                    {"platform": platform, "platform_user_id": platform_user_id})


def unjoin(store: Store, platform: str, platform_user_id: str, actor: str) -> bool:
    """Undo a join (a person's or a claim's): the platform user is nobody's again; the orders a
    guest claimed by their code stay theirs. Returns whether there was a join to undo."""
    with store.write():
        row = store.one("SELECT member_id FROM platform_identities WHERE platform = ? AND "
                        "platform_user_id = ?", (_platform(platform), platform_user_id))
        if row is None:
            return False
        store.conn.execute("DELETE FROM platform_identities WHERE platform = ? AND "
                           "platform_user_id = ?", (platform, platform_user_id))
        store.emit("delivery.unjoined", {"platform": platform,
                                         "platform_user_id": platform_user_id})
        _relink(store, platform, platform_user_id)
        store.audit(actor, "delivery.unjoin", row["member_id"],
                    {"platform": platform, "platform_user_id": platform_user_id})
    return True


def joinable_orders(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The newest platform orders that are nobody's yet and name their platform user: what a
    person picks from when a guest at the counter shows the order in their app, to join that
    user to them (`join`). No phone or address: what a platform hands over of a guest is
    not shown here."""
    rows = store.conn.execute(
        "SELECT d.platform, d.platform_order_id, d.platform_user_id, d.state, o.created_at, "
        "o.total_fen - o.discount_fen AS paid_fen, (SELECT group_concat(dish || '×' || qty, "
        "'、') FROM (SELECT dish, qty FROM order_lines WHERE order_id = o.id ORDER BY line_no)"
        ") AS dishes FROM delivery_orders d JOIN orders o ON o.id = d.order_id "
        f"WHERE {OWNER} IS NULL AND COALESCE(d.platform_user_id, '') <> '' "
        "ORDER BY d.placed_at DESC LIMIT ?", (max(1, min(limit, 200)),)).fetchall()
    return [dict(row) for row in rows]


def identities_of(store: Store, member_id: str) -> list[dict[str, Any]]:
    """The platform users joined to a member (by a person, a claim or the platform's card),
    for a person to see and undo (`unjoin`)."""
    member_row(store, member_id)  # NotFound for no such member
    return [dict(row) for row in store.conn.execute(
        "SELECT platform, platform_user_id, joined_by, joined_at FROM platform_identities "
        "WHERE member_id = ? ORDER BY joined_at", (member_id,)).fetchall()]


def member_of(store: Store, platform: str, platform_order_id: str) -> str | None:
    """Whose the platform's order is (OWNER)."""
    row = store.one(f"SELECT {OWNER} FROM delivery_orders d WHERE d.platform = ? AND "
                    "d.platform_order_id = ?", (platform, platform_order_id))
    return None if row is None else row[0]


# -- the platforms' dish names ---------------------------------------------------------------

def map_dish(store: Store, platform: str, name: str, code: str, actor: str) -> None:
    """From now on the platform's `name` is the menu's dish `code` (a name maps again to a new
    dish). Orders already in the books keep the lines they landed with."""
    _platform(platform)
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > DISH_LONGEST:
        raise InvalidInput(f"dish name must be 1 to {DISH_LONGEST} characters")
    with store.write():
        get_dish(store, code)
        store.conn.execute(
            "INSERT INTO delivery_dish_map (platform, name, code) VALUES (?, ?, ?) "
            "ON CONFLICT (platform, name) DO UPDATE SET code = excluded.code",
            (platform, name, code))
        store.audit(actor, "delivery.dish_mapped", None,
                    {"platform": platform, "name": name, "code": code})


def unmapped_dishes(store: Store) -> list[UnmappedDish]:
    """The platforms' dish names that landed without a menu code and are not mapped yet, the
    most ordered first: what the owner maps with `laoke delivery map`."""
    return [UnmappedDish(platform=r["platform"], name=r["dish"], orders=r["orders"])
            for r in store.conn.execute(
                "SELECT d.platform, l.dish, COUNT(DISTINCT l.order_id) AS orders "
                "FROM delivery_orders d JOIN order_lines l ON l.order_id = d.order_id "
                "WHERE l.code IS NULL AND NOT EXISTS (SELECT 1 FROM delivery_dish_map m "
                "WHERE m.platform = d.platform AND m.name = l.dish) "
                "GROUP BY d.platform, l.dish ORDER BY orders DESC, d.platform, l.dish")]


# -- files -----------------------------------------------------------------------------------

FILE_COLUMNS: tuple[str, ...] = get_args(OrderFileColumn)
REQUIRED_COLUMNS = ("platform_order_id", "created_at", "dish", "qty")
PRICES = ("unit_price_fen", "unit_price_yuan")
# An order's `status` that says it did not stand, as laoke writes it or as the platforms'
# exports do (订单状态), and how it ended; any other (完成, 已送达, 配送中, a part refunded) leaves
# it standing: only a whole order cancelled or refunded leaves the reports.
ENDED = {"cancelled": "cancelled", "已取消": "cancelled", "取消": "cancelled",
         "订单取消": "cancelled", "无效": "cancelled", "已失效": "cancelled",
         "refunded": "refunded", "已退款": "refunded", "退款成功": "refunded",
         "全额退款": "refunded", "已退单": "refunded", "退单": "refunded"}


def _ended(value: Any) -> str | None:
    """How a row's `status` says its order ended, if it did."""
    return ENDED.get(str(value or "").strip().lower())


def _amount(row: Mapping[str, Any], column: str) -> int | None:
    """A row's amount from its fen column, or its yuan one (a platform's export, mapped);
    None when the row has neither."""
    if row.get(f"{column}_fen") not in (None, ""):
        return _count(row[f"{column}_fen"], f"{column}_fen", MAX_LINE_FEN)
    if row.get(f"{column}_yuan") not in (None, ""):
        fen = _yuan(row[f"{column}_yuan"], f"{column}_yuan")
        return _count(fen, f"{column}_yuan", MAX_LINE_FEN)
    return None


def orders_from_rows(store: Store, platform: str, rows: Sequence[Mapping[str, Any]]
                     ) -> list[tuple[PlatformOrder, str | None, int]]:
    """laoke's generic file (shared/SPEC.md "Delivery platforms"): one row per order line, the
    order's fees on its first row (or on any: they add up), amounts in fen or, from a
    platform's export mapped by `[delivery.columns]`, in yuan; each order with how it ended,
    if its `status` says it did (on any of its rows), and what the platform paid back of it
    (`refunded`, on any of its rows: they add up). A bad row refuses the file, naming the
    row. The `phone` column is read past: a platform's phone is a privacy or masked number."""
    _platform(platform)
    if rows and not any(price in row for price in PRICES for row in rows[:1]):
        raise InvalidInput("the header row has no unit_price_fen (or unit_price_yuan) column")
    grouped: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, 2):  # row 1 is the header
        try:
            key = _order_id(row.get("platform_order_id"))
            order = grouped.setdefault(key, {
                "placed_at": _moment(row.get("created_at"), store.settings.timezone),
                "user": str(row.get("customer_id") or "").strip() or None,
                "fee": 0, "delivery": 0, "refunded": 0, "ended": None, "lines": []})
            order["fee"] += _amount(row, "platform_fee") or 0
            order["delivery"] += _amount(row, "delivery_fee") or 0
            order["refunded"] += _amount(row, "refunded") or 0
            order["ended"] = order["ended"] or _ended(row.get("status"))
            price = _amount(row, "unit_price")
            if price is None:
                raise InvalidInput("the unit price is empty")
            order["lines"].append(_line(row.get("dish"), row.get("qty"), price))
        except InvalidInput as error:
            raise InvalidInput(f"row {number}: {error.message}") from None
    return [(_checked(PlatformOrder(platform, key, o["placed_at"], o["lines"], o["user"],
                                    o["fee"], o["delivery"])), o["ended"], o["refunded"])
            for key, o in grouped.items()]


def import_orders(store: Store, platform: str,
                  rows: Sequence[Mapping[str, Any]]) -> Imported:
    """Every order of the file, in one change: all of them or none, and a file imported again
    (or orders already pushed) changes nothing. An order the file says was cancelled or
    refunded ends (`end_order`), whether it lands now or landed before: for a store without
    the platform's pushes, a later file is how a cancellation reaches the books, and what
    was paid back of an order that stands (`refunded_fen` or `_yuan`)."""
    orders = orders_from_rows(store, platform, rows)
    added = ended = refunded = 0
    with store.write():
        for order, ending, paid_back in orders:
            added += land_order(store, order)[1]
            if ending is not None:
                ended += end_order(store, platform, order.platform_order_id, ending,
                                   actor="cli")
            elif paid_back:  # all it paid back by then, keyed by that total
                refunded += refund_part(store, PartRefund(
                    platform, order.platform_order_id, f"file:{paid_back}", paid_back,
                    so_far=True), actor="cli")
        store.audit("cli", "delivery.import", None, {
            "platform": platform, "added": added, "ended": ended, "refunded": refunded})
    return Imported(added=added, unchanged=len(orders) - added, ended=ended,
                    refunded=refunded)


# -- pushes ----------------------------------------------------------------------------------

def meituan_sig(url: str, params: Mapping[str, str], secret: str) -> str:
    """美团外卖's signature: md5 of the callback URL, `?`, every parameter but `sig` as k=v
    sorted by name and joined by `&`, then the app secret; lower-case hex."""
    query = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig")
    return hashlib.md5(f"{url}?{query}{secret}".encode()).hexdigest()


def eleme_signature(fields: Mapping[str, Any], secret: str) -> str:
    """饿了么's push signature: md5 of every field but `signature` as k=v sorted by name,
    joined with nothing, then the secret; upper-case hex."""
    text = "".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")
    return hashlib.md5(f"{text}{secret}".encode()).hexdigest().upper()


def _accept(store: Store, platform: str, secret: str, given: Any, expected: str,
            signed_at: Any, push_id: str) -> bool:
    """Whether a push is new: its signature must hold and its time be within the window (else
    PushRefused, nothing recorded); one already taken is answered again and changes nothing.
    The caller holds the write lock, so the push and what it records commit together."""
    if not secret or not isinstance(given, str) or \
            not hmac.compare_digest(given.encode(), expected.encode()):
        raise PushRefused(f"{platform}: the signature does not match this store's app secret")
    try:
        seconds = float(signed_at)
    except (TypeError, ValueError):
        raise PushRefused(f"{platform}: the push has no timestamp") from None
    seconds = seconds / 1000 if seconds > 1e11 else seconds
    if not abs(store.now().timestamp() - seconds) <= store.settings.delivery.push_window_s:
        # (written so that a NaN or infinite timestamp is outside the window too)
        raise PushRefused(f"{platform}: the push was signed outside the "
                          f"{store.settings.delivery.push_window_s} s window (a replay?)")
    if not push_id:  # what tells a retry from a new push: without it each is the first's
        raise InvalidInput(f"{platform}: the push has no id (饿了么's requestId)")
    taken = store.conn.execute(
        "INSERT INTO delivery_pushes (platform, push_id, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING", (platform, push_id, store.now_iso())).rowcount
    # What came before twice the window can come again only as a replay the window refuses.
    store.conn.execute("DELETE FROM delivery_pushes WHERE received_at < ?", (to_iso(
        store.now() - timedelta(seconds=2 * store.settings.delivery.push_window_s)),))
    return bool(taken)


def _json(text: Any, what: str) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        raise InvalidInput(f"{what} is not JSON") from None


def meituan_order(store: Store, params: Mapping[str, str]) -> PlatformOrder:
    """美团外卖's new-order push: `detail` (JSON: food_name, quantity, price in yuan),
    `shipping_fee` (yuan), `ctime` (Unix seconds) and `poi_receive_detail` (JSON, fen), whose
    `foodShareFeeChargeByPoi` is the platform's commission; `user_member_info` (JSON) names
    the brand member (`poi_member_id`, the id this store gave the platform's card), and
    `openUid`, when it comes, the platform's user."""
    detail = _json(params.get("detail", ""), "detail")
    receive = _json(params.get("poi_receive_detail") or "{}", "poi_receive_detail")
    member = _json(params.get("user_member_info") or "{}", "user_member_info")
    if not isinstance(detail, list) or not isinstance(receive, dict) or \
            not isinstance(member, dict):
        raise InvalidInput("detail must be a list of dishes, the others JSON objects")
    card_member = str(member.get("poi_member_id") or "").strip() \
        if member.get("is_poi_member") is True else ""
    # Meituan documents no user id on its orders, but lists 开放平台用户id among an order's
    # parts that may be missing, and pushes seen in public code carry `openUid`: taken as the
    # platform user when it comes, so a claim or a join covers that user's later orders. A
    # placeholder ("0", "-1", "null") would make one user of every guest: only an id is.
    open_uid = str(params.get("openUid") or "").strip()
    if not OPEN_UID.fullmatch(open_uid) or not open_uid.strip("0-"):
        open_uid = ""
    lines = [_line(d.get("food_name"), d.get("quantity"), _yuan(d.get("price"), "price"))
             for d in detail if isinstance(d, dict)]
    return _checked(PlatformOrder(
        "meituan", _order_id(params.get("order_id", "")),
        _moment(params.get("ctime", ""), store.settings.timezone), lines,
        open_uid or None,
        _count(receive.get("foodShareFeeChargeByPoi", 0), "commission", MAX_LINE_FEN),
        _yuan(params.get("shipping_fee"), "shipping_fee"), card_member or None))


def meituan_part_refund(params: Mapping[str, str]) -> PartRefund:
    """美团外卖's part refund push (推送部分退款信息): `money`, what it paid back in yuan, and
    `food` (JSON: food_name, count). `refund_id` tells one part refund of an order from the
    next; a push without one is keyed by when the refund was asked (`ctime`), its money and
    dishes, the same in every retry of it."""
    food = _json(params.get("food") or "[]", "food")
    if not isinstance(food, list):
        raise InvalidInput("food must be a list of the dishes refunded")
    order_id = _order_id(params.get("order_id", ""))
    money, dishes = _yuan(params.get("money"), "money"), _dishes(food, "food_name", "count")
    refund_id = str(params.get("refund_id") or "").strip() or (hashlib.sha256(json.dumps(
        [params["ctime"], money, sorted(dishes)], ensure_ascii=False).encode()).hexdigest()[:32]
        if params.get("ctime") else "")
    return PartRefund("meituan", order_id, refund_id, money, dishes)


def receive_meituan(store: Store, url: str, event: str,
                    params: Mapping[str, str]) -> Received:
    """One push from 美团外卖 to `url` (as the platform called it, without the query): a new
    order, a cancellation, a refund of the whole order or a part refund."""
    settings = store.settings.delivery.meituan
    if event not in MEITUAN_EVENTS:
        raise NotFound(f"no Meituan push {event!r}: one of {', '.join(MEITUAN_EVENTS)}")
    expected = meituan_sig(url, params, settings.app_secret)
    with store.write():
        if not _accept(store, "meituan", settings.app_secret, params.get("sig"), expected,
                       params.get("timestamp"), expected):
            return NOTHING
        if event == "order":
            return _landed(store, meituan_order(store, params))
        order_id = _order_id(params.get("order_id", ""))
        if event in ("refund", "partrefund") and params.get("notify_type") != "agree":
            return NOTHING  # asked, rejected or cancelled: only a refund agreed counts
        if event == "partrefund":
            return Received(refund_part(store, meituan_part_refund(params), actor="meituan"))
        return Received(end_order(store, "meituan", order_id,
                                  "cancelled" if event == "cancel" else "refunded",
                                  actor="meituan"))


def eleme_order(store: Store, message: Mapping[str, Any], user_id: Any) -> PlatformOrder:
    """饿了么's order (message type 10): `groups[].items[]` (name, quantity, price in yuan),
    `deliverFee` and `serviceFee` (the platform's commission, negative) in yuan, `createdAt`
    as ISO text, the platform's user id beside the message."""
    lines = [_line(item.get("name"), item.get("quantity"), _yuan(item.get("price"), "price"))
             for group in message.get("groups") or [] if isinstance(group, dict)
             for item in group.get("items") or [] if isinstance(item, dict)]
    user = str(user_id).strip() if user_id not in (None, "", 0) else None
    return _checked(PlatformOrder(
        "eleme", _order_id(message.get("id", "")),
        _moment(message.get("createdAt", ""), store.settings.timezone), lines, user,
        _yuan(message.get("serviceFee"), "serviceFee"),
        _yuan(message.get("deliverFee"), "deliverFee")))


def eleme_part_refund(message: Mapping[str, Any], push_id: str) -> PartRefund:
    """饿了么's refund agreed (33, or 35 by arbitration) with `refundType` "part": `totalPrice`
    in yuan and `goodsList` (name, quantity). Its message names no refund, so the refund is
    keyed by the order and its `updateTime`, else by the push's requestId (which a retry
    keeps)."""
    order_id = _order_id(message.get("orderId", ""))
    moment = message.get("updateTime")
    refund_id = f"{order_id}@{moment}" if isinstance(moment, int | str) and \
        not isinstance(moment, bool) and str(moment).strip() else push_id
    goods = message.get("goodsList") or []
    return PartRefund("eleme", order_id, refund_id, _yuan(message.get("totalPrice"),
                                                          "totalPrice"),
                      _dishes(goods if isinstance(goods, list) else [], "name", "quantity"))


def receive_eleme(store: Store, push: Mapping[str, Any]) -> Received:
    """One push from 饿了么 (`{requestId, type, appId, message, shopId, timestamp, userId,
    signature}`, the message itself JSON text); types other than a new order, a cancellation,
    a refund or a part refund are taken and change nothing."""
    settings = store.settings.delivery.eleme
    expected = eleme_signature(push, settings.app_secret)
    request_id = push.get("requestId")
    push_id = str(request_id).strip() if isinstance(request_id, str | int) and \
        not isinstance(request_id, bool) else ""
    with store.write():
        if not _accept(store, "eleme", settings.app_secret, push.get("signature"), expected,
                       push.get("timestamp"), push_id):
            return NOTHING
        kind = push.get("type")
        message = _json(push.get("message", ""), "message")
        if not isinstance(message, dict):
            raise InvalidInput("message must be a JSON object")
        if kind == ELEME_NEW:
            return _landed(store, eleme_order(store, message, push.get("userId")))
        if kind in ELEME_REFUNDED and message.get("refundType") == "part":
            return Received(refund_part(store, eleme_part_refund(message, push_id),
                                        actor="eleme"))
        if kind in ELEME_CANCELLED or kind in ELEME_REFUNDED:
            return Received(end_order(store, "eleme", _order_id(message.get("orderId", "")),
                                      "cancelled" if kind in ELEME_CANCELLED else "refunded",
                                      actor="eleme"))
        return NOTHING
