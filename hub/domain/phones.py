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


PRIVACY_MARKS = frozenset("*_,;#")  # a mask (138****5678) or an extension (…_1234, …,1234)


def real_phone(text: str, region: str = "CN") -> str:
    """A guest's own mobile number as a delivery platform handed it over, in E.164; a masked
    number or a privacy number (a relay's number with the guest's extension) is refused, since
    it is not theirs. phonenumbers would read `13812345678,1234` as the relay's number with an
    extension, which would join every guest of that relay to one member."""
    if not isinstance(text, str) or PRIVACY_MARKS & set(text):
        raise PhoneInvalid("a masked or privacy number is not the guest's phone")
    e164 = normalize_phone(text, region)
    parsed = phonenumbers.parse(text, region)
    if parsed.extension or phonenumbers.number_type(parsed) not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise PhoneInvalid("not a guest's own mobile number (an extension, or not a mobile)")
    return e164
