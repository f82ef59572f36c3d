"""Phone numbers: one canonical E.164 form, whatever way a guest or waiter types them."""

from __future__ import annotations

import phonenumbers

from .errors import PhoneInvalid


def normalize_phone(text: str, region: str = "CN") -> str:
    """E.164 for any common way of writing the number; `region` applies when no +CC is given.

    `138 0013 8000`, `+86 138-0013-8000`, `8613800138000` and `008613800138000` all give
    `+8613800138000`.
    """
    if not isinstance(text, str) or not text.strip():
        raise PhoneInvalid("phone number is empty")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise PhoneInvalid(f"not a phone number: {text!r}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise PhoneInvalid(f"not a valid phone number: {text!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str | None) -> str | None:
    """What a waiter sees: 138****8000 — enough to confirm with the guest, not to copy."""
    if not e164:
        return e164
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if len(national) < 7:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def phone_digits_reversed(e164: str) -> str:
    """Digits backwards, so 'ends with 8000' becomes an index range scan instead of a table scan."""
    return e164.lstrip("+")[::-1]
