"""Staff and their PINs: hashed with scrypt, compared in constant time.

A keyed index (HMAC of the PIN with the store's `pin_index_key`) finds the one row a typed
PIN can belong to, so a guess costs one scrypt hash however many staff there are; the scrypt
hash is still what proves the PIN. The key lives in the database beside the hashes: a copied
database lets an attacker test PINs at HMAC speed, which for 4 to 8 digits scrypt alone would
not stop for long either (keeping the database itself safe is data-at-rest encryption).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from typing import Any

from . import database
from .errors import InvalidInput, PinInvalid, StaffNotFound
from .ids import new_id
from .store import Row, Store

ROLES = ("owner", "manager", "cashier", "waiter")
# scrypt cost: ~30 ms on a Pi 4, which makes offline guessing of a 6-digit PIN slow.
_N, _R, _P = 2**14, 8, 1
PIN_INDEX_KEY = "pin_index_key"  # hub_meta: the store's key for the PIN index


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


def add_staff(store: Store, name: str, role: str, pin: str,
              actor: str = "system") -> dict[str, Any]:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("staff name is required")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    staff_id = new_id()
    person = {"id": staff_id, "name": name.strip(), "role": role, "pin_hash": hash_pin(pin),
              "active": 1, "created_at": store.now_iso(), "pin_index": pin_index(store, pin)}
    with store.write():
        if _match_pin(store, pin) is not None:
            raise InvalidInput("another staff member already uses this PIN")
        store.db.table("staff").insert(person)
        public = {k: v for k, v in person.items() if k not in ("pin_hash", "pin_index")}
        store.emit("staff.created", public)
        store.audit(actor, "staff.create", staff_id, {"role": role})
    return public


def set_pin(store: Store, staff_id: str, pin: str, actor: str = "system") -> None:
    """A new PIN for one person (forgotten, or a hub restored from HQ, which keeps no PINs)."""
    pin_hash = hash_pin(pin)
    with store.write():
        if store.one("SELECT 1 FROM staff WHERE id = ?", (staff_id,)) is None:
            raise StaffNotFound(f"no staff member {staff_id!r}")
        other = _match_pin(store, pin)
        if other is not None and other["id"] != staff_id:
            raise InvalidInput("another staff member already uses this PIN")
        store.conn.execute("UPDATE staff SET pin_hash = ?, pin_index = ? WHERE id = ?",
                           (pin_hash, pin_index(store, pin), staff_id))
        store.audit(actor, "staff.set_pin", staff_id)


def pin_index(store: Store, pin: str) -> str:
    """The keyed index of a PIN: which row to check, never proof of the PIN."""
    key = store.meta(PIN_INDEX_KEY)
    if key is None:
        raise RuntimeError("the store has no PIN index key: its schema is not migrated")
    return hmac.new(bytes.fromhex(key), pin.encode(), hashlib.sha256).hexdigest()


def _match_pin(store: Store, pin: str) -> database.Row | None:
    """The active staff member with this PIN: the indexed candidate, else one of the rows
    written before the index (demo data, an older hub), which then gets its index."""
    index = pin_index(store, pin)
    row = store.one("SELECT * FROM staff WHERE active = 1 AND pin_index = ?", (index,))
    if row is not None:
        return row if pin_matches(pin, row["pin_hash"]) else None
    unindexed: list[Row] = store.conn.execute(
        "SELECT * FROM staff WHERE active = 1 AND pin_index IS NULL").fetchall()
    for row in unindexed:
        if pin_matches(pin, row["pin_hash"]):
            with store.write():
                store.conn.execute("UPDATE staff SET pin_index = ? WHERE id = ?",
                                   (index, row["id"]))
            return row
    return None


def _public(row: database.Row) -> dict[str, Any]:
    person = dict(row)
    person.pop("pin_hash")
    person.pop("pin_index", None)
    return person


def staff_by_pin(store: Store, pin: str) -> dict[str, Any]:
    """The active staff member with this PIN, or PinInvalid (rate-limiting is the caller's)."""
    check_pin_format(pin)
    row = _match_pin(store, pin)
    if row is None:
        raise PinInvalid("wrong PIN")
    return _public(row)


class PinCache:
    """Remembers whose PIN was typed, so only its first use pays for scrypt.

    An entry holds the staff id and the exact hash the PIN was checked against; a changed PIN
    or a deactivated person no longer matches, so nothing stale is ever accepted.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._known: dict[bytes, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def staff_for(self, store: Store, pin: str) -> dict[str, Any]:
        check_pin_format(pin)
        tag = hmac.new(self._key, pin.encode(), hashlib.sha256).digest()
        with self._lock:
            hit = self._known.get(tag)
        if hit is not None:
            row = store.one("SELECT * FROM staff WHERE id = ? AND pin_hash = ? AND active = 1",
                            hit)
            if row is not None:
                return _public(row)
        row = _match_pin(store, pin)
        if row is None:
            raise PinInvalid("wrong PIN")
        with self._lock:
            self._known[tag] = (row["id"], row["pin_hash"])
        return _public(row)


def list_staff(store: Store) -> list[dict[str, Any]]:
    return [_public(r) for r in store.conn.execute("SELECT * FROM staff ORDER BY created_at")]


def get_staff(store: Store, staff_id: str) -> dict[str, Any]:
    row = store.one("SELECT id, name, role, active, created_at FROM staff WHERE id = ?",
                    (staff_id,))
    if row is None:
        raise StaffNotFound(f"no staff member {staff_id!r}")
    return dict(row)
