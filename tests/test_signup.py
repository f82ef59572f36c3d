"""The kiosk's sign-up levers in the store's books: the welcome offer and the tiers as the door
words them, and the inviter by phone (the page itself: tests/test_web_pages.py)."""

from __future__ import annotations

import pytest

from hub.domain.coupons import create_template
from hub.domain.errors import PhoneInvalid
from hub.domain.members import erase_member
from hub.domain.signup import inviter, signup_offers


def test_the_offers_are_worded_once_for_both_languages(store):
    assert signup_offers(store)["welcome"] is None, "no welcome template named: no offer"
    create_template(store, "新客券", "amount_off", amount_fen=3000, min_spend_fen=10000)
    store.settings.printing.welcome_coupon_template = "新客券"
    offers = signup_offers(store)
    assert offers["welcome"]["headline"] == {
        "zh": "注册就送30.00元券（满100.00元可用）",
        "en": "Join now and get 30.00 yuan off (on bills of 100.00 yuan or more)"}
    gold = next(t for t in offers["tiers"] if t["code"] == "gold")
    assert gold["perks"] == {"zh": "消费满5000.00元 · 每消费1元积1.5分 · 9.5折",
                             "en": "from 5000.00 yuan spent · 1.5 points per yuan · 5% off"}
    assert offers["tiers"][0]["perks"]["zh"].startswith("注册即是")


def test_the_inviter_is_a_member_by_phone_or_nobody(store, guest):
    assert inviter(store, "+86 138-0013-8000") == guest["id"]
    assert inviter(store, "139 0000 0000") is None
    with pytest.raises(PhoneInvalid):
        inviter(store, "12")
    erase_member(store, guest["id"], "owner")
    assert inviter(store, "138 0013 8000") is None, "an erased guest invites nobody"
