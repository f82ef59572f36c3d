"""Campaign messages against local stand-ins: an SMS gateway over HTTP and an SMTP server,
both on 127.0.0.1, both failing first and recovering; nothing is sent twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.domain.campaigns import create_campaign, run_campaign, update_campaign
from hub.domain.coupons import create_template
from hub.domain.members import NewMember, add_member, get_member
from hub.domain.outreach import list_messages, recover, unsubscribe, unsubscribe_token
from hub.messaging import Dispatcher, channels_from
from hub.scheduler import CampaignScheduler


@pytest.fixture
def shop(store, gateway, mailbox):
    messaging = store.settings.messaging
    messaging.webhook_url = gateway.url
    messaging.smtp_host, messaging.smtp_port = "127.0.0.1", mailbox.port
    messaging.smtp_starttls = False
    messaging.smtp_sender = "shop@laoke.test"
    return store


def guests(store):
    a = add_member(store, NewMember(name="王芳", phone="13800138000", email="wang@Example.COM",
                                    marketing_consent=True))
    b = add_member(store, NewMember(name="李雷", phone="13900139000", marketing_consent=True))
    c = add_member(store, NewMember(name="张伟", phone="13700137000", email="z@example.com"))
    return a, b, c


def campaign(store, **extra):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000, valid_days=30)
    spec = {"name": "欢迎回来", "audience": {}, "control_pct": 0,
            "offer": {"type": "coupon", "template_id": template["id"]},
            "message_zh": "{name}，{store}送您{offer}，券码 {code}。{unsubscribe}",
            "channels": ["webhook", "smtp"], "schedule": {"run": "once"}, "active": True,
            **extra}
    return create_campaign(store, spec)


def by_member(store, campaign_id):
    found: dict = {}
    for message in list_messages(store, campaign_id):
        found.setdefault(message["member_id"], {})[message["channel"]] = message
    return found


def test_channels_fail_then_recover_and_nothing_is_sent_twice(shop, gateway, mailbox, clock):
    a, b, c = guests(shop)
    made = campaign(shop)
    scheduler = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    gateway.fail_next, mailbox.fail_next = 1, 1
    [run] = scheduler.tick()
    assert run["treated"] == 2, "the guest without marketing consent is not picked"
    messages = by_member(shop, made["id"])
    assert c["id"] not in messages
    assert messages[b["id"]]["smtp"]["status"] == "skipped"
    assert messages[b["id"]]["smtp"]["reason"] == "no e-mail"
    assert all(m["status"] == "queued" for m in (messages[a["id"]]["webhook"],
                                                 messages[a["id"]]["smtp"],
                                                 messages[b["id"]]["webhook"]))
    assert gateway.requests == 1, "a gateway that is down is not hammered with the rest"
    assert "503" in (messages[a["id"]]["webhook"]["reason"]
                     or messages[b["id"]]["webhook"]["reason"])
    assert "451" in messages[a["id"]]["smtp"]["reason"]

    scheduler.tick()
    assert gateway.requests == 2, "the message left untried goes next; the failed one waits"
    assert mailbox.mails == []
    clock.advance(seconds=31)
    scheduler.tick()
    messages = by_member(shop, made["id"])
    assert messages[a["id"]]["webhook"]["status"] == "delivered"
    assert messages[b["id"]]["webhook"]["status"] == "delivered"
    assert messages[a["id"]]["smtp"]["status"] == "sent"
    assert sorted(t["to"] for t in gateway.texts.values()) == ["+8613800138000",
                                                               "+8613900139000"]
    text = next(t for t in gateway.texts.values() if t["to"] == "+8613800138000")["text"]
    code = shop.scalar("SELECT code FROM coupons WHERE member_id = ?", (a["id"],))
    assert text == f"王芳，老客小馆送您20.00元，券码 {code}。回复TD退订"
    [mail] = mailbox.mails
    assert mail["To"] == "wang@example.com" and mail["Subject"] == "欢迎回来"
    assert messages[a["id"]]["smtp"]["id"] in mail["Message-ID"]
    assert code in mail.get_content()

    scheduler.tick()
    assert len(mailbox.mails) == 1 and gateway.requests == 3, "nothing goes twice"


def test_a_lost_answer_is_retried_under_the_same_key(shop, gateway, clock):
    guests(shop)
    made = campaign(shop, channels=["webhook"], audience={"tiers": ["member"]})
    dispatcher = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    gateway.lose_answer_next = 1
    dispatcher.tick()
    clock.advance(minutes=5)
    dispatcher.tick()
    assert gateway.requests == 3, "two guests, one answer lost and asked again"
    assert len(gateway.texts) == 2, "the gateway saw the retry's key and sent it once"
    assert {m["status"] for m in list_messages(shop, made["id"])} == {"delivered"}


def test_quiet_hours_hold_messages_until_morning(shop, gateway, clock):
    guests(shop)
    clock.current = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    made = campaign(shop, channels=["webhook"])
    scheduler = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    scheduler.tick()
    assert gateway.requests == 0
    assert {m["status"] for m in list_messages(shop, made["id"])} == {"queued"}
    clock.current = datetime(2026, 11, 26, 0, 59, tzinfo=UTC)  # 08:59
    scheduler.tick()
    assert gateway.requests == 0
    clock.advance(minutes=1)
    scheduler.tick()
    assert gateway.requests == 2


def test_weekly_cap_and_unsubscribe(shop, gateway, clock):
    shop.settings.campaigns.weekly_cap = 1
    a, b, _ = guests(shop)
    first = campaign(shop, channels=["webhook"])
    scheduler = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    scheduler.tick()
    second = campaign(shop, name="又一个", channels=["webhook"])
    unsubscribe(shop, unsubscribe_token(shop, b["id"]))
    assert get_member(shop, b["id"])["marketing_consent"] is False
    scheduler.tick()
    assert {m["reason"] for m in list_messages(shop, second["id"])} == {"weekly cap reached"}, \
        "a got the first campaign this week; b unsubscribed, so is no longer picked"
    clock.advance(days=8)
    third = campaign(shop, name="下周", channels=["webhook"])
    scheduler.tick()
    assert [m["member_id"] for m in list_messages(shop, third["id"])] == [a["id"]]
    assert gateway.requests == 3
    with pytest.raises(Exception, match="not valid"):
        token = unsubscribe_token(shop, a["id"])
        unsubscribe(shop, token[:-1] + ("1" if token.endswith("0") else "0"))
    assert first["id"] != second["id"]


def test_consent_withdrawn_after_queueing_stops_the_message(shop, gateway):
    a, b, _ = guests(shop)
    made = campaign(shop, channels=["webhook"], schedule={"run": "once"})
    scheduler = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    update_campaign(shop, made["id"], {"active": False})
    run_campaign(shop, made["id"])
    unsubscribe(shop, unsubscribe_token(shop, a["id"]))
    scheduler.tick()
    statuses = {m["member_id"]: (m["status"], m["reason"])
                for m in list_messages(shop, made["id"])}
    assert statuses[a["id"]] == ("skipped", "unsubscribed")
    assert statuses[b["id"]][0] == "delivered"


def test_a_crash_mid_send_resends_only_what_is_safe(shop):
    guests(shop)
    made = campaign(shop)
    run_campaign(shop, made["id"])
    with shop.write():
        shop.conn.execute("UPDATE messages SET status = 'sending' WHERE status = 'queued'")
    assert recover(shop) == 3
    statuses = {(m["channel"], m["status"]) for m in list_messages(shop, made["id"])}
    assert ("webhook", "queued") in statuses and ("smtp", "unconfirmed") in statuses
    assert ("webhook", "sending") not in statuses


def test_an_unset_channel_skips_with_the_reason(store):
    guests(store)
    made = campaign(store)
    run_campaign(store, made["id"])
    reasons = {m["reason"] for m in list_messages(store, made["id"])}
    assert reasons == {"the webhook channel is not set up", "e-mail is not set up"}
    assert Dispatcher(store, channels_from(store.settings.messaging)).run_once() == 0


def test_mail_carries_a_one_click_unsubscribe(shop, mailbox):
    shop.settings.campaigns.public_url = "https://shop.example/"
    guests(shop)
    campaign(shop, channels=["smtp"])
    CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging)).tick()
    [mail] = mailbox.mails
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://shop.example/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"退订: {link}" in mail.get_content()


def test_a_mail_whose_answer_was_lost_is_not_sent_again(shop, mailbox, clock):
    add_member(shop, NewMember(name="王芳", phone="13800138000", email="wang@example.com",
                               marketing_consent=True))
    made = campaign(shop, channels=["smtp"])
    shop.settings.messaging.timeout_s = 0.5
    mailbox.slow_next_s = 1.5  # the server took it, and its answer comes too late
    scheduler = CampaignScheduler(lambda: shop, channels_from(shop.settings.messaging))
    scheduler.tick()
    [message] = list_messages(shop, made["id"])
    assert message["status"] == "unconfirmed" and "may have gone" in message["reason"]
    clock.advance(hours=1)
    scheduler.tick()
    assert len(mailbox.mails) == 1, "it went once, and is not sent again"
