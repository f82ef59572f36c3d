"""Devices and what each role may do: pairing codes, bearer tokens, revocation.

A token is shown once and stored only as its SHA-256, so a copied database grants nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from .clock import to_iso
from .errors import InvalidInput, NotFound, Refused
from .ids import new_id
from .store import Store

ROLES = ("owner", "manager", "cashier", "waiter", "kiosk")
PAIRING_TTL = timedelta(minutes=10)
LAST_SEEN_EVERY = timedelta(minutes=1)

_WAITER = frozenset({
    "member.read", "member.create", "member.update", "checkin.create", "coupon.validate",
    "events.read", "print.kitchen", "qr.render", "menu.read", "menu.sold_out", "table.read",
    "order.add", "shift.open", "feedback.create", "delivery.claim", "wechat.follow",
})
_CASHIER = _WAITER | {
    "member.read_unmasked", "member.write_contact", "member.write_account", "checkout.create",
    "stored_value.topup", "coupon.redeem", "coupon.issue", "card.link", "card.block",
    "print.receipt", "segment.read",
}
_MANAGER = _CASHIER | {
    "points.adjust", "stored_value.refund", "stored_value.bonus", "coupon_template.manage",
    "campaign.manage",
    "tier.manage", "device.manage", "export", "staff.read", "report.read", "menu.manage",
    "table.manage", "sync.read", "calls.manage", "voucher.reverse", "stock.read",
    "stock.manage", "delivery.join",
}
_OWNER = _MANAGER | {"member.erase", "staff.manage", "audit.read", "settings.manage"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(_OWNER),
    "manager": frozenset(_MANAGER),
    "cashier": frozenset(_CASHIER),
    "waiter": _WAITER,
    # the signup kiosk, and the guest's display at the till (a guest-facing screen)
    "kiosk": frozenset({"member.create", "qr.render", "display.read", "delivery.claim",
                        "wechat.follow"}),
}


# Member fields that need more than member.create / member.update to write. A guest at the
# kiosk and a waiter give taste notes, allergies and (signing up) their own consent; only the
# till links cards, marks VIPs, tags and credits referrals, or changes a guest's phone, e-mail
# or consent afterwards.
MEMBER_FIELDS_ON_CREATE = {"card": "member.write_account", "vip": "member.write_account",
                           "tags": "member.write_account", "referred_by": "member.write_account"}
MEMBER_FIELDS_ON_UPDATE = {**MEMBER_FIELDS_ON_CREATE, "phone": "member.write_contact",
                           "email": "member.write_contact",
                           "marketing_consent": "member.write_contact"}


def fields_refused(role: str, fields: set[str], rules: dict[str, str]) -> list[str]:
    """Which of `fields` this role may not write under `rules`, sorted."""
    return sorted(f for f in fields if f in rules and not may(role, rules[f]))


def may(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return role


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
        raise InvalidInput("a device needs a name of 1 to 60 characters")
    return name.strip()


def _new_token(store: Store, device_id: str) -> str:
    token = "lk_" + secrets.token_urlsafe(32)
    store.conn.execute("INSERT INTO device_tokens (token_hash, device_id, created_at) "
                       "VALUES (?, ?, ?)", (_hash(token), device_id, store.now_iso()))
    return token


def add_device(store: Store, name: str, role: str, actor: str) -> tuple[dict[str, Any], str]:
    """Register a device; returns it and its bearer token (shown this once only)."""
    device_id = new_id()
    device = {"id": device_id, "name": _check_name(name), "role": _check_role(role),
              "created_at": store.now_iso(), "revoked_at": None, "last_seen_at": None}
    with store.write():
        store.conn.execute("INSERT INTO devices (id, name, role, created_at) VALUES "
                           "(:id, :name, :role, :created_at)", device)
        token = _new_token(store, device_id)
        store.audit(actor, "device.add", device_id, {"name": device["name"], "role": role})
    return device, token


def create_pairing_code(store: Store, role: str, actor: str,
                        device_id: str | None = None) -> dict[str, Any]:
    """A six-digit code a new tablet types in (or opens as a link) within ten minutes.

    Never for the owner role: an owner device is added at the hub's shell or by another owner,
    with its token, so no six digits on the LAN can ever become an owner.
    """
    if _check_role(role) == "owner":
        raise InvalidInput("no pairing code for an owner device: add it with its token")
    now = store.now()
    with store.write():
        if device_id is not None:
            get_device(store, device_id)
        while True:
            code = f"{secrets.randbelow(10**6):06d}"
            if store.one("SELECT 1 FROM pairing_codes WHERE code = ?", (code,)) is None:
                break
        row = {"code": code, "role": role, "device_id": device_id, "created_by": actor,
               "created_at": to_iso(now), "expires_at": to_iso(now + PAIRING_TTL)}
        store.conn.execute(
            "INSERT INTO pairing_codes (code, role, device_id, created_by, created_at, "
            "expires_at) VALUES (:code, :role, :device_id, :created_by, :created_at, "
            ":expires_at)", row)
        store.audit(actor, "device.pairing_code", device_id, {"role": role})
    return row


def pair(store: Store, code: str, name: str | None = None) -> tuple[dict[str, Any], str]:
    """Trade a pairing code (once) for a device and its token."""
    if not isinstance(code, str) or not code.strip().isdigit():
        raise InvalidInput("a pairing code is six digits")
    with store.write():
        row = store.one("SELECT * FROM pairing_codes WHERE code = ?", (code.strip(),))
        if row is None or row["used_at"] or row["expires_at"] <= store.now_iso():
            raise Refused("this pairing code is unknown, used or expired; ask for a new one")
        store.conn.execute("UPDATE pairing_codes SET used_at = ? WHERE code = ?",
                           (store.now_iso(), row["code"]))
        if row["device_id"] is not None:
            device = get_device(store, row["device_id"])
            if device["revoked_at"]:
                raise Refused("this device was revoked")
        else:
            device = {"id": new_id(), "name": _check_name(name or f"{row['role']} tablet"),
                      "role": row["role"], "created_at": store.now_iso(), "revoked_at": None,
                      "last_seen_at": None}
            store.conn.execute("INSERT INTO devices (id, name, role, created_at) VALUES "
                               "(:id, :name, :role, :created_at)", device)
        token = _new_token(store, device["id"])
        store.audit(f"device:{device['id']}", "device.pair", device["id"],
                    {"name": device["name"], "role": device["role"]})
    return device, token


def device_for_token(store: Store, token: str) -> dict[str, Any] | None:
    """The live device holding this token; None for unknown or revoked ones."""
    row = store.one(
        "SELECT d.* FROM device_tokens t JOIN devices d ON d.id = t.device_id "
        "WHERE t.token_hash = ? AND d.revoked_at IS NULL", (_hash(token),))
    if row is None:
        return None
    device = dict(row)
    now = store.now()
    if device["last_seen_at"] is None or device["last_seen_at"] < to_iso(now - LAST_SEEN_EVERY):
        with store.write():
            store.conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?",
                               (to_iso(now), device["id"]))
    return device


def get_device(store: Store, device_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM devices WHERE id = ?", (device_id,))
    if row is None:
        raise NotFound(f"no device {device_id!r}")
    return dict(row)


def list_devices(store: Store) -> list[dict[str, Any]]:
    return [dict(r) for r in store.conn.execute("SELECT * FROM devices ORDER BY created_at")]


def revoke_device(store: Store, device_id: str, actor: str) -> dict[str, Any]:
    with store.write():
        device = get_device(store, device_id)
        if device["revoked_at"] is None:
            store.conn.execute("UPDATE devices SET revoked_at = ? WHERE id = ?",
                               (store.now_iso(), device_id))
            store.audit(actor, "device.revoke", device_id, {"name": device["name"]})
        return get_device(store, device_id)
