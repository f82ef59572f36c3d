"""Short printable codes that carry an HMAC, so any hub can tell a real one offline.

Crockford base32 keeps codes readable aloud and forgiving of O/0 and I/1 mix-ups at the till.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(ALPHABET)} | {"O": 0, "I": 1, "L": 1}


def b32encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def canonical(code: str) -> str:
    """Upper case, separators dropped, look-alike letters mapped; '' when not base32 at all."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -_")
    if not cleaned or any(ch not in _DECODE for ch in cleaned):
        return ""
    return "".join(ALPHABET[_DECODE[ch]] for ch in cleaned)


def _signature(key: bytes, purpose: str, serial: str, length: int) -> str:
    digest = hmac.new(key, f"{purpose}:{serial}".encode(), hashlib.sha256).digest()
    return b32encode(int.from_bytes(digest[:8], "big"), length)


def make_signed_code(key: bytes, purpose: str, serial_len: int = 10, sig_len: int = 8) -> str:
    """A fresh random serial followed by its signature (50 + 40 bits by default)."""
    serial = b32encode(secrets.randbits(5 * serial_len), serial_len)
    return serial + _signature(key, purpose, serial, sig_len)


def verify_signed_code(key: bytes, purpose: str, code: str, serial_len: int = 10,
                       sig_len: int = 8) -> str | None:
    """The canonical code when its signature is right, None when it is malformed or forged."""
    text = canonical(code)
    if len(text) != serial_len + sig_len:
        return None
    serial, sig = text[:serial_len], text[serial_len:]
    if not hmac.compare_digest(sig, _signature(key, purpose, serial, sig_len)):
        return None
    return text


def id_signature(key: bytes, purpose: str, subject: str) -> str:
    """The signature a guest's link carries for one id (an unsubscribe, a receipt's
    feedback form): 80 bits of an HMAC with the chain's key, in hex for URLs."""
    return hmac.new(key, f"{purpose}:{subject}".encode(), hashlib.sha256).hexdigest()[:20]


def id_signed(key: bytes, purpose: str, subject: str, signature: str) -> bool:
    """Whether a link's signature is the one for `subject`; anything else a stranger typed
    (empty, too long, not ASCII) is simply not it."""
    if not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(signature, id_signature(key, purpose, subject))


def group(code: str, size: int = 6) -> str:
    """XXXXXX-XXXXXX-XXXXXX for paper and screens."""
    return "-".join(code[i:i + size] for i in range(0, len(code), size))
