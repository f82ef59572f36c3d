import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.errors import PhoneInvalid
from hub.domain.phones import mask_phone, normalize_phone, phone_digits_reversed


@pytest.mark.parametrize("text", ["138 0013 8000", "+86 138-0013-8000", "8613800138000",
                                  "13800138000", "008613800138000", "(+86) 138 0013 8000"])
def test_common_forms_are_the_same_guest(text):
    assert normalize_phone(text) == "+8613800138000"


def test_foreign_numbers_keep_their_country():
    assert normalize_phone("+1 650 253 0000") == "+16502530000"


@pytest.mark.parametrize("text", ["", "   ", "12345", "abc", "138001380001234", "+86 12"])
def test_bad_numbers_are_refused(text):
    with pytest.raises(PhoneInvalid):
        normalize_phone(text)


@given(st.text(max_size=30))
def test_any_text_either_normalizes_or_is_refused_cleanly(text):
    try:
        result = normalize_phone(text)
    except PhoneInvalid:
        return
    assert result.startswith("+") and result[1:].isdigit()


def test_masking_for_waiters():
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone(None) is None


def test_reversed_digits_for_tail_search():
    assert phone_digits_reversed("+8613800138000").startswith("0008")
