"""Coupon templates, issued coupons with signed codes, and redemption at most once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from . import database
from .clock import to_iso
from .codes import make_signed_code, verify_signed_code
from .errors import (
    CouponExpired,
    CouponForged,
    CouponNotApplicable,
    CouponNotFound,
    CouponsGone,
    CouponUsed,
    InvalidInput,
    NotFound,
)
from .ids import new_id
from .ledgers import MAX_TOPUP_FEN, whole_number
from .members import member_row
from .money import yuan
from .store import Store, dumps

CODE_PURPOSE = "coupon"
KINDS = ("amount_off", "percent_off", "free_dish")
MAX_ISSUED = 10_000_000


@dataclass(frozen=True)
class Line:
    """One line of a bill: what a coupon's conditions are checked against."""

    dish: str
    qty: int
    unit_price_fen: int
    code: str | None = None  # the menu's code, when the hub priced it from the menu


def new_template(name: str, kind: str, now_iso: str, *, amount_fen: int = 0,
                 percent_off: int = 0, dish: str | None = None, min_spend_fen: int = 0,
                 valid_days: int = 30, stores: Sequence[str] | None = None,
                 max_issued: int | None = None, active: bool = True) -> dict[str, Any]:
    """A checked template row, not yet stored: a store writes it, HQ pushes it to every store.
    `max_issued` caps how many coupons it issues (前100名注册送); None: no cap. A template
    switched off may lack its value (an offer installed before the owner sets it), and is
    checked in full when it is switched on."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a coupon template needs a name")
    if kind not in KINDS:
        raise InvalidInput(f"coupon kind must be one of {', '.join(KINDS)}")
    if not active and not (amount_fen or percent_off or dish):
        pass  # installed before the owner set its value: checked when switched on
    elif kind == "amount_off":
        whole_number(amount_fen, "amount_fen", 1, MAX_TOPUP_FEN)
    elif kind == "percent_off":
        whole_number(percent_off, "percent_off", 1, 100)
    elif not isinstance(dish, str) or not dish.strip():
        raise InvalidInput("a free-dish coupon names its dish")
    whole_number(min_spend_fen, "min_spend_fen", 0, MAX_TOPUP_FEN)
    whole_number(valid_days, "valid_days", 1, 3650)
    if max_issued is not None:
        whole_number(max_issued, "max_issued", 1, MAX_ISSUED)
    if stores is not None and (isinstance(stores, str)
                               or not all(isinstance(s, str) for s in stores)):
        raise InvalidInput("stores must be a list of store ids")
    return {
        "id": new_id(), "name": name.strip(), "kind": kind,
        "amount_fen": amount_fen if kind == "amount_off" else 0,
        "percent_off": percent_off if kind == "percent_off" else 0,
        "dish": dish.strip() if kind == "free_dish" and dish else None,
        "min_spend_fen": min_spend_fen, "valid_days": valid_days,
        "stores": None if stores is None else dumps(list(stores)),
        "active": int(bool(active)), "created_at": now_iso, "max_issued": max_issued,
    }


TERMS = ("amount_fen", "percent_off", "dish", "min_spend_fen", "valid_days", "max_issued",
         "active")  # what a template's update may change; its name, kind and id stay


def update_template(store: Store, template_id: str, changes: dict[str, Any], *,
                    actor: str = "system") -> dict[str, Any]:
    """Change a template's value, conditions or on/off, checked as a new one would be; the
    whole template goes to HQ (`coupon_template.updated`), which every store and a restore
    apply. A coupon reads its template's value, so one issued before changes with it:
    change an offer that has issued coupons by making a new template instead."""
    unknown = sorted(set(changes) - set(TERMS))
    if unknown:
        raise InvalidInput(f"a coupon template's {', '.join(unknown)} cannot change; "
                           f"its terms are {', '.join(TERMS)}")
    with store.write():
        current = get_template(store, template_id)
        terms = {key: current[key] for key in TERMS} | changes
        checked = new_template(current["name"], current["kind"], current["created_at"],
                               stores=current["stores"], **terms)
        row = {**checked, "id": template_id}
        store.conn.execute(
            f"UPDATE coupon_templates SET {', '.join(f'{k} = :{k}' for k in TERMS)} "
            "WHERE id = :id", row)
        record = template_record(row)
        store.emit("coupon_template.updated", record)
        store.audit(actor, "coupon_template.update", template_id, {"changed": sorted(changes)})
    return record


def create_template(store: Store, name: str, kind: str, *, actor: str = "system",
                    **terms: Any) -> dict[str, Any]:
    template = new_template(name, kind, store.now_iso(), **terms)
    with store.write():
        store.db.table("coupon_templates").insert(template)
        store.emit("coupon_template.created", template_record(template))
        store.audit(actor, "coupon_template.create", template["id"], {"name": template["name"]})
    return template_record(template)


def offer_value(coupon: dict[str, Any], lang: str = "zh-CN") -> str:
    """What a coupon (or its template) is worth, as a guest reads it: 20.00元, 85折, 赠 甜品."""
    if coupon["kind"] == "amount_off":
        return yuan(coupon["amount_fen"]) if lang == "zh-CN" else \
            f"{yuan(coupon['amount_fen'], ' yuan')} off"
    if coupon["kind"] == "percent_off":
        return f"{(100 - coupon['percent_off']) / 10:g}折" if lang == "zh-CN" else \
            f"{coupon['percent_off']}% off"
    return f"赠 {coupon['dish']}" if lang == "zh-CN" else f"a free {coupon['dish']}"


def offer_conditions(coupon: dict[str, Any], lang: str = "zh-CN") -> str:
    conditions = []
    if coupon["min_spend_fen"]:
        conditions.append(f"满{yuan(coupon['min_spend_fen'])}可用" if lang == "zh-CN" else
                          f"on bills of {yuan(coupon['min_spend_fen'], ' yuan')} or more")
    if coupon["stores"]:
        conditions.append("限指定门店" if lang == "zh-CN" else "at selected stores")
    return ("，" if lang == "zh-CN" else ", ").join(conditions)


def template_record(row: dict[str, Any] | database.Row) -> dict[str, Any]:
    record = dict(row)
    record["stores"] = None if record["stores"] is None else json.loads(record["stores"])
    record["active"] = bool(record["active"])
    return record


def get_template(store: Store, template_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM coupon_templates WHERE id = ?", (template_id,))
    if row is None:
        raise NotFound(f"no coupon template {template_id!r}")
    return template_record(row)


def template_by_name(store: Store, name: str) -> str | None:
    """The newest active template of this name that this store may issue (what the settings
    name a receipt's or a welcome slip's coupon by), or None when the store names none. The
    chain's templates come down the feed, some for other stores only: one of theirs of the
    same name is not this store's to hand out."""
    if not name:
        return None
    found: str | None = store.scalar(
        "SELECT id FROM coupon_templates WHERE name = ? AND active = 1 AND (stores IS NULL OR "
        "EXISTS (SELECT 1 FROM json_each(stores) WHERE value = ?)) "
        "ORDER BY created_at DESC, id DESC LIMIT 1", (name, store.store_id))
    return found


def issue_coupon(store: Store, template_id: str, member_id: str | None = None, *,
                 reason: str | None = None, issued_by: str | None = None) -> dict[str, Any]:
    """A new coupon with a fresh signed code, valid from now for the template's days;
    `issued_by` is the staff member who handed it out, for their performance."""
    with store.write():
        template = get_template(store, template_id)
        if not template["active"]:
            raise InvalidInput(f"coupon template {template['name']!r} is switched off")
        # Counted inside the write (BEGIN IMMEDIATE): no other issue of this store can slip
        # between the count and the insert, so a cap of 100 issues exactly 100.
        if template["max_issued"] is not None and store.scalar(
                "SELECT COUNT(*) FROM coupons WHERE template_id = ?",
                (template_id,)) >= template["max_issued"]:
            raise CouponsGone(f"coupon template {template['name']!r} has issued all "
                              f"{template['max_issued']} it may")
        if member_id is not None:
            member_row(store, member_id)
        now = store.now()
        while True:
            code = make_signed_code(store.settings.chain_key, CODE_PURPOSE)
            if store.one("SELECT 1 FROM coupons WHERE code = ?", (code,)) is None:
                break
        coupon = {
            "code": code, "template_id": template_id, "member_id": member_id,
            "store_id": store.store_id, "issued_at": to_iso(now), "valid_from": to_iso(now),
            "valid_until": to_iso(now + timedelta(days=template["valid_days"])),
            "reason": reason, "issued_by": issued_by,
        }
        store.db.table("coupons").insert(coupon)
        # Other stores get the coupon, not who handed it out: staff are this store's own.
        store.emit("coupon.issued", {k: v for k, v in coupon.items() if k != "issued_by"})
    return coupon_view(store, code)


def issue_while_left(store: Store, template_id: str, member_id: str | None, *,
                     reason: str) -> str | None:
    """The code of a coupon the store hands out by itself (on a receipt, a welcome slip, to a
    campaign's guest), or None once its template's cap is reached: the slip prints without
    it and the offer is over, where a person asking for one is told (CouponsGone)."""
    try:
        return str(issue_coupon(store, template_id, member_id, reason=reason)["code"])
    except CouponsGone:
        return None


def authentic_code(store: Store, code: str) -> str:
    """The canonical code if the chain's key signed it; forged or mistyped codes are refused."""
    if not isinstance(code, str):
        raise InvalidInput("coupon code must be text")
    canonical = verify_signed_code(store.settings.chain_key, CODE_PURPOSE, code)
    if canonical is None:
        raise CouponForged(f"coupon code {code!r} is not one of ours (mistyped or forged)")
    return canonical


def coupon_view(store: Store, code: str) -> dict[str, Any]:
    code = authentic_code(store, code)
    row = store.one(
        "SELECT c.*, t.name, t.kind, t.amount_fen, t.percent_off, t.dish, t.min_spend_fen, "
        "t.stores, r.order_id AS redeemed_order_id, r.redeemed_at, r.store_id AS redeemed_store "
        "FROM coupons c JOIN coupon_templates t ON t.id = c.template_id "
        "LEFT JOIN coupon_redemptions r ON r.code = c.code WHERE c.code = ?", (code,))
    if row is None:
        raise CouponNotFound(f"coupon {code} is genuine but not known here yet (not synced)")
    view = dict(row)
    view["stores"] = None if view["stores"] is None else json.loads(view["stores"])
    view["redeemed"] = view["redeemed_at"] is not None
    return view


def discount_for(coupon: dict[str, Any], lines: Sequence[Line], total_fen: int) -> int:
    if coupon["kind"] == "amount_off":
        return min(int(coupon["amount_fen"]), total_fen)
    if coupon["kind"] == "percent_off":
        return total_fen * int(coupon["percent_off"]) // 100
    prices = [line.unit_price_fen for line in lines if line.dish == coupon["dish"]]
    if not prices:
        raise CouponNotApplicable(f"this coupon is for a free {coupon['dish']}, "
                                  "which is not on the bill")
    return min(max(prices), total_fen)


def check_coupon(store: Store, code: str, member_id: str | None, lines: Sequence[Line],
                 total_fen: int) -> tuple[dict[str, Any], int]:
    """The coupon and the discount it gives on this bill, or the reason it cannot be used."""
    coupon = coupon_view(store, code)
    if coupon["redeemed"]:
        raise CouponUsed(f"coupon {coupon['code']} was already used on {coupon['redeemed_at']}")
    now = store.now_iso()
    if not coupon["valid_from"] <= now < coupon["valid_until"]:
        raise CouponExpired(f"coupon {coupon['code']} is valid {coupon['valid_from'][:10]} to "
                            f"{coupon['valid_until'][:10]}")
    if coupon["stores"] is not None and store.store_id not in coupon["stores"]:
        raise CouponNotApplicable("this coupon is not valid at this store")
    if coupon["member_id"] is not None and coupon["member_id"] != member_id:
        raise CouponNotApplicable("this coupon belongs to another guest")
    if total_fen < coupon["min_spend_fen"]:
        raise CouponNotApplicable(
            f"this coupon needs a bill of at least {yuan(coupon['min_spend_fen'], ' 元')}")
    return coupon, discount_for(coupon, lines, total_fen)


def record_redemption(store: Store, code: str, *, order_id: str | None, member_id: str | None,
                      discount_fen: int) -> None:
    """Mark the coupon used; the primary key makes a second redemption impossible."""
    entry = {"code": code, "order_id": order_id, "member_id": member_id,
             "store_id": store.store_id, "discount_fen": discount_fen,
             "redeemed_at": store.now_iso()}
    try:
        store.db.table("coupon_redemptions").insert(entry)
    except database.IntegrityError:
        raise CouponUsed(f"coupon {code} was already used") from None
    store.emit("coupon.redeemed", entry)


def redeem_coupon(store: Store, code: str, member_id: str | None, lines: Sequence[Line],
                  order_id: str | None = None) -> int:
    """Check and use a coupon outside a checkout (e.g. a voucher for a free dish)."""
    total = sum(line.qty * line.unit_price_fen for line in lines)
    with store.write():
        coupon, discount = check_coupon(store, code, member_id, lines, total)
        record_redemption(store, coupon["code"], order_id=order_id, member_id=member_id,
                          discount_fen=discount)
    return discount


def member_coupons(store: Store, member_id: str,
                   usable_only: bool = False) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT c.code FROM coupons c LEFT JOIN coupon_redemptions r ON r.code = c.code "
        "WHERE c.member_id = ? AND (? = 0 OR (r.code IS NULL AND c.valid_until > ?)) "
        "ORDER BY c.valid_until", (member_id, int(usable_only), store.now_iso()))
    return [coupon_view(store, r[0]) for r in rows]
