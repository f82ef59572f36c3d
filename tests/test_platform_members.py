"""A platform guest's own phone, handed over with consent through Meituan's brand member card
(品牌会员卡): keyed by a hash, joined to the member with that phone, their next orders theirs;
privacy and masked numbers never join anyone; erasure takes the join and its key. (Over HTTPS:
tests/test_delivery.py, on its hub.)"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hub.domain.delivery import receive_meituan
from hub.domain.errors import PhoneInvalid, PushRefused
from hub.domain.members import erase_member, redacted_data
from hub.domain.phones import real_phone
from hub.domain.platform_members import receive_meituan_card
from tests.support.platforms import Meituan

SECRET = "mt-secret-2"
BASE = "https://shop.example/api/v1/delivery/meituan"
PHONE, E164 = "13800138000", "+8613800138000"  # the conftest guest's


@pytest.fixture
def meituan(settings, clock):
    settings.delivery.meituan.app_secret = SECRET
    platform = Meituan("unused", "app-1", SECRET)
    now = int(clock().timestamp())

    def call(store, action, mobile, **more):
        url = f"{BASE}/member/{action}"
        return receive_meituan_card(store, url, action, platform.signed(
            url, {"mobile": mobile, **more}, timestamp=now))

    call.platform, call.now = platform, now  # type: ignore[attr-defined]
    return call


def kept(store):
    """Every row the platform's call could have left a phone in (the member's own sign-up
    aside): the joins, the events, the audit, the pushes."""
    return " ".join(str(tuple(r)) for table in (
        "platform_phones", "outbox WHERE type != 'member.created'", "audit_log",
        "delivery_pushes", "delivery_orders") for r in store.conn.execute(
            f"SELECT * FROM {table}"))


@pytest.mark.parametrize("number", ["13800138000_1234", "13800138000,1234", "138****8000",
                                    "13800138000#12", "13800138000 ext 12", "010 6552 9988"])
def test_a_privacy_masked_or_fixed_number_is_not_the_guests_phone(number):
    with pytest.raises(PhoneInvalid):
        real_phone(number)
    assert real_phone("+86 138-0013-8000") == E164


def test_the_card_joins_the_member_with_that_phone_by_a_keyed_hash(store, guest, meituan):
    answer = meituan(store, "query", PHONE)
    assert answer == {"is_poi_member": True, "poi_member_id": guest["id"], "card_code": "",
                      "level_code": "member"}
    [join] = store.conn.execute("SELECT platform, phone_key, member_id, opened FROM "
                                "platform_phones").fetchall()
    key = hmac.new(store.settings.chain_key, f"platform-phone:{E164}".encode(),
                   hashlib.sha256).hexdigest()
    assert tuple(join) == ("meituan", key, guest["id"], 0)
    joins = [json.loads(r[0]) for r in store.conn.execute(
        "SELECT data FROM outbox WHERE type = 'delivery.phone_joined'")]
    assert joins == [{"platform": "meituan", "phone_key": key, "member_id": guest["id"],
                      "opened": False}]
    assert "0013" not in kept(store).replace(key, ""), "the join is keyed by the hash alone"
    assert meituan(store, "open", PHONE) == answer, "opening the card of a member joins again"
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.phone_joined'") == 1


def test_a_call_taken_already_is_answered_again_and_changes_nothing(store, guest, meituan):
    url = f"{BASE}/member/query"
    call = meituan.platform.signed(url, {"mobile": PHONE}, timestamp=meituan.now)
    first = receive_meituan_card(store, url, "query", call)
    before = store.scalar("SELECT COUNT(*) FROM outbox")
    assert receive_meituan_card(store, url, "query", call) == first
    assert store.scalar("SELECT COUNT(*) FROM outbox") == before


def test_a_forged_stale_or_privacy_number_call_records_nothing(store, guest, meituan):
    url = f"{BASE}/member/query"
    for call in (meituan.platform.signed(url, {"mobile": PHONE}, secret="guessed",
                                         timestamp=meituan.now),
                 meituan.platform.signed(url, {"mobile": PHONE}, timestamp=meituan.now - 3600),
                 {**meituan.platform.signed(url, {"mobile": "13900139000"},
                                            timestamp=meituan.now), "mobile": PHONE}):
        with pytest.raises(PushRefused):
            receive_meituan_card(store, url, "query", call)
    for number in ("13800138000_1234", "138****8000"):
        with pytest.raises(PhoneInvalid):
            meituan(store, "query", number)
    assert store.scalar("SELECT COUNT(*) FROM platform_phones") == 0
    assert store.scalar("SELECT COUNT(*) FROM delivery_pushes") == 0, "not even the push"


def test_a_card_opens_a_new_guest_only_when_the_store_allows_it(store, settings, meituan):
    assert meituan(store, "open", "13900139000", name="李雷")["is_poi_member"] is False
    assert store.scalar("SELECT COUNT(*) FROM members") == 0
    assert store.scalar("SELECT COUNT(*) FROM platform_phones") == 0, "nothing kept of them"
    settings.delivery.meituan.open_cards = True
    answer = meituan(store, "open", "13900139001", name="韩梅梅")
    member = store.one("SELECT * FROM members WHERE id = ?", (answer["poi_member_id"],))
    assert (member["name"], member["phone"], member["marketing_consent"],
            member["consent_version"]) == ("韩梅梅", "+8613900139001", 0, "meituan-card:2026-11")
    assert store.scalar("SELECT opened FROM platform_phones") == 1
    assert meituan(store, "query", "13900139002")["is_poi_member"] is False, \
        "a query never signs anyone up"


def test_the_orders_the_card_member_places_are_theirs_and_no_one_elses(store, guest, meituan):
    url = f"{BASE}/order"

    def order(order_id, member_id, **more):
        fields = {**Meituan.order(order_id, [("米饭", 1, "3")]), **more,
                  "user_member_info": json.dumps({"is_poi_member": True, "card_code": "",
                                                  "level_code": "", "poi_member_id": member_id})}
        receive_meituan(store, url, "order", meituan.platform.signed(url, fields,
                                                                     timestamp=meituan.now))
        return store.scalar("SELECT member_id FROM delivery_orders WHERE platform_order_id = ?",
                            (order_id,))

    assert order("MT-1", guest["id"]) is None, "the platform never joined them by the card"
    assert order("MT-2", None, recipient_phone=PHONE) is None, \
        "a bare phone on an order is never trusted: a relay's number looks like anyone's"
    meituan(store, "query", PHONE)
    assert order("MT-3", guest["id"]) == guest["id"]
    from hub.domain.profiles import member_profile

    mix = member_profile(store, guest["id"])["channel_mix"]
    assert {"channel": "delivery", "platform": "meituan", "orders": 1} in mix


def test_erasure_takes_the_join_and_its_key_here_and_in_events(store, guest, meituan):
    meituan(store, "query", PHONE)
    key = store.scalar("SELECT phone_key FROM platform_phones")
    erase_member(store, guest["id"], actor="owner")
    assert store.scalar("SELECT COUNT(*) FROM platform_phones") == 0
    assert key not in " ".join(r[0] for r in store.conn.execute("SELECT data FROM outbox"))
    assert redacted_data("delivery.phone_joined", {"phone_key": key, "member_id": "m"}) == \
        {"phone_key": "erased", "member_id": "m"}, "HQ's history on PostgreSQL alike"
    assert meituan(store, "query", PHONE)["is_poi_member"] is False


def test_a_hub_restored_from_hq_knows_its_card_members(store, guest, meituan, tmp_path,
                                                       settings, clock):
    from tests.support.replay import replayed

    meituan(store, "query", PHONE)
    with replayed(store, tmp_path / "restored.db", settings, clock) as restored:
        assert restored.one("SELECT member_id FROM platform_phones")[0] == guest["id"]
