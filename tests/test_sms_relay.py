"""Texts relayed through HQ ([messaging] route = "hq"): the store hands each SMS to HQ with
its queueing, HQ sends it once with the chain's account, and its fate and the guest's stop
word come back to that store. Over a real mosquitto with HQ's receiver and a store's
publisher (one set for the module), against the SMS stand-ins that check signatures; HQ
stopping mid-send is played on HQ's book, as a crash leaves it."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from types import SimpleNamespace

import pytest

from hub.domain.campaigns import create_campaign, run_campaign
from hub.domain.config import SmsTemplate, new_settings
from hub.domain.coupons import create_template
from hub.domain.members import NewMember, add_member, erase_member, update_member
from hub.domain.outreach import RELAYED, list_messages
from hub.domain.replica import apply_page, feed_position
from sync.chain import CHAIN_ID
from sync.hq import HqBook, Receiver
from sync.hq.relay import Relay, RelaySender
from sync.protocol import events_topic
from sync.publisher import Publisher
from tests.support.broker import Mosquitto
from tests.support.chain import hand_to_hq, make_store
from tests.support.hubproc import wait_until
from tests.support.sms import AliyunStandin, TencentStandin

WORDING = "{name}您好，{store}送您{offer}，券码{code}，{until}前有效。回T退订"
ALIYUN_TEMPLATE = "${name}您好，${store}送您${offer}，券码${code}，${until}前有效。回T退订"
TENCENT_WORDING = "{name}您好，{store}送您{offer}，券码{code}，{until}前有效。拒收请回复R"
TENCENT_TEMPLATE = "{1}您好，{2}送您{3}，券码{4}，{5}前有效。拒收请回复R"


def relaying(settings, wording=WORDING, code="SMS_465000001"):
    """A store that sends its texts through HQ: the approved wording and signature, and
    no provider account of its own."""
    settings.messaging.route = "hq"
    settings.messaging.sms.sign_name = "老客小馆"
    settings.messaging.sms.templates = [SmsTemplate(code=code, text=wording)]
    return settings


def hq_settings(standin, provider):
    """HQ's own settings: the chain's account at the stand-in; quiet hours and the
    carriers' window open all day, so the test does not depend on the hour it runs."""
    settings = new_settings(CHAIN_ID)
    sms = settings.messaging.sms
    sms.provider, sms.endpoint, sms.sign_name = provider, standin.url, "老客小馆"
    if provider == "aliyun":
        sms.access_key_id, sms.access_key_secret = "LTAI-test", "aliyun-secret"
    else:
        sms.access_key_id, sms.access_key_secret = "AKID-test", "tencent-secret"
        sms.sdk_app_id = "1400000001"
    sms.window_start = sms.window_end = "00:00"
    settings.campaigns.quiet_start = settings.campaigns.quiet_end = "00:00"
    settings.messaging.timeout_s = 0.5
    return settings


def aliyun_standin():
    return AliyunStandin("LTAI-test", "aliyun-secret", "老客小馆",
                         {"SMS_465000001": ALIYUN_TEMPLATE})


def tencent_standin():
    return TencentStandin("AKID-test", "tencent-secret", "1400000001", "老客小馆",
                          {"2100001": TENCENT_TEMPLATE})


def text_campaign(store, name="欢迎回来", wording=WORDING):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000, valid_days=30)
    return create_campaign(store, {
        "name": name, "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]}, "message_zh": wording,
        "channels": ["sms"], "schedule": {"run": "once"}, "active": True})


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """HQ's receiver and a relaying store's publisher on one real broker."""
    root = tmp_path_factory.mktemp("relay")
    broker = Mosquitto(root / "broker").start()
    book = HqBook(root / "hq.db")
    receiver = Receiver(book, broker.url).start()
    store = make_store(root, "s-relay", broker, relaying(new_settings("s-relay")))
    publisher = Publisher(store).start()
    try:
        yield SimpleNamespace(book=book, store=store, broker=broker)
    finally:
        publisher.stop()
        receiver.stop()
        broker.stop()


def status_of(store, message_id):
    return store.scalar("SELECT status FROM messages WHERE id = ?", (message_id,))


def test_a_relayed_text_goes_once_from_hq_and_its_fate_comes_back(chain):
    store = chain.store()
    standin = aliyun_standin()
    sender = RelaySender(chain.book, hq_settings(standin, "aliyun"), every_s=0.1)
    try:
        guest = add_member(store, NewMember(name="王芳", phone="13800138000",
                                            marketing_consent=True))
        campaign = text_campaign(store)
        run_campaign(store, campaign["id"])
        [message] = list_messages(store, campaign["id"])
        assert (message["status"], message["reason"]) == ("held", RELAYED)
        [handed] = [json.loads(r["data"]) for r in store.conn.execute(
            "SELECT data FROM outbox WHERE type = 'message.relayed'")]
        assert handed["id"] == message["id"] and handed["address"] == "+8613800138000"
        assert handed["body"] == message["body"] and handed["template"] == "SMS_465000001"

        sender.start()
        wait_until(lambda: status_of(store, message["id"]) == "sent", timeout=30)
        [text] = standin.texts
        assert text["OutId"] == message["id"] and text["Content"] == message["body"]
        assert text["PhoneNum"] == "13800138000"

        standin.carrier_reports(delivered=True)
        wait_until(lambda: status_of(store, message["id"]) == "delivered", timeout=30)

        # MQTT delivers the store's batch again (a lost acknowledgement): still one text.
        rows = chain.book.conn.execute(
            "SELECT seq, id, type, ts, data FROM hq_events WHERE store_id = 's-relay' "
            "ORDER BY seq").fetchall()
        events = [{"store": "s-relay", "seq": r["seq"], "id": r["id"], "type": r["type"],
                   "ts": r["ts"], "data": json.loads(r["data"])} for r in rows]
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        again = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        again.connect("127.0.0.1", chain.broker.port)
        again.loop_start()
        try:
            again.publish(events_topic("s-relay"), json.dumps(
                {"schema": 1, "store": "s-relay", "events": events}).encode(),
                qos=1).wait_for_publish(5)
        finally:
            again.loop_stop()
        # A new event behind it: once HQ applied that, it had the batch again before it.
        add_member(store, NewMember(name="李雷", phone="13900139000"))
        top = store.scalar("SELECT MAX(seq) FROM outbox")
        wait_until(lambda: chain.book.history("s-relay", 0)["applied_seq"] >= top, timeout=30)
        rounds = sender.rounds
        wait_until(lambda: sender.rounds >= rounds + 2, timeout=10)
        assert len(standin.texts) == 1
        assert chain.book.conn.execute("SELECT COUNT(*) FROM hq_messages").fetchone()[0] == 1
        assert status_of(store, message["id"]) == "delivered"
        assert guest["id"] == message["member_id"]
    finally:
        sender.stop()
        standin.close()


@pytest.fixture
def book(tmp_path):
    book = HqBook(tmp_path / "hq.db")
    yield book
    book.conn.close()


@pytest.fixture
def relayer(store):
    relaying(store.settings)
    return store


def texted(store, campaign_name="欢迎回来", wording=WORDING, phone="13800138000"):
    guest = add_member(store, NewMember(name="王芳", phone=phone, marketing_consent=True))
    campaign = text_campaign(store, campaign_name, wording)
    run_campaign(store, campaign["id"])
    [message] = list_messages(store, campaign["id"])
    return guest, message


def settle_from_hq(store, book):
    """What the store's next pulls bring of HQ's feed, applied."""
    while True:
        page = json.loads(book.feed(store.store_id, feed_position(store)))
        apply_page(store, page["events"], page["position"])
        if not page["more"]:
            return page


def test_a_store_that_hands_a_text_over_twice_gets_it_sent_once(relayer, book):
    standin = aliyun_standin()
    try:
        _, message = texted(relayer)
        hand_to_hq(book, relayer)
        [event] = [r for r in relayer.conn.execute(
            "SELECT * FROM outbox WHERE type = 'message.relayed'")]
        top = relayer.scalar("SELECT MAX(seq) FROM outbox")
        # The same text again under a later seq (a store's handover retried as a new event).
        book.apply(events_topic(relayer.store_id), json.dumps({
            "schema": 1, "store": relayer.store_id, "events": [{
                "store": relayer.store_id, "seq": top + 1, "id": "retry-1",
                "type": "message.relayed", "ts": event["ts"],
                "data": json.loads(event["data"])}]}).encode())
        relay = Relay(book, hq_settings(standin, "aliyun"))
        assert relay.run_once() == 1 and relay.run_once() == 0
        assert len(standin.texts) == 1
        assert book.conn.execute("SELECT COUNT(*) FROM hq_messages").fetchone()[0] == 1
        settle_from_hq(relayer, book)
        assert status_of(relayer, message["id"]) == "sent"
    finally:
        standin.close()


def test_hq_stopped_mid_send_looks_the_text_up_at_alibaba_before_any_resend(relayer, book):
    standin = aliyun_standin()
    try:
        _, message = texted(relayer)
        hand_to_hq(book, relayer)
        settings = hq_settings(standin, "aliyun")
        relay = Relay(book, settings)
        claimed = relay.claim()
        relay.channels["sms"].send(claimed)  # Alibaba took it; HQ stopped before it wrote that down
        assert len(standin.texts) == 1
        after = Relay(HqBook(book.url), settings)  # HQ starts again
        assert after.recover() == 1
        assert after.run_once() == 1
        assert len(standin.texts) == 1, "looked up by OutId, not sent again"
        assert "QuerySendDetails" in standin.requests
        settle_from_hq(relayer, book)
        assert status_of(relayer, message["id"]) == "sent"
        after.book.conn.close()
    finally:
        standin.close()


def test_at_tencent_a_text_caught_mid_send_waits_for_a_person_and_a_reply_withdraws_consent(
        store, book):
    relaying(store.settings, TENCENT_WORDING, "2100001")
    standin = tencent_standin()
    try:
        guest, first = texted(store, "第一波", TENCENT_WORDING)
        hand_to_hq(book, store)
        settings = hq_settings(standin, "tencent")
        relay = Relay(book, settings)
        relay.claim()  # HQ stops with it mid-send: Tencent cannot be asked whether it went
        assert Relay(book, settings).recover() == 1
        assert relay.run_once() == 0 and standin.texts == []
        settle_from_hq(store, book)
        assert status_of(store, first["id"]) == "unconfirmed"

        store.settings.campaigns.weekly_cap = 5
        campaign = text_campaign(store, "第二波", TENCENT_WORDING)
        run_campaign(store, campaign["id"])
        [second] = list_messages(store, campaign["id"])
        hand_to_hq(book, store)
        assert relay.run_once() == 1 and len(standin.texts) == 1
        standin.carrier_reports(delivered=False)
        standin.guest_replies("+8613800138000", "R")
        relay.run_once()
        page = settle_from_hq(store, book)
        assert status_of(store, second["id"]) == "failed"
        assert store.scalar("SELECT reason FROM messages WHERE id = ?",
                            (second["id"],)) == "carrier: 空号"
        assert not store.scalar("SELECT marketing_consent FROM members WHERE id = ?",
                                (guest["id"],))
        assert {e["type"] for e in page["events"]} >= {"message.settled", "message.reply"}
        # HQ's word on one store's texts reaches that store alone; the reply carries no phone.
        assert [e for e in json.loads(book.feed("s-other", 0))["events"]
                if e["type"].startswith("message.")] == []
        reply = next(e for e in page["events"] if e["type"] == "message.reply")
        assert reply["data"] == {"store": store.store_id, "member_id": guest["id"],
                                 "text": "R"}
    finally:
        standin.close()


def test_consent_withdrawn_or_an_erasure_before_hq_sends_skips_the_text(relayer, book):
    standin = aliyun_standin()
    try:
        guest, other = (add_member(relayer, NewMember(name=name, phone=phone,
                                                      marketing_consent=True))
                        for name, phone in (("王芳", "13800138000"), ("李雷", "13900139000")))
        campaign = text_campaign(relayer)
        run_campaign(relayer, campaign["id"])
        by_guest = {m["member_id"]: m for m in list_messages(relayer, campaign["id"])}
        message, second = by_guest[guest["id"]], by_guest[other["id"]]
        update_member(relayer, guest["id"], {"marketing_consent": False}, actor="owner")
        erase_member(relayer, other["id"], actor="owner", reason="asked")
        hand_to_hq(book, relayer)
        assert Relay(book, hq_settings(standin, "aliyun")).run_once() == 0
        assert standin.texts == []
        settle_from_hq(relayer, book)
        assert status_of(relayer, message["id"]) == "skipped"
        assert relayer.scalar("SELECT reason FROM messages WHERE id = ?",
                              (message["id"],)) == "unsubscribed"
        assert status_of(relayer, second["id"]) == "skipped"
        # What HQ kept of the erased guest's text: neither the number nor the words.
        row = book.conn.execute("SELECT address, body, params FROM hq_messages WHERE id = ?",
                                (second["id"],)).fetchone()
        assert tuple(row) == (None, "", "")
        kept = [json.loads(r[0]) for r in book.conn.execute(
            "SELECT data FROM hq_events WHERE type = 'message.relayed'")]
        erased = next(d for d in kept if d["id"] == second["id"])
        assert (erased["address"], erased["body"], erased["params"]) == (None, "", "")
        assert "13900139000" not in relayer.scalar(
            "SELECT group_concat(data) FROM outbox WHERE type = 'message.relayed'")
    finally:
        standin.close()


def test_a_store_sending_its_own_texts_hands_nothing_to_hq(store):
    store.settings.messaging.sms.templates = [SmsTemplate(code="SMS_1", text=WORDING)]
    _, message = texted(store)
    assert message["status"] == "skipped" and message["reason"] == "SMS is not set up"
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'message.relayed'") == 0


# -- the webhook and e-mail through HQ --------------------------------------------------------

def relayed_campaign(store, channels=("webhook", "smtp")):
    template = create_template(store, "回归礼券", "amount_off", amount_fen=2000, valid_days=30)
    return create_campaign(store, {
        "name": "欢迎回来", "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]},
        "message_zh": "{name}，{store}送您{offer}，券码 {code}。", "channels": list(channels),
        "schedule": {"run": "once"}, "active": True})


def mail_settings(gateway, mailbox):
    """HQ's own webhook and mail server, quiet hours open all day."""
    settings = new_settings(CHAIN_ID)
    messaging = settings.messaging
    messaging.webhook_url = gateway.url
    messaging.smtp_host, messaging.smtp_port = "127.0.0.1", mailbox.port
    messaging.smtp_starttls, messaging.smtp_sender = False, "chain@laoke.test"
    settings.campaigns.quiet_start = settings.campaigns.quiet_end = "00:00"
    messaging.timeout_s = 2
    return settings


def test_the_webhook_and_e_mail_go_from_hq_once_with_the_guests_unsubscribe_link(
        relayer, tmp_path, clock, gateway, mailbox):
    relayer.settings.campaigns.public_url = "https://shop.example"
    guest = add_member(relayer, NewMember(name="王芳", phone="13800138000",
                                          email="wang@example.com", marketing_consent=True))
    campaign = relayed_campaign(relayer)
    run_campaign(relayer, campaign["id"])
    by_channel = {m["channel"]: m for m in list_messages(relayer, campaign["id"])}
    assert {(c, m["status"], m["reason"]) for c, m in by_channel.items()} == {
        ("webhook", "held", RELAYED), ("smtp", "held", RELAYED)}, \
        "the store has neither a webhook nor a mail server: HQ's are used"
    book = HqBook(tmp_path / "hq.db", clock)
    try:
        hand_to_hq(book, relayer)
        relay = Relay(book, mail_settings(gateway, mailbox))
        gateway.fail_next, mailbox.fail_next = 1, 1
        assert relay.run_once() == 2 and gateway.texts == {} and mailbox.mails == []
        clock.advance(seconds=31)
        assert relay.run_once() == 2 and relay.run_once() == 0
        [(key, posted)] = gateway.texts.items()
        assert key == by_channel["webhook"]["id"] and posted["to"] == "+8613800138000"
        assert posted["campaign_id"] == campaign["id"] and posted["member_id"] == guest["id"]
        [mail] = mailbox.mails
        assert (mail["To"], mail["Subject"]) == ("wang@example.com", "欢迎回来")
        assert by_channel["smtp"]["id"] in mail["Message-ID"]
        assert mail["List-Unsubscribe"].startswith("<https://shop.example/unsubscribe/")
        assert mail.get_content().strip() == by_channel["smtp"]["body"]
        settle_from_hq(relayer, book)
        assert status_of(relayer, by_channel["webhook"]["id"]) == "delivered"
        assert status_of(relayer, by_channel["smtp"]["id"]) == "sent"
        assert relay.awaiting("sms", clock() - timedelta(days=30)) == [], \
            "an SMS provider's receipts are never asked for an e-mail"
    finally:
        book.conn.close()


def test_hq_without_a_channel_says_so_and_a_crash_mid_send_resends_only_what_is_known(
        relayer, tmp_path, clock, gateway, mailbox):
    add_member(relayer, NewMember(name="王芳", phone="13800138000", email="wang@example.com",
                                  marketing_consent=True))
    campaign = relayed_campaign(relayer)
    run_campaign(relayer, campaign["id"])
    by_channel = {m["channel"]: m for m in list_messages(relayer, campaign["id"])}
    book = HqBook(tmp_path / "hq.db", clock)
    try:
        hand_to_hq(book, relayer)
        relay = Relay(book, mail_settings(gateway, mailbox))
        relay.claim(), relay.claim()  # HQ stops with both mid-send
        assert Relay(book, mail_settings(gateway, mailbox)).recover() == 2
        assert relay.run_once() == 1, "the webhook goes again (its key dedupes it)"
        assert len(gateway.texts) == 1 and mailbox.mails == [], "an e-mail is never resent"
        settle_from_hq(relayer, book)
        assert status_of(relayer, by_channel["smtp"]["id"]) == "unconfirmed"

        again = relayed_campaign(relayer, ("smtp",))
        relayer.settings.campaigns.weekly_cap = 5
        run_campaign(relayer, again["id"])
        hand_to_hq(book, relayer)
        no_mail = mail_settings(gateway, mailbox)
        no_mail.messaging.smtp_host = ""
        assert Relay(book, no_mail).run_once() == 1
        settle_from_hq(relayer, book)
        [failed] = list_messages(relayer, again["id"])
        assert failed["status"] == "failed" and "HQ has no smtp set up" in failed["reason"]
    finally:
        book.conn.close()


def test_an_idle_relay_round_takes_no_write_lock(book, tmp_path, gateway):
    """The relay looks every two seconds: with nothing due it only reads, so it never takes
    the writers' lock from the stores' applies (on PostgreSQL, the chain's one writer lock)."""
    settings = hq_settings(aliyun_standin(), "aliyun")
    settings.messaging.sms.provider = ""
    settings.messaging.webhook_url = gateway.url
    relay = Relay(book, settings)
    book.conn.conn.execute("PRAGMA busy_timeout = 0")  # a write now fails at once
    other = sqlite3.connect(tmp_path / "hq.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        assert relay.run_once() == 0
        with pytest.raises(sqlite3.OperationalError, match="locked"), book.write():
            pass
    finally:
        other.rollback()
        other.close()
