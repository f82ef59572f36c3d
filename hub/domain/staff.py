"""Staff and their PINs: hashed with scrypt, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from .errors import InvalidInput, PinInvalid, StaffNotFound
from .ids import new_id
from .store import Store

ROLES = ("owner", "manager", "cashier", "waiter")
# scrypt cost: ~30 ms on a Pi 4, which makes offline guessing of a 6-digit PIN slow.
_N, _R, _P = 2**14, 8, 1


def hash_pin(pin: str) -> str:
    check_pin_format(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt" or not isinstance(pin, str):
        return False
    candidate = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                               p=int(p), dklen=len(digest) // 2)
    return hmac.compare_digest(candidate.hex(), digest)


def check_pin_format(pin: Any) -> str:
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise InvalidInput("a PIN is 4 to 8 digits")
    return pin


def add_staff(store: Store, name: str, role: str, pin: str, actor: str = "system") -> dict:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("staff name is required")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    person = {"id": new_id(), "name": name.strip(), "role": role, "pin_hash": hash_pin(pin),
              "active": 1, "created_at": store.now_iso()}
    with store.write():
        store.db["staff"].insert(person)
        public = {k: v for k, v in person.items() if k != "pin_hash"}
        store.emit("staff.created", public)
        store.audit(actor, "staff.create", person["id"], {"role": role})
    return public


def staff_by_pin(store: Store, pin: str) -> dict[str, Any]:
    """The active staff member with this PIN, or PinInvalid (rate-limiting is the caller's)."""
    check_pin_format(pin)
    for row in store.conn.execute("SELECT * FROM staff WHERE active = 1"):
        if pin_matches(pin, row["pin_hash"]):
            person = dict(row)
            person.pop("pin_hash")
            return person
    raise PinInvalid("wrong PIN")


def get_staff(store: Store, staff_id: str) -> dict[str, Any]:
    row = store.one("SELECT id, name, role, active, created_at FROM staff WHERE id = ?",
                    (staff_id,))
    if row is None:
        raise StaffNotFound(f"no staff member {staff_id!r}")
    return dict(row)
