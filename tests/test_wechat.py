"""The WeChat Official Account channel against a local stand-in of WeChat's API: the kiosk's
follow QR links the guest who scans it, leaving the account withdraws WeChat consent, a
campaign's message is the account's template with the guest's parameters, failures are
retried without sending anything twice, and an erasure takes the OpenID away. Over real
HTTPS: the callback refuses what WeChat did not sign."""

from __future__ import annotations

import json
import time
from datetime import datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub import wechat
from hub.domain.campaigns import create_campaign, run_campaign
from hub.domain.config import WeChatTemplate
from hub.domain.coupons import create_template
from hub.domain.errors import InvalidInput
from hub.domain.members import NewMember, add_member, erase_member, get_member
from hub.domain.outreach import list_messages, preview_messages, recover
from hub.domain.reports import report
from hub.domain.wechat import follower
from hub.messaging import channels_from
from hub.scheduler import CampaignScheduler
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub, signup
from tests.support.replay import replayed
from tests.support.wechat import (
    WeChatStandin,
    encrypted,
    event_xml,
    notice_xml,
    signature_query,
)

CHINA = ZoneInfo("Asia/Shanghai")
WORDING = "{name}，{store}送您{offer}，{until}前有效"
# The account's template as WeChat holds it, and laoke's wording of each parameter.
TEMPLATE = ("您好，{{thing1.DATA}}！\n优惠：{{thing2.DATA}}\n有效期至：{{time3.DATA}}\n"
            "{{thing4.DATA}}")
PARAMS = {"thing1": "{name}", "thing2": "{offer}", "time3": "{until}",
          "thing4": "{store}期待您再来"}
TOKEN = "callback-token"
# A subscription notice (订阅通知) of the account, and the campaign wording it carries.
NOTICE = "新菜上线：{{thing1.DATA}}\n{{thing2.DATA}}"
NOTICE_WORDING = "{name}，{store}新菜上线，送您{offer}"
NOTICE_PARAMS = {"thing1": "{store}送您{offer}", "thing2": "{name}，期待您来尝鲜"}


@pytest.fixture
def standin(store, clock):
    clock.current = datetime.combine(datetime.now(CHINA).date(), clock_time(10), CHINA)
    fake = WeChatStandin("wx-app", "wx-secret", {"TPL-1": TEMPLATE, "NTC-1": NOTICE})
    settings = store.settings.messaging.wechat
    settings.app_id, settings.app_secret, settings.token = "wx-app", "wx-secret", TOKEN
    settings.api_base = fake.url
    settings.templates = [WeChatTemplate(id="TPL-1", text=WORDING, params=PARAMS),
                          WeChatTemplate(id="NTC-1", kind="notice", text=NOTICE_WORDING,
                                         params=NOTICE_PARAMS)]
    store.settings.messaging.timeout_s = 0.5
    yield fake
    fake.close()


def account(store):
    return wechat.wechat_account(store.settings.messaging.wechat,
                                 store.settings.messaging.timeout_s)


def followers(store, standin, n=2):
    """Guests who signed up and scanned the kiosk's follow QR with WeChat."""
    made = []
    for i, (name, phone) in enumerate([("王芳", "13800138000"), ("李雷", "13900139000"),
                                       ("韩梅", "13700137000")][:n]):
        guest = add_member(store, NewMember(name=name, phone=phone, marketing_consent=True))
        qr = account(store).follow_qr(store, guest["id"])
        assert wechat.callback(store, standin.scan(qr["url"], f"openid-{i}")) == "linked"
        made.append(guest)
    return made


def campaign(store, name="欢迎回来", wording=WORDING):
    template = create_template(store, f"{name}券", "amount_off", amount_fen=2000, valid_days=30)
    return create_campaign(store, {
        "name": name, "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]}, "message_zh": wording,
        "channels": ["wechat"], "schedule": {"run": "once"}, "active": True})


def scheduler_for(store):
    return CampaignScheduler(lambda: store, channels_from(store.settings.messaging))


def expected(store, member_id):
    coupon = store.one("SELECT valid_until FROM coupons WHERE member_id = ?", (member_id,))
    until = datetime.fromisoformat(coupon["valid_until"]).astimezone(CHINA).strftime("%Y-%m-%d")
    name = store.scalar("SELECT name FROM members WHERE id = ?", (member_id,))
    return {"thing1": name, "thing2": "20.00元", "time3": until, "thing4": "老客小馆期待您再来"}


def test_a_campaign_message_is_the_template_with_the_guests_parameters(store, standin):
    a, b = followers(store, standin)
    assert follower(store, a["id"])["openid"] == "openid-0"
    made = campaign(store)
    scheduler = scheduler_for(store)
    scheduler.tick()
    shown = {m["touser"]: m for m in standin.messages}
    messages = {m["member_id"]: m for m in list_messages(store, made["id"])}
    for guest, openid in ((a, "openid-0"), (b, "openid-1")):
        message, sent = messages[guest["id"]], shown[openid]
        assert sent["template_id"] == "TPL-1" and sent["data"] == expected(store, guest["id"])
        params = expected(store, guest["id"])
        assert sent["content"] == (f"您好，{params['thing1']}！\n优惠：20.00元\n有效期至："
                                   f"{params['time3']}\n老客小馆期待您再来")
        assert json.loads(message["params"]) == params and message["template"] == "TPL-1"
        assert message["body"] == f"{guest['name']}，老客小馆送您20.00元，{params['time3']}前有效"
        assert (message["status"], message["address"]) == ("sent", openid)
        assert message["provider_ref"] == str(sent["msgid"])
    assert standin.tokens_issued == 1, "the access token is cached"
    store.settings.campaigns.message_cost_fen = 8
    [roi] = report(store, "campaign_roi")["campaigns"]
    assert (roi["messages_paid"], roi["message_cost_fen"]) == (2, 16), "WeChat messages cost"

    assert wechat.callback(store, standin.job_finished(shown["openid-0"]["msgid"])) == "settled"
    assert wechat.callback(store, standin.job_finished(shown["openid-1"]["msgid"],
                                                       "failed:user block")) == "settled"
    messages = {m["member_id"]: m for m in list_messages(store, made["id"])}
    assert messages[a["id"]]["status"] == "delivered"
    assert messages[b["id"]]["status"] == "failed"
    assert follower(store, b["id"])["following"] is False, "blocking withdraws WeChat consent"


def test_failures_are_retried_and_nothing_is_sent_twice(store, standin, clock):
    followers(store, standin, 3)
    made = campaign(store)
    scheduler = scheduler_for(store)
    standin.fail_next = 1
    scheduler.tick()
    assert standin.messages == []
    assert any("HTTP 503" in (m["reason"] or "") for m in list_messages(store, made["id"]))
    clock.advance(seconds=31)
    standin.rate_limit_next = 1
    scheduler.tick()
    assert standin.messages == []
    assert any("45009" in (m["reason"] or "") for m in list_messages(store, made["id"]))
    clock.advance(minutes=2)
    standin.expire_token_next, standin.lose_answer_next = 1, 1
    scheduler.tick()
    for _ in range(4):
        clock.advance(minutes=10)
        scheduler.tick()
    assert sorted(m["touser"] for m in standin.messages) == ["openid-0", "openid-1",
                                                             "openid-2"], "each guest once"
    statuses = sorted(m["status"] for m in list_messages(store, made["id"]))
    assert statuses == ["sent", "sent", "unconfirmed"], "a lost answer waits for a person"
    assert standin.tokens_issued == 2, "a token refused (40001) is refreshed once"


def test_wechat_out_of_reach_keeps_the_message_for_later(store, standin):
    followers(store, standin, 1)
    standin.close()  # the hub's link is down: no connection can be made
    made = campaign(store)
    scheduler_for(store).tick()
    [message] = list_messages(store, made["id"])
    assert message["status"] == "queued" and "unreachable" in message["reason"]


def test_a_crash_mid_send_leaves_the_message_for_a_person(store, standin):
    followers(store, standin, 1)
    made = campaign(store)
    run_campaign(store, made["id"])
    with store.write():
        store.conn.execute("UPDATE messages SET status = 'sending', attempts = 1")
    assert recover(store) == 1
    scheduler_for(store).tick()
    [message] = list_messages(store, made["id"])
    assert message["status"] == "unconfirmed" and standin.messages == [], \
        "WeChat cannot be asked whether it went, so it is never resent"


def test_a_token_refused_twice_is_not_refreshed_for_ever(store, standin):
    followers(store, standin, 1)
    standin.expire_token_next = 2
    made = campaign(store)
    scheduler_for(store).tick()
    [message] = list_messages(store, made["id"])
    assert message["status"] == "queued" and "40001" in message["reason"]
    assert standin.messages == [] and standin.tokens_issued == 2


def test_the_hubs_of_a_chain_sharing_the_account_do_not_end_each_others_token(store,
                                                                               standin):
    """Two stores' hubs, each with its own client of the chain's one account, take turns: the
    stable token is the same for both, so neither is refused or fetches again."""
    guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
    hubs = [wechat.WeChatAccount(store.settings.messaging.wechat, 0.5) for _ in range(2)]
    for turn in range(6):
        assert hubs[turn % 2].follow_qr(store, guest["id"])["url"]
    assert standin.requests.count("/cgi-bin/stable_token") == 2, "one fetch per hub"
    assert standin.tokens_issued == 1 and standin.requests.count("/cgi-bin/qrcode/create") == 6


def test_not_following_withdraws_wechat_consent_and_nothing_else(store, standin):
    a, b = followers(store, standin)
    standin.followers.discard("openid-1")  # left while the hub was not told (a lost push)
    made = campaign(store)
    scheduler_for(store).tick()
    messages = {m["member_id"]: m for m in list_messages(store, made["id"])}
    assert messages[b["id"]]["status"] == "failed" and "43004" in messages[b["id"]]["reason"]
    assert follower(store, b["id"])["following"] is False
    assert get_member(store, b["id"])["marketing_consent"] is True, "SMS consent stands"
    again = campaign(store, "再来一次")
    scheduler_for(store).tick()
    messages = {m["member_id"]: m for m in list_messages(store, again["id"])}
    assert (messages[b["id"]]["status"], messages[b["id"]]["reason"]) == (
        "skipped", "not following the WeChat account")
    assert messages[a["id"]]["status"] == "sent"


def test_unfollowing_withdraws_consent_before_a_queued_message_goes(store, standin, clock):
    a, _ = followers(store, standin)
    clock.current = clock.current.replace(hour=22)  # quiet hours: the messages wait
    made = campaign(store)
    scheduler_for(store).tick()
    assert standin.messages == []
    assert wechat.callback(store, standin.leave("openid-0")) == "unfollowed"
    clock.advance(hours=12)
    scheduler_for(store).tick()
    messages = {m["member_id"]: m for m in list_messages(store, made["id"])}
    assert (messages[a["id"]]["status"], messages[a["id"]]["reason"]) == (
        "skipped", "not following the WeChat account")
    assert [m["touser"] for m in standin.messages] == ["openid-1"]
    # following again (from the account's page, no scene) gives the consent back
    assert wechat.callback(store, event_xml("openid-0", "subscribe")) == "linked"
    assert follower(store, a["id"])["following"] is True


def test_a_scene_links_only_its_guest_until_it_expires(store, standin, clock):
    [a] = followers(store, standin, 1)
    other = add_member(store, NewMember(name="李雷", phone="13900139000"))
    qr = account(store).follow_qr(store, other["id"])
    assert wechat.callback(store, standin.scan(qr["url"], "openid-0")) == "linked"
    assert follower(store, other["id"])["openid"] == "openid-0", "the OpenID moved"
    assert follower(store, a["id"]) is None
    late = account(store).follow_qr(store, a["id"])
    clock.advance(seconds=store.settings.messaging.wechat.qr_expire_s + 1)
    assert wechat.callback(store, standin.scan(late["url"], "openid-9")) == "followed"
    assert follower(store, a["id"]) is None
    with pytest.raises(InvalidInput):
        wechat.callback(store, b"<not xml")


def test_an_erasure_removes_the_openid(store, standin):
    [a] = followers(store, standin, 1)
    made = campaign(store)
    scheduler_for(store).tick()
    erase_member(store, a["id"], actor="test")
    assert follower(store, a["id"]) is None
    assert store.scalar("SELECT COUNT(*) FROM wechat_scenes") == 0
    [message] = list_messages(store, made["id"])
    assert message["address"] is None and message["params"] == ""
    events = [json.loads(r["data"]) for r in store.conn.execute(
        "SELECT data FROM outbox WHERE type = 'wechat.follower'")]
    assert events and {e["openid"] for e in events} == {"erased"}
    assert "openid-0" not in json.dumps([dict(r) for r in store.conn.execute(
        "SELECT * FROM audit_log")], ensure_ascii=False)


def test_a_hub_restored_from_hq_knows_who_follows_the_account(store, standin, tmp_path,
                                                              settings, clock):
    a, b = followers(store, standin)
    wechat.callback(store, standin.leave("openid-1"))
    with replayed(store, tmp_path / "restored.db", settings, clock) as restored:
        assert follower(restored, a["id"])["openid"] == "openid-0"
        assert follower(restored, a["id"])["following"] is True
        assert follower(restored, b["id"])["following"] is False


def test_a_notice_goes_once_for_each_time_the_guest_accepted_it(store, standin, clock):
    a, b = followers(store, standin)
    assert wechat.callback(store, standin.accept("openid-0", ["NTC-1", "NOT-OURS"],
                                                 refused=("TPL-1",))) == "accepted"
    assert wechat.callback(store, standin.accept("openid-x", ["NTC-1"])) == "ignored", \
        "an OpenID no guest is"
    assert store.scalar("SELECT COUNT(*) FROM wechat_notices") == 1
    assert follower(store, a["id"])["notices"] == {"NTC-1": 1}
    assert follower(store, b["id"])["notices"] == {}
    made = campaign(store, "新菜尝鲜", NOTICE_WORDING)
    shown = {p["member_id"]: p for p in preview_messages(store, made, [a["id"], b["id"]], None)}
    assert shown[a["id"]]["status"] == "queued"
    assert (shown[b["id"]]["status"], shown[b["id"]]["reason"]) == (
        "skipped", "has not accepted this WeChat notice (订阅通知)")
    scheduler_for(store).tick()
    [sent] = standin.messages
    name = get_member(store, a["id"])["name"]
    assert (sent["touser"], sent["template_id"], sent["notice"]) == ("openid-0", "NTC-1", True)
    assert sent["content"] == f"新菜上线：老客小馆送您20.00元\n{name}，期待您来尝鲜"
    messages = {m["member_id"]: m for m in list_messages(store, made["id"])}
    assert (messages[a["id"]]["status"], messages[a["id"]]["provider_ref"]) == ("sent", None)
    assert messages[b["id"]]["status"] == "skipped"
    assert follower(store, a["id"])["notices"] == {"NTC-1": 0}, "the acceptance is used up"

    clock.advance(seconds=3)
    report = standin.notice_sent(sent["msgid"], clock().timestamp())
    assert wechat.callback(store, report) == "settled"
    [delivered] = list_messages(store, made["id"], "delivered")
    assert (delivered["member_id"], delivered["provider_ref"]) == (a["id"], str(sent["msgid"]))
    assert wechat.callback(store, report) == "repeated", "WeChat's retry is taken once"
    again = standin.notice_sent(sent["msgid"], clock().timestamp() + 1)
    assert wechat.callback(store, again) == "ignored", "settled once"
    again = campaign(store, "新菜尝鲜二", NOTICE_WORDING)
    scheduler_for(store).tick()
    assert {m["reason"] for m in list_messages(store, again["id"])} == {
        "has not accepted this WeChat notice (订阅通知)"}
    assert len(standin.messages) == 1

    clock.advance(minutes=1)
    for _ in range(2):
        wechat.callback(store, standin.accept("openid-0", ["NTC-1"]))
    assert follower(store, a["id"])["notices"] == {"NTC-1": 2}
    clock.advance(minutes=1)
    # WeChat's own examples put a turn-down under the pop-up's tag
    turned_down = standin.turn_down("openid-0", "NTC-1").replace(
        b"SubscribeMsgChangeEvent", b"SubscribeMsgPopupEvent")
    assert wechat.callback(store, turned_down) == "withdrawn"
    assert follower(store, a["id"])["notices"] == {"NTC-1": 0}
    assert follower(store, a["id"])["following"] is True, "turning a notice down is not leaving"
    clock.advance(minutes=1)
    wechat.callback(store, standin.accept("openid-0", ["NTC-1"]))
    assert follower(store, a["id"])["notices"] == {"NTC-1": 1}, "accepted again since"


def test_a_notice_turned_down_does_not_go_and_a_relinked_guest_keeps_no_old_acceptance(
        store, standin, clock):
    a, _ = followers(store, standin)
    wechat.callback(store, standin.accept("openid-0", ["NTC-1"]))
    clock.current = clock.current.replace(hour=22)  # quiet hours: the notice waits
    made = campaign(store, "新菜尝鲜", NOTICE_WORDING)
    scheduler_for(store).tick()
    clock.advance(minutes=5)
    wechat.callback(store, standin.turn_down("openid-0", "NTC-1"))
    clock.advance(hours=12)
    scheduler_for(store).tick()
    assert standin.messages == []
    assert {(m["status"], m["reason"]) for m in list_messages(store, made["id"])} == {
        ("skipped", "has not accepted this WeChat notice (订阅通知)")}

    wechat.callback(store, standin.accept("openid-0", ["NTC-1"]))
    qr = account(store).follow_qr(store, a["id"])
    assert wechat.callback(store, standin.scan(qr["url"], "openid-9")) == "linked"
    assert store.scalar("SELECT COUNT(*) FROM wechat_notices WHERE openid = 'openid-0'") == 0
    wechat.callback(store, standin.accept("openid-9", ["NTC-1"]))
    erase_member(store, a["id"], actor="test")
    assert store.scalar("SELECT COUNT(*) FROM wechat_notices") == 0


def test_a_notice_that_did_not_go_leaves_the_acceptance_and_wechat_has_the_last_word(
        store, standin, clock):
    a, b = followers(store, standin)
    wechat.callback(store, standin.accept("openid-0", ["NTC-1"]))
    store.settings.messaging.max_attempts = 1
    standin.fail_next = 1
    made = campaign(store, "新菜尝鲜", NOTICE_WORDING)
    scheduler_for(store).tick()
    [failed] = list_messages(store, made["id"], "failed")
    assert failed["member_id"] == a["id"] and "HTTP 503" in failed["reason"]
    assert follower(store, a["id"])["notices"] == {"NTC-1": 1}, "what did not go used nothing"

    # WeChat told the hub of an acceptance it no longer holds (another hub of the chain
    # sharing the account used it): WeChat's 43101 settles it
    assert wechat.callback(store, notice_xml("openid-1", "subscribe_msg_popup_event",
                                             "SubscribeMsgPopupEvent", [{
                                                 "TemplateId": "NTC-1",
                                                 "SubscribeStatusString": "accept"}])
                           ) == "accepted"
    again = campaign(store, "新菜尝鲜二", NOTICE_WORDING)
    scheduler_for(store).tick()
    messages = {m["member_id"]: m for m in list_messages(store, again["id"])}
    assert messages[a["id"]]["status"] == "sent"
    assert messages[b["id"]]["status"] == "failed" and "43101" in messages[b["id"]]["reason"]
    assert [m["touser"] for m in standin.messages] == ["openid-0"]
    assert follower(store, b["id"])["notices"] == {"NTC-1": 0}
    assert follower(store, b["id"])["following"] is True, "43101 for a notice is not leaving"
    assert get_member(store, b["id"])["marketing_consent"] is True

    clock.advance(seconds=2)
    assert wechat.callback(store, standin.notice_sent(
        standin.messages[0]["msgid"], clock().timestamp(), "failed:system failed")) == "settled"
    assert messages[a["id"]]["id"] in {m["id"] for m in list_messages(store, again["id"],
                                                                      "failed")}
    assert follower(store, a["id"])["notices"] == {"NTC-1": 0}, \
        "WeChat took it: its failure to reach the guest gives no acceptance back"


def test_a_wechat_campaign_must_use_a_template_wording(store, standin):
    with pytest.raises(InvalidInput, match="set: TPL-1"):
        campaign(store, wording="{name}，好久不见！")
    store.settings.messaging.wechat.templates = [
        WeChatTemplate(id="TPL-2", text="{name}你好", params={"thing1": "{nme}"})]
    with pytest.raises(InvalidInput, match="unknown placeholder"):
        campaign(store, wording="{name}你好")


def test_safe_mode_opens_only_what_the_account_sealed(store, standin):
    settings = store.settings.messaging.wechat
    settings.encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    [a] = followers(store, standin, 1)
    query, body = encrypted(standin.leave("openid-0"), TOKEN, settings.encoding_aes_key,
                            "wx-app")
    args = (query["msg_signature"], query["timestamp"], query["nonce"])
    assert wechat.opened(settings, event_xml("openid-0", "unsubscribe"), *args) is None, \
        "a plaintext event where only sealed ones come"
    _, other = encrypted(event_xml("openid-0", "subscribe"), TOKEN, settings.encoding_aes_key,
                         "wx-app")
    assert wechat.opened(settings, other, *args) is None, "a body swapped under a signature"
    sealed, foreign = encrypted(standin.leave("openid-0"), TOKEN, settings.encoding_aes_key,
                                "wx-another")
    assert wechat.opened(settings, foreign, sealed["msg_signature"], sealed["timestamp"],
                         sealed["nonce"]) is None, "sealed for another account"
    event = wechat.opened(settings, body, *args)
    assert wechat.callback(store, event) == "unfollowed"
    assert follower(store, a["id"])["following"] is False


# -- over HTTPS: the kiosk's QR and WeChat's callback -----------------------------------------

@pytest.fixture(scope="module")
def running(tmp_path_factory):
    fake = WeChatStandin("wx-app", "wx-secret", {"TPL-1": TEMPLATE})
    hub = RunningHub(tmp_path_factory.mktemp("wechat") / "home", env={
        "LAOKE_MESSAGING_WECHAT_APP_ID": "wx-app", "LAOKE_MESSAGING_WECHAT_APP_SECRET":
        "wx-secret", "LAOKE_MESSAGING_WECHAT_TOKEN": TOKEN,
        "LAOKE_MESSAGING_WECHAT_API_BASE": fake.url}).start(timeout=60)
    yield hub, fake
    hub.stop()
    fake.close()


def test_the_callback_refuses_what_wechat_did_not_sign(running):
    hub, fake = running
    callback = f"{hub.url}/api/v1/wechat/callback"
    good = signature_query(TOKEN)
    echo = httpx.get(callback, params={**good, "echostr": "e-123"}, verify=hub.verify)
    assert (echo.status_code, echo.text) == (200, "e-123")
    forged = signature_query("not-the-token")
    assert httpx.get(callback, params={**forged, "echostr": "x"},
                     verify=hub.verify).status_code == 401
    old = signature_query(TOKEN, int(time.time()) - 3600)
    with hub.client() as owner:
        kiosk = owner.post("/devices", json={"name": "门口", "role": "kiosk"}).json()["token"]
    with hub.client(kiosk) as door:
        joined = signup(door, "13800138000").json()
        qr = door.post("/wechat/follow-qr", json={"member_qr": joined["qr"]})
        assert qr.status_code == 200, qr.text
        assert door.post("/wechat/follow-qr", json={
            "member_qr": joined["qr"] + "0"}).status_code == 422, "a tampered member QR"
    xml = fake.scan(qr.json()["url"], "openid-http")
    for refused in (forged, old, {}):
        answer = httpx.post(callback, params=refused, content=xml, verify=hub.verify)
        assert answer.status_code == 401
    with home_db(hub.home) as db:
        assert db.execute("SELECT COUNT(*) FROM wechat_followers").fetchone()[0] == 0
    answer = httpx.post(callback, params=signature_query(TOKEN), content=xml, verify=hub.verify)
    assert (answer.status_code, answer.text) == (200, "success")
    with home_db(hub.home) as db:
        assert db.execute("SELECT member_id, openid, following FROM wechat_followers"
                          ).fetchall() == [(joined["id"], "openid-http", 1)]
    bad = httpx.post(callback, params=signature_query(TOKEN), content=b"<xml><oops",
                     verify=hub.verify)
    assert bad.status_code == 422


def test_the_kiosk_shows_the_follow_qr_after_signup_and_for_a_scanned_member_qr(running, page):
    hub, fake = running
    with hub.client() as owner:
        added = owner.post("/devices", json={"name": "门口", "role": "kiosk",
                                             "pair_link": True}).json()
    page.goto(added["pair_url"].replace(added["pair_url"].split("/pair")[0], hub.url))
    page.wait_for_selector("#member-scan:not([hidden])")
    page.fill("input[name=phone]", "13900139000")
    page.fill("input[name=name]", "李雷")
    page.check("input[name=marketing_consent]")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/members")) as signed:
        page.click("#signup button[type=submit]")
    member_qr = signed.value.json()["qr"]
    page.wait_for_selector("#wechat-qr")
    assert page.is_visible("#member-qr"), "the member QR stays, the follow QR is beside it"
    urls = set(fake.scenes)
    shown = page.get_attribute("#wechat-qr", "src")
    assert any(url.replace(":", "%3A").replace("/", "%2F") in shown for url in urls)

    page.click("#finish")
    page.fill("input[name=member_qr]", member_qr + "0")
    page.click("#member-scan button[type=submit]")
    page.wait_for_selector("#scan-error:not(:empty)")
    assert page.text_content("#scan-error") == "这个会员码无效"
    page.fill("input[name=member_qr]", member_qr)
    page.click("#member-scan button[type=submit]")
    page.wait_for_selector("#wechat-qr")
    assert page.text_content("#done-title") == "关注本店公众号"
    assert not page.is_visible("#member-qr")


def test_a_push_wechat_sends_again_is_taken_once(store, standin):
    """WeChat pushes an event again when the hub's answer is late: an acceptance counted
    twice would let a notice go the guest never accepted."""
    [guest] = followers(store, standin, n=1)
    accepted = standin.accept("openid-0", ["NTC-1"])
    assert wechat.callback(store, accepted) == "accepted"
    assert wechat.callback(store, accepted) == "repeated"
    assert follower(store, guest["id"])["notices"] == {"NTC-1": 1}
    assert wechat.callback(store, standin.accept("openid-0", ["NTC-1"])) == "accepted", \
        "a second acceptance is its own push"
    assert follower(store, guest["id"])["notices"] == {"NTC-1": 2}
