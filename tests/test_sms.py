"""Campaign texts through Alibaba Cloud and Tencent Cloud SMS, against local stand-ins that
check each request's signature: the text a guest receives is the approved template with the
right parameters, failures are retried and nothing is sent twice, receipts settle each
message, a reply withdraws consent, and the carriers' window holds texts."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hub.domain.campaigns import create_campaign, run_campaign
from hub.domain.config import SmsTemplate
from hub.domain.coupons import create_template
from hub.domain.errors import InvalidInput
from hub.domain.members import NewMember, add_member, erase_member, get_member
from hub.domain.outreach import awaiting_receipt, list_messages, recover
from hub.messaging import channels_from
from hub.scheduler import CampaignScheduler
from hub.sms import aliyun_pushed, tencent_pushed
from tests.support.sms import AliyunStandin, TencentStandin

CHINA = ZoneInfo("Asia/Shanghai")
# laoke's wording of the approved template; each provider holds it in its own syntax.
WORDING = "{name}您好，{store}送您{offer}，券码{code}，{until}前有效。回T退订"
ALIYUN_TEMPLATE = "${name}您好，${store}送您${offer}，券码${code}，${until}前有效。回T退订"
TENCENT_WORDING = "{name}您好，{store}送您{offer}，券码{code}，{until}前有效。拒收请回复R"
TENCENT_TEMPLATE = "{1}您好，{2}送您{3}，券码{4}，{5}前有效。拒收请回复R"


@pytest.fixture
def morning(clock):
    """10:00 today in Beijing: inside the carriers' window, and the providers' dates (which
    follow the real day) match the store's."""
    clock.current = datetime.combine(datetime.now(CHINA).date(), time(10), CHINA)
    return clock


@pytest.fixture
def aliyun(store, morning):
    standin = AliyunStandin("LTAI-test", "aliyun-secret", "老客小馆",
                            {"SMS_465000001": ALIYUN_TEMPLATE})
    sms = store.settings.messaging.sms
    sms.provider, sms.endpoint = "aliyun", standin.url
    sms.access_key_id, sms.access_key_secret, sms.sign_name = "LTAI-test", "aliyun-secret", \
        "老客小馆"
    sms.templates = [SmsTemplate(code="SMS_465000001", text=WORDING)]
    store.settings.messaging.timeout_s = 0.5
    yield standin
    standin.close()


@pytest.fixture
def tencent(store, morning):
    standin = TencentStandin("AKID-test", "tencent-secret", "1400000001", "老客小馆",
                             {"2100001": TENCENT_TEMPLATE})
    sms = store.settings.messaging.sms
    sms.provider, sms.endpoint, sms.sdk_app_id = "tencent", standin.url, "1400000001"
    sms.access_key_id, sms.access_key_secret, sms.sign_name = "AKID-test", "tencent-secret", \
        "老客小馆"
    sms.templates = [SmsTemplate(code="2100001", text=TENCENT_WORDING)]
    store.settings.messaging.timeout_s = 0.5
    yield standin
    standin.close()


def guests(store, n=2):
    return [add_member(store, NewMember(name=name, phone=phone, marketing_consent=True))
            for name, phone in [("王芳", "13800138000"), ("李雷", "13900139000"),
                                ("韩梅", "13700137000")][:n]]


def text_campaign(store, wording, **extra):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000, valid_days=30)
    return create_campaign(store, {
        "name": "欢迎回来", "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]}, "message_zh": wording,
        "channels": ["sms"], "schedule": {"run": "once"}, "active": True, **extra})


def scheduler_for(store):
    return CampaignScheduler(lambda: store, channels_from(store.settings.messaging))


def messages_of(store, campaign_id):
    return {m["member_id"]: m for m in list_messages(store, campaign_id)}


def expected_params(store, member_id):
    coupon = store.one("SELECT code, valid_until FROM coupons WHERE member_id = ?", (member_id,))
    until = datetime.fromisoformat(coupon["valid_until"]).astimezone(CHINA).strftime("%Y-%m-%d")
    name = store.scalar("SELECT name FROM members WHERE id = ?", (member_id,))
    return {"name": name, "store": "老客小馆", "offer": "20.00元", "code": coupon["code"],
            "until": until}


def test_aliyun_texts_are_the_approved_template_and_receipts_settle_them(store, aliyun):
    a, b = guests(store)
    made = text_campaign(store, WORDING)
    scheduler = scheduler_for(store)
    scheduler.tick()
    assert aliyun.requests.count("SendSms") == 2
    sent = {t["PhoneNum"]: t for t in aliyun.texts}
    assert set(sent) == {"13800138000", "13900139000"}
    messages = messages_of(store, made["id"])
    for guest, phone in ((a, "13800138000"), (b, "13900139000")):
        message, text = messages[guest["id"]], sent[phone]
        assert text["TemplateCode"] == "SMS_465000001"
        assert text["params"] == expected_params(store, guest["id"])
        assert text["OutId"] == message["id"]
        assert message["body"] == text["Content"], "laoke shows what the phone shows"
        assert message["status"] == "sent" and message["provider_ref"] == text["BizId"]
    assert messages[a["id"]]["body"].startswith("【老客小馆】王芳您好，老客小馆送您20.00元")
    assert messages[a["id"]]["body"].endswith("前有效。回T退订")

    aliyun.carrier_reports(delivered=True)
    scheduler.tick()
    assert {m["status"] for m in list_messages(store, made["id"])} == {"delivered"}
    assert aliyun.requests.count("SendSms") == 2, "a receipt is no reason to send again"


def test_aliyun_fails_throttles_loses_answers_and_sends_each_text_once(store, aliyun, clock):
    guests(store, 3)
    made = text_campaign(store, WORDING)
    scheduler = scheduler_for(store)
    aliyun.fail_next = 1
    scheduler.tick()
    assert aliyun.requests == ["SendSms"], "a provider answering 503 is not hammered"
    assert aliyun.texts == []
    clock.advance(seconds=31)
    aliyun.throttle_next, aliyun.lose_answer_next = 1, 1
    scheduler.tick()
    reasons = {m["reason"] for m in list_messages(store, made["id"])}
    assert any("isv.BUSINESS_LIMIT_CONTROL" in (r or "") for r in reasons)
    for _ in range(6):
        clock.advance(minutes=5)
        scheduler.tick()
    phones = sorted(t["PhoneNum"] for t in aliyun.texts)
    assert phones == ["13700137000", "13800138000", "13900139000"], "each guest once"
    assert {m["status"] for m in list_messages(store, made["id"])} == {"sent"}
    assert "QuerySendDetails" in aliyun.requests, "the lost answer was asked about, not resent"


def test_aliyun_timeout_is_looked_up_before_any_resend(store, aliyun, clock):
    guests(store, 1)
    made = text_campaign(store, WORDING)
    scheduler = scheduler_for(store)
    aliyun.hold_next = 1
    scheduler.tick()
    [message] = list_messages(store, made["id"])
    assert message["status"] == "queued" and "did not answer" in message["reason"]
    clock.advance(minutes=1)
    scheduler.tick()
    assert len(aliyun.texts) == 1
    assert aliyun.requests[:2] == ["SendSms", "QuerySendDetails"]
    assert aliyun.requests.count("SendSms") == 1, "found at Alibaba, so not sent again"
    assert list_messages(store, made["id"])[0]["status"] == "sent"


def test_a_wrong_secret_is_refused_by_the_signature_check(store, aliyun, clock):
    store.settings.messaging.sms.access_key_secret = "not-the-secret"
    guests(store, 1)
    made = text_campaign(store, WORDING)
    scheduler_for(store).tick()
    [message] = list_messages(store, made["id"])
    assert message["status"] == "failed" and "SignatureDoesNotMatch" in message["reason"]
    assert aliyun.texts == []


def test_tencent_texts_receipts_and_a_reply_withdrawing_consent(store, tencent):
    a, b = guests(store)
    made = text_campaign(store, TENCENT_WORDING)
    scheduler = scheduler_for(store)
    scheduler.tick()
    sent = {t["PhoneNumber"]: t for t in tencent.texts}
    messages = messages_of(store, made["id"])
    for guest, phone in ((a, "+8613800138000"), (b, "+8613900139000")):
        message, text = messages[guest["id"]], sent[phone]
        assert text["params"] == list(expected_params(store, guest["id"]).values())
        assert message["body"] == text["Content"]
        assert json.loads(message["params"]) == expected_params(store, guest["id"])
        assert message["status"] == "sent" and message["provider_ref"] == text["SerialNo"]
    assert messages[a["id"]]["body"].endswith("拒收请回复R")

    tencent.carrier_reports(delivered=True)
    tencent.guest_replies("+8613900139000", "R")
    scheduler.tick()
    assert {m["status"] for m in list_messages(store, made["id"])} == {"delivered"}
    assert get_member(store, b["id"])["marketing_consent"] is False
    assert get_member(store, a["id"])["marketing_consent"] is True
    again = text_campaign(store, TENCENT_WORDING, name="再来一次")
    scheduler.tick()
    assert [m["member_id"] for m in list_messages(store, again["id"])] == [a["id"]]


def test_tencent_fails_recovers_and_an_unanswered_text_waits_for_a_person(store, tencent,
                                                                          clock):
    guests(store, 3)
    made = text_campaign(store, TENCENT_WORDING)
    scheduler = scheduler_for(store)
    tencent.fail_next = 1
    scheduler.tick()
    assert tencent.texts == []
    clock.advance(seconds=31)
    tencent.throttle_next, tencent.lose_answer_next = 1, 1
    scheduler.tick()
    for _ in range(6):
        clock.advance(minutes=5)
        scheduler.tick()
    statuses = sorted(m["status"] for m in list_messages(store, made["id"]))
    assert statuses == ["sent", "sent", "unconfirmed"]
    assert sorted(t["PhoneNumber"] for t in tencent.texts) == [
        "+8613700137000", "+8613800138000", "+8613900139000"], "each guest once"
    [unsure] = [m for m in list_messages(store, made["id"]) if m["status"] == "unconfirmed"]
    assert "check the Tencent console" in unsure["reason"]


def test_the_carriers_window_holds_texts_past_quiet_hours(store, aliyun, clock):
    store.settings.campaigns.quiet_start, store.settings.campaigns.quiet_end = "23:00", "07:00"
    guests(store, 1)
    clock.current = datetime.combine(clock.current.date(), time(7, 30), CHINA)
    made = text_campaign(store, WORDING)
    scheduler = scheduler_for(store)
    scheduler.tick()
    assert aliyun.texts == [] and list_messages(store, made["id"])[0]["status"] == "queued"
    clock.advance(minutes=30)
    scheduler.tick()
    assert len(aliyun.texts) == 1


def test_a_text_campaign_must_use_an_approved_wording(store, aliyun):
    with pytest.raises(InvalidInput, match="approved: SMS_465000001"):
        text_campaign(store, "{name}，好久不见！")
    with pytest.raises(ValidationError, match="opt-out"):
        SmsTemplate(code="SMS_1", text="{name}，好久不见！")


def test_without_a_provider_texts_are_skipped_with_the_reason(store, morning):
    store.settings.messaging.sms.templates = [SmsTemplate(code="SMS_1", text=WORDING)]
    guests(store, 1)
    made = text_campaign(store, WORDING)
    scheduler_for(store).tick()
    [message] = list_messages(store, made["id"])
    assert (message["status"], message["reason"]) == ("skipped", "SMS is not set up")


def test_an_erasure_empties_the_parameters_too(store, aliyun):
    [a] = guests(store, 1)
    made = text_campaign(store, WORDING)
    scheduler_for(store).tick()
    erase_member(store, a["id"], actor="test")
    [message] = list_messages(store, made["id"])
    assert message["params"] == "" and message["body"] == "" and message["address"] is None


def test_aliyun_pushes_settle_texts_and_a_reply_withdraws_consent(store, aliyun):
    a, b = guests(store)
    made = text_campaign(store, WORDING)
    scheduler_for(store).tick()  # sent; the carriers have not reported yet
    assert {m["status"] for m in list_messages(store, made["id"])} == {"sent"}
    reports = [{"phone_number": t["PhoneNum"], "success": t["PhoneNum"] == "13800138000",
                "err_code": "DELIVERED" if t["PhoneNum"] == "13800138000" else "MK:0001",
                "biz_id": t["BizId"], "out_id": t["OutId"]} for t in aliyun.texts]
    assert aliyun_pushed(store, "reports", [*reports, {"odd": 1}]) == 2
    assert aliyun_pushed(store, "reports", reports) == 0, "a pushed report counts once"
    messages = messages_of(store, made["id"])
    assert messages[a["id"]]["status"] == "delivered"
    assert (messages[b["id"]]["status"], messages[b["id"]]["reason"]) == ("failed",
                                                                          "carrier: MK:0001")
    replies = [{"phone_number": "13900139000", "content": "T", "sign_name": "老客小馆",
                "send_time": "2026-12-01 10:05:00", "sequence_id": 1},
               {"phone_number": "not a phone", "content": "T"}]
    assert aliyun_pushed(store, "replies", replies) == 1
    assert get_member(store, b["id"])["marketing_consent"] is False
    assert get_member(store, a["id"])["marketing_consent"] is True


def test_tencent_pushes_settle_texts_once_and_a_reply_withdraws_consent(store, tencent):
    a, b = guests(store)
    made = text_campaign(store, TENCENT_WORDING)
    scheduler_for(store).tick()
    assert {m["status"] for m in list_messages(store, made["id"])} == {"sent"}
    reports = tencent.pushed_reports(delivered=True)
    reports[1] = {**reports[1], "report_status": "FAIL", "errmsg": "MK:0001",
                  "description": "空号"}
    assert tencent_pushed(store, "reports", [*reports, {"odd": 1}, "odd"]) == 2
    assert tencent_pushed(store, "reports", reports) == 0, "a pushed report counts once"
    tencent.carrier_reports()  # the same reports waiting to be pulled: polling is the fallback
    scheduler_for(store).tick()
    messages = messages_of(store, made["id"])
    assert [t["PhoneNumber"] for t in tencent.texts] == [a["phone"], b["phone"]]
    assert messages[a["id"]]["status"] == "delivered"
    failed = messages[b["id"]]
    assert (failed["status"], failed["reason"]) == ("failed", "carrier: MK:0001 空号")
    assert tencent_pushed(store, "replies", tencent.pushed_reply("+8613900139000",
                                                                 "拒收")) == 1
    assert tencent_pushed(store, "replies", [{"mobile": "not a phone", "text": "R"}]) == 0
    assert get_member(store, b["id"])["marketing_consent"] is False
    assert get_member(store, a["id"])["marketing_consent"] is True


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_a_crash_mid_send_resends_a_text_only_where_the_provider_can_be_asked(store, morning,
                                                                            provider):
    store.settings.messaging.sms.provider = provider
    store.settings.messaging.sms.templates = [SmsTemplate(code="T1", text=WORDING)]
    guests(store, 1)
    made = text_campaign(store, WORDING)
    run_campaign(store, made["id"])
    with store.write():
        store.conn.execute("UPDATE messages SET status = 'sending', attempts = 1")
    assert recover(store) == 1
    [message] = list_messages(store, made["id"])
    assert message["status"] == ("queued" if provider == "aliyun" else "unconfirmed")


def test_slow_receipts_do_not_crowd_out_the_rest(store, aliyun, clock):
    guests(store, 3)
    made = text_campaign(store, WORDING)
    scheduler_for(store).tick()
    since = clock.current - timedelta(days=1)
    asked = []
    for _ in range(3):
        clock.advance(seconds=30)
        asked += [m["id"] for m in awaiting_receipt(store, "sms", since, limit=1)]
    assert sorted(asked) == sorted(m["id"] for m in list_messages(store, made["id"])), \
        "each unanswered text gets its turn"
