"""WeChat through HQ ([messaging] route = "hq"): a chain's one Official Account, whose
credentials and callback only HQ holds. The store asks HQ for the kiosk's follow QR, WeChat
calls HQ back, HQ hands each event to the store whose guest it is, and sends the store's
template messages and notices, their fate coming back. Over a real mosquitto with HQ's
receiver, relay and callback server and a store's publisher (one set for the module), against
the WeChat stand-in; and once with `laoke hq run --wechat-port` and a store's daemon, as an
installer runs them."""

from __future__ import annotations

import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from types import SimpleNamespace

import httpx
import pytest

from hub.api.wechat import qr_from_hq
from hub.domain.campaigns import create_campaign, run_campaign
from hub.domain.config import WeChatTemplate, new_settings
from hub.domain.coupons import create_template
from hub.domain.errors import WeChatUnavailable
from hub.domain.ids import HQ_ORIGIN
from hub.domain.members import NewMember, add_member, erase_member, get_member
from hub.domain.outreach import list_messages
from hub.domain.replica import apply_page, conflicts, feed_position
from hub.domain.store import Store
from hub.domain.wechat import follow, follower, made_qr, new_scene, unfollow
from sync.chain import CHAIN_ID
from sync.hq import HqBook, Receiver
from sync.hq.relay import Relay, RelaySender
from sync.hq.wechat import make_qrs, route, serve_wechat
from sync.protocol import events_topic
from sync.publisher import Publisher
from tests.support.broker import Mosquitto
from tests.support.chain import hand_to_hq, make_store
from tests.support.homedb import home_db
from tests.support.hubproc import ROOT, RunningHub, signup, wait_until
from tests.support.wechat import WeChatStandin, event_xml, signature_query

TOKEN = "chain-callback-token"
WORDING = "{name}，{store}送您{offer}，{until}前有效"
TEMPLATE = "您好，{{thing1.DATA}}！\n优惠：{{thing2.DATA}}\n有效期至：{{time3.DATA}}"
PARAMS = {"thing1": "{name}", "thing2": "{offer}", "time3": "{until}"}
NOTICE = "新菜上线：{{thing1.DATA}}"
NOTICE_WORDING = "{name}，{store}新菜上线，送您{offer}"
NOTICE_PARAMS = {"thing1": "{store}送您{offer}"}


def templates():
    return [WeChatTemplate(id="TPL-1", text=WORDING, params=PARAMS),
            WeChatTemplate(id="NTC-1", kind="notice", text=NOTICE_WORDING, params=NOTICE_PARAMS)]


def chain_account(standin):
    """HQ's settings: the chain's account at the stand-in, sending at any hour."""
    settings = new_settings(CHAIN_ID)
    wechat = settings.messaging.wechat
    wechat.app_id, wechat.app_secret, wechat.token = "wx-chain", "wx-secret", TOKEN
    wechat.api_base, wechat.templates = standin.url, templates()
    settings.campaigns.quiet_start = settings.campaigns.quiet_end = "00:00"
    settings.messaging.timeout_s = 0.5
    return settings


def relaying(settings):
    """A store of the chain: the account named by its AppID, the templates' wording, and
    no secret of it."""
    settings.messaging.route = "hq"
    settings.messaging.wechat.app_id = "wx-chain"
    settings.messaging.wechat.templates = templates()
    settings.campaigns.quiet_start = settings.campaigns.quiet_end = "00:00"
    return settings


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("wechat-hq")
    standin = WeChatStandin("wx-chain", "wx-secret", {"TPL-1": TEMPLATE, "NTC-1": NOTICE})
    broker = Mosquitto(root / "broker").start()
    book = HqBook(root / "hq.db")
    receiver = Receiver(book, broker.url).start()
    hq = chain_account(standin)
    sender = RelaySender(book, hq, every_s=0.2).start()
    callback = serve_wechat(book.url, book.clock, hq.messaging.wechat, 0)
    store = make_store(root, "s-wx", broker, relaying(new_settings("s-wx")))
    publisher = Publisher(store).start()
    try:
        yield SimpleNamespace(book=book, store=store, standin=standin,
                              url=f"http://127.0.0.1:{callback.server_address[1]}"
                                  "/wechat/callback")
    finally:
        publisher.stop()
        callback.shutdown()
        sender.stop()
        receiver.stop()
        broker.stop()
        standin.close()


def push(chain, xml):
    """WeChat pushing an event to the account's server URL, which HQ serves."""
    return httpx.post(chain.url, params=signature_query(TOKEN), content=xml)


def campaign(store, name, wording=WORDING):
    template = create_template(store, f"{name}券", "amount_off", amount_fen=2000, valid_days=30)
    made = create_campaign(store, {
        "name": name, "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]}, "message_zh": wording,
        "channels": ["wechat"], "schedule": {"run": "once"}, "active": True})
    run_campaign(store, made["id"])
    return {m["member_id"]: m for m in list_messages(store, made["id"])}


def status_of(store, message_id):
    return store.scalar("SELECT status FROM messages WHERE id = ?", (message_id,))


def linked(chain, name, phone, openid):
    """A guest who signed up at the store and scanned the QR HQ made for its kiosk."""
    store = chain.store()
    guest = add_member(store, NewMember(name=name, phone=phone, marketing_consent=True))
    qr = qr_from_hq(store, guest["id"])
    answer = push(chain, chain.standin.scan(qr["url"], openid))
    assert (answer.status_code, answer.text) == (200, "success")
    wait_until(lambda: (follower(store, guest["id"]) or {}).get("following"))
    assert follower(store, guest["id"])["openid"] == openid
    return guest


def test_hq_makes_the_qr_routes_the_follow_and_sends_the_stores_messages_once(chain):
    store, standin = chain.store(), chain.standin
    guest = linked(chain, "王芳", "13800138000", "openid-a")
    # HQ learnt who follows through this store from the store's own event, not the scan.
    wait_until(lambda: [tuple(r) for r in chain.book.conn.execute(
        "SELECT store_id, member_id FROM hq_wechat_followers WHERE openid = 'openid-a'"
    )] == [("s-wx", guest["id"])])

    messages = campaign(store, "欢迎回来")
    message = messages[guest["id"]]
    assert message["status"] == "held", "the store holds no secret of the account"
    wait_until(lambda: status_of(store, message["id"]) == "sent")
    [sent] = [m for m in standin.messages if m["touser"] == "openid-a"]
    assert sent["template_id"] == "TPL-1" and sent["data"]["thing1"] == "王芳"
    assert store.scalar("SELECT provider_ref FROM messages WHERE id = ?",
                        (message["id"],)) == str(sent["msgid"])
    # WeChat's word on it comes to HQ, which settles its own copy and hands it to the store.
    assert push(chain, standin.job_finished(sent["msgid"])).status_code == 200
    wait_until(lambda: status_of(store, message["id"]) == "delivered")
    assert chain.book.conn.execute("SELECT status FROM hq_messages WHERE id = ?",
                                   (message["id"],)).fetchone()[0] == "delivered"
    assert len([m for m in standin.messages if m["touser"] == "openid-a"]) == 1

    # A notice goes once for each acceptance the guest gave in the pop-up, heard by HQ.
    assert push(chain, standin.accept("openid-a", ["NTC-1"])).status_code == 200
    wait_until(lambda: follower(store, guest["id"])["notices"] == {"NTC-1": 1})
    first = campaign(store, "新菜一", NOTICE_WORDING)[guest["id"]]
    assert first["status"] == "held"
    second = campaign(store, "新菜二", NOTICE_WORDING)[guest["id"]]
    assert second["status"] == "skipped", "the one acceptance is taken by the first"
    wait_until(lambda: status_of(store, first["id"]) == "sent")
    assert [m["template_id"] for m in standin.messages if m["touser"] == "openid-a"] == [
        "TPL-1", "NTC-1"]

    # Leaving the account, told to HQ, withdraws WeChat consent at the store.
    assert push(chain, standin.leave("openid-a")).status_code == 200
    wait_until(lambda: follower(store, guest["id"])["following"] is False)
    assert get_member(store, guest["id"])["marketing_consent"] is True, "SMS consent stands"


def test_wechat_refusing_a_relayed_message_tells_the_store_what_it_says_of_the_guest(chain):
    store, standin = chain.store(), chain.standin
    guest = linked(chain, "李雷", "13900139000", "openid-b")
    standin.followers.discard("openid-b")  # left while nobody was told (a lost push)
    message = campaign(store, "再来")[guest["id"]]
    wait_until(lambda: status_of(store, message["id"]) == "failed")
    assert "43004" in store.scalar("SELECT reason FROM messages WHERE id = ?",
                                   (message["id"],))
    assert follower(store, guest["id"])["following"] is False, "withdrawn with the failure"


def test_an_erasure_leaves_hq_nothing_to_route_by(chain):
    store = chain.store()
    guest = linked(chain, "韩梅", "13700137000", "openid-c")
    assert push(chain, chain.standin.leave("openid-c")).status_code == 200
    wait_until(lambda: follower(store, guest["id"])["following"] is False)
    erase_member(store, guest["id"], actor="owner")

    def gone():
        book = chain.book.conn
        held = book.execute("SELECT COUNT(*) FROM hq_wechat_followers WHERE member_id = ?",
                            (guest["id"],)).fetchone()[0] + book.execute(
            "SELECT COUNT(*) FROM hq_wechat_scenes WHERE member_id = ?",
            (guest["id"],)).fetchone()[0]
        events = [json.loads(r[0]) for r in book.execute(
            "SELECT data FROM hq_events WHERE type IN ('wechat.event', 'wechat.follower')")]
        return held == 0 and not any("openid-c" in json.dumps(e) for e in events)
    wait_until(gone)
    assert push(chain, chain.standin.leave("openid-c")).status_code == 200, \
        "an OpenID no store links is for nobody, and WeChat is told it was heard"


def test_the_callback_at_hq_refuses_what_wechat_did_not_sign_or_cannot_be_an_event(chain):
    good = signature_query(TOKEN)
    echo = httpx.get(chain.url, params={**good, "echostr": "e-77"})
    assert (echo.status_code, echo.text) == (200, "e-77")
    xml = chain.standin.leave("openid-z")
    forged = httpx.post(chain.url, params=signature_query("not-the-token"), content=xml)
    assert forged.status_code == 401
    assert push(chain, b"<xml><oops").status_code == 400
    assert push(chain, b"<xml>" + b" " * 70_000 + b"</xml>").status_code == 413
    assert httpx.get(chain.url.replace("/wechat/callback", "/other"),
                     params=good).status_code == 404


@pytest.fixture
def at_hq(store, tmp_path):
    """A store of the chain, a guest of it, and HQ's book."""
    relaying(store.settings)
    book = HqBook(tmp_path / "hq.db")
    guest = add_member(store, NewMember(name="王芳", phone="13800138000",
                                        marketing_consent=True))
    yield book, guest
    book.conn.close()


def test_a_qr_hq_cannot_make_fails_at_the_kiosk_saying_why(store, at_hq):
    book, guest = at_hq
    with pytest.raises(WeChatUnavailable, match="HQ has not made"):
        qr_from_hq(store, guest["id"], wait_s=0.3)
    hand_to_hq(book, store)
    assert make_qrs(book, None) == 1  # HQ without an account
    page = json.loads(book.feed(store.store_id, feed_position(store)))
    apply_page(store, page["events"], page["position"])
    [scene] = [r[0] for r in store.conn.execute("SELECT scene FROM wechat_scenes")]
    with pytest.raises(WeChatUnavailable, match="HQ has no WeChat account"):
        made_qr(store, scene)


def hq_heard(path, member_id):
    """Whether HQ has the guest: the store's link to HQ is up (a first contact takes a
    publisher's round or two)."""
    if not path.exists():
        return False
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT 1 FROM hq_members WHERE id = ?", (member_id,)).fetchone()
        except sqlite3.OperationalError:  # HQ creating its tables
            return False


def test_hq_run_serves_the_callback_and_the_kiosk_gets_its_qr_through_hq(tmp_path):
    """`laoke hq run --wechat-port` and `laoke hub run --broker`, as an installer runs them,
    with the account's secret at HQ only."""
    standin = WeChatStandin("wx-chain", "wx-secret", {"TPL-1": TEMPLATE})
    broker = Mosquitto(tmp_path / "broker").start()
    with socket.socket() as probe:  # a port free now, for HQ's callback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_MESSAGING_WECHAT_APP_ID": "wx-chain",
           "LAOKE_MESSAGING_WECHAT_APP_SECRET": "wx-secret",
           "LAOKE_MESSAGING_WECHAT_TOKEN": TOKEN,
           "LAOKE_MESSAGING_WECHAT_API_BASE": standin.url}
    hq = subprocess.Popen([sys.executable, "-m", "hub", "--home", str(tmp_path / "hq"), "hq",
                           "run", "--broker", broker.url, "--wechat-port", str(port)],
                          env=env, stderr=subprocess.PIPE)
    hub = RunningHub(tmp_path / "store", "--broker", broker.url, "--store-id", "shop-wx",
                     env={"LAOKE_MESSAGING_ROUTE": "hq",
                          "LAOKE_MESSAGING_WECHAT_APP_ID": "wx-chain"})
    url = f"http://127.0.0.1:{port}/wechat/callback"
    try:
        hub.start()
        with hub.client() as owner:
            kiosk = owner.post("/devices", json={"name": "门口", "role": "kiosk"}).json()
        with hub.client(kiosk["token"]) as door:
            assert door.get("/signup/offers").json()["wechat"] is True
            joined = signup(door, "13800138000").json()
            wait_until(lambda: hq_heard(tmp_path / "hq" / "hq.db", joined["id"]), timeout=60)
            qr = door.post("/wechat/follow-qr", json={"member_qr": joined["qr"]}, timeout=30)
            assert qr.status_code == 200, qr.text
        assert qr.json()["url"] in standin.scenes, "WeChat made it, asked by HQ"
        answer = httpx.post(url, params=signature_query(TOKEN),
                            content=standin.scan(qr.json()["url"], "openid-run"))
        assert (answer.status_code, answer.text) == (200, "success")

        def following():
            with home_db(hub.home) as db:
                return db.execute("SELECT openid, following FROM wechat_followers WHERE "
                                  "member_id = ?", (joined["id"],)).fetchall()
        assert wait_until(following, timeout=30) == [("openid-run", 1)]
    finally:
        hub.stop()
        hq.terminate()
        _, err = hq.communicate(timeout=30)
        broker.stop()
        standin.close()
    assert hq.returncode == 0, err.decode()[-2000:]


PUSHED = itertools.count(1_700_000_000)  # each event's own CreateTime


def wechat_event(kind, openid, scene="", msgid="", status="", notices=()):
    return {"event": kind, "openid": openid, "scene": scene, "time": next(PUSHED),
            "status": status, "msgid": msgid, "notices": list(notices)}


def send(book, store_id, events, first=1):
    """A store's events, as its publisher hands them to HQ."""
    book.apply(events_topic(store_id), json.dumps({"schema": 1, "store": store_id, "events": [
        {"store": store_id, "seq": n, "id": f"{store_id}-{n}", "type": kind, "ts": "t",
         "data": data} for n, (kind, data) in enumerate(events, first)]}).encode())


def link(member_id, openid, following=True):
    return ("wechat.follower", {"member_id": member_id, "openid": openid,
                                "following": following, "changed_at": "t"})


LATER = "2099-01-01T00:00:00.000Z"


def wanted(scene, member_id, expires_at=LATER):
    return ("wechat.qr_wanted", {"scene": scene, "member_id": member_id,
                                 "expires_at": expires_at})


def test_hq_routes_by_scene_then_openid_and_forgets_an_erased_guest_on_either_engine(hq_db):
    book = HqBook(hq_db)
    send(book, "s-a", [wanted("m-live", "m-1"), wanted("m-gone", "m-2", "2020-01-01T00:00:00Z"),
                       link("m-1", "oA")])
    send(book, "s-b", [link("m-1", "oA"), ("wechat.qr_wanted", {"scene": "m-bad"})])
    assert route(book, wechat_event("subscribe", "oNew", "m-live")) == ["s-a"]
    assert route(book, wechat_event("subscribe", "oNew", "m-gone")) == [], \
        "an expired scene names no store, and no store linked the OpenID"
    assert sorted(route(book, wechat_event("unsubscribe", "oA"))) == ["s-a", "s-b"], \
        "a guest linked at two stores: both hear it"
    assert route(book, wechat_event("unsubscribe", "oNobody")) == []
    assert route(book, wechat_event("CLICK".lower(), "oA")) == [], "what no store acts on"
    page = json.loads(book.feed("s-b", 0))
    to_b = [e for e in page["events"] if e["type"] == "wechat.event"]
    assert [(e["data"]["store"], e["data"]["event"]["openid"]) for e in to_b] == [("s-b", "oA")]
    assert book.conn.execute("SELECT COUNT(*) FROM hq_wechat_scenes WHERE scene = 'm-bad'"
                             ).fetchone()[0] == 0, "a request without its guest is not kept"

    send(book, "s-a", [("member.erased", {"id": "m-1"})], first=4)
    left = [book.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE member_id = 'm-1'"
                              ).fetchone()[0] for table in ("hq_wechat_followers",
                                                            "hq_wechat_scenes")]
    assert left == [0, 0]
    kept = [json.loads(r[0]) for r in book.conn.execute(
        "SELECT data FROM hq_events WHERE type = 'wechat.event'")]
    assert kept and {e["event"]["openid"] for e in kept if e["member_id"] == "m-1"} == {"erased"}
    assert route(book, wechat_event("unsubscribe", "oA")) == []

    # A store that had not heard of the erasure links the guest after it: HQ keeps nothing.
    send(book, "s-b", [link("m-1", "oX")], first=3)
    assert route(book, wechat_event("unsubscribe", "oX")) == []
    assert not [r[0] for r in book.conn.execute("SELECT data FROM hq_events")
                if "oX" in r[0]], "the late link is kept redacted"
    book.conn.close()


def test_a_follow_through_another_stores_qr_reaches_the_store_that_linked_them(hq_db):
    book = HqBook(hq_db)
    send(book, "s-a", [link("m-1", "oA", following=False)])  # they had left the account
    send(book, "s-b", [wanted("m-b", "m-2")])
    assert sorted(route(book, wechat_event("subscribe", "oA", "m-b"))) == ["s-a", "s-b"]
    book.conn.close()


def test_a_push_wechat_sends_again_is_routed_once(hq_db):
    book = HqBook(hq_db)
    send(book, "s-a", [link("m-1", "oA")])
    accepted = wechat_event("subscribe_msg_popup_event", "oA", notices=[
        {"TemplateId": "NTC-1", "SubscribeStatusString": "accept"}])
    assert route(book, accepted) == ["s-a"]
    assert route(book, accepted) == [], "no answer came in time: WeChat pushed it again"
    book.conn.close()


def test_a_template_result_goes_to_the_store_hq_sent_it_for(hq_db):
    book = HqBook(hq_db)
    send(book, "s-a", [link("m-1", "o-old"), ("message.relayed", {
        "id": "msg-1", "member_id": "m-1", "channel": "wechat", "address": "o-old",
        "template": "TPL-1", "params": "{}", "body": "x"})])
    book.conn.execute("UPDATE hq_messages SET status = 'sent', provider_ref = '777'")
    send(book, "s-a", [link("m-1", "o-new")], first=3)  # the guest's WeChat since
    done = wechat_event("templatesendjobfinish", "o-old", msgid="777", status="success")
    assert route(book, done) == ["s-a"]
    assert book.conn.execute("SELECT status FROM hq_messages").fetchone()[0] == "delivered"
    [settled] = [json.loads(r[0]) for r in book.conn.execute(
        "SELECT data FROM hq_events WHERE type = 'message.settled'")]
    assert (settled["store"], settled["id"], settled["status"]) == ("s-a", "msg-1", "delivered")
    book.conn.close()


def test_one_acceptance_of_a_notice_is_one_notice_for_the_chain(tmp_path):
    """A guest linked at two stores accepts a notice once: the store that linked them last
    may send it, the other skips it."""
    book = HqBook(tmp_path / "hq.db")
    stores = []
    for store_id in ("s-a", "s-b"):
        store = Store(tmp_path / f"{store_id}.db", relaying(new_settings(store_id)))
        guest = add_member(store, NewMember(name="王芳", phone="13800138000",
                                            marketing_consent=True))
        follow(store, "oA", new_scene(store, guest["id"]))
        hand_to_hq(book, store)
        stores.append((store, guest["id"]))
    assert route(book, wechat_event("subscribe_msg_popup_event", "oA", notices=[
        {"TemplateId": "NTC-1", "SubscribeStatusString": "accept"}])) == ["s-b"]
    fates = []
    for store, member_id in stores:
        page = json.loads(book.feed(store.store_id, feed_position(store)))
        apply_page(store, page["events"], page["position"])
        fates.append(campaign(store, "新菜", NOTICE_WORDING)[member_id]["status"])
    assert fates == ["skipped", "held"]
    book.conn.close()


def test_a_refusal_this_store_does_not_know_still_settles_the_message(store):
    relaying(store.settings)
    guest = add_member(store, NewMember(name="王芳", phone="13800138000",
                                        marketing_consent=True))
    follow(store, "oA", new_scene(store, guest["id"]))
    message = campaign(store, "再来")[guest["id"]]
    apply_page(store, [{"store": HQ_ORIGIN, "seq": 1, "id": "h1", "type": "message.settled",
                        "ts": "t", "data": {"store": store.store_id, "id": message["id"],
                                            "status": "failed", "reason": "WeChat: 40037",
                                            "refusal": "template_gone"}}], 10**18)
    assert status_of(store, message["id"]) == "failed" and not conflicts(store)
    assert follower(store, guest["id"])["following"] is True


def test_an_event_redacted_by_an_erasure_links_no_openid(store):
    guest = add_member(store, NewMember(name="韩梅", phone="13700137000"))
    scene = new_scene(store, guest["id"])
    apply_page(store, [{"store": HQ_ORIGIN, "seq": 1, "id": "h1", "type": "wechat.event",
                        "ts": "t", "data": {"store": store.store_id, "member_id": guest["id"],
                                            "event": wechat_event("subscribe", "erased",
                                                                  scene)}}], 10**18)
    assert follower(store, guest["id"]) is None and not conflicts(store)


def test_the_kiosks_qr_is_made_between_a_campaigns_sends_and_once(tmp_path):
    """A campaign of many messages does not keep the guest at the kiosk waiting, and a QR
    two relay rounds look at once is made once."""
    standin = WeChatStandin("wx-chain", "wx-secret", {"TPL-1": TEMPLATE})
    book = HqBook(tmp_path / "hq.db")
    try:
        standin.followers.update(f"o{n}" for n in range(40))
        send(book, "s-a", [("message.relayed", {
            "id": f"msg-{n}", "member_id": f"m-{n}", "channel": "wechat", "address": f"o{n}",
            "template": "TPL-1", "params": json.dumps({"thing1": "王芳"}), "body": "x"})
            for n in range(40)] + [wanted("m-kiosk", "m-k")])
        settings = chain_account(standin)
        relay = Relay(book, settings)
        assert relay.run_once() == 40
        kinds = [r[0] for r in book.conn.execute("SELECT type FROM hq_events WHERE store_id = "
                                                 "? ORDER BY hq_seq", (HQ_ORIGIN,))]
        assert kinds.index("wechat.qr") == 0, "made before the campaign's sends"
        assert len(standin.scenes) == 1

        send(book, "s-a", [wanted("m-kiosk-2", "m-k")], first=42)
        other = HqBook(tmp_path / "hq.db")
        rounds = [threading.Thread(target=make_qrs, args=(b, relay.channels["wechat"]))
                  for b in (book, other)]
        for thread in rounds:
            thread.start()
        for thread in rounds:
            thread.join()
        other.conn.close()
        assert len(standin.scenes) == 2
        assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE type = 'wechat.qr'"
                                 ).fetchone()[0] == 2
    finally:
        book.conn.close()
        standin.close()


def test_a_qr_request_with_no_valid_expiry_is_not_made_and_holds_nothing_up(tmp_path):
    book = HqBook(tmp_path / "hq.db")
    send(book, "s-a", [wanted("m-1", "m-1", "soon")])
    assert make_qrs(book, None) == 0
    book.conn.close()


def test_the_callback_answers_while_a_client_stalls_and_after_its_database_went(postgres):
    """One client stalling mid-request holds only its own thread; a database connection
    lost answers 500 once (WeChat pushes the event again) and the next push is routed."""
    url = postgres.database()
    book = HqBook(url)
    send(book, "s-a", [link("m-1", "oA")])
    settings = chain_account(SimpleNamespace(url="http://127.0.0.1:9")).messaging.wechat
    server = serve_wechat(url, book.clock, settings, 0)
    callback = f"http://127.0.0.1:{server.server_address[1]}/wechat/callback"
    stalled = socket.create_connection(server.server_address)
    try:
        stalled.sendall(b"POST /wechat/callback HTTP/1.1\r\nContent-Length: 500\r\n\r\n<xml>")
        echo = httpx.get(callback, params={**signature_query(TOKEN), "echostr": "e-1"},
                         timeout=5)
        assert (echo.status_code, echo.text) == (200, "e-1")
        left = httpx.post(callback, params=signature_query(TOKEN),
                          content=event_xml("oA", "unsubscribe"), timeout=5)
        assert left.status_code == 200
        book.conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND pid <> pg_backend_pid()")
        again = event_xml("oA", "subscribe")
        first = httpx.post(callback, params=signature_query(TOKEN), content=again, timeout=5)
        assert first.status_code == 500
        retried = httpx.post(callback, params=signature_query(TOKEN), content=again, timeout=5)
        assert (retried.status_code, retried.text) == (200, "success")
        routed = [json.loads(r[0])["event"]["event"] for r in book.conn.execute(
            "SELECT data FROM hq_events WHERE type = 'wechat.event' ORDER BY hq_seq")]
        assert routed == ["unsubscribe", "subscribe"]
    finally:
        stalled.close()
        server.shutdown()
        book.conn.close()


def test_a_guest_who_left_the_account_has_what_waits_at_hq_skipped(store, at_hq):
    book, guest = at_hq
    follow(store, "oA", new_scene(store, guest["id"]))
    message = campaign(store, "再来")[guest["id"]]
    hand_to_hq(book, store)
    unfollow(store, "oA")
    hand_to_hq(book, store)
    assert book.conn.execute("SELECT status, reason FROM hq_messages").fetchone()[:] == (
        "skipped", "not following the WeChat account")
    page = json.loads(book.feed(store.store_id, feed_position(store)))
    apply_page(store, page["events"], page["position"])
    assert status_of(store, message["id"]) == "skipped"


def test_reports_after_an_erasure_or_in_one_second_are_each_settled_and_keep_no_openid(
        hq_db):
    book = HqBook(hq_db)
    send(book, "s-a", [link("m-1", "oA"), link("m-2", "oB")] + [("message.relayed", {
        "id": message_id, "member_id": member_id, "channel": "wechat", "address": openid,
        "template": "TPL-1", "params": "{}", "body": "x"}) for message_id, member_id, openid in (
            ("msg-1", "m-1", "oA"), ("msg-2", "m-1", "oA"), ("msg-3", "m-2", "oB"))])
    for n, message_id in enumerate(("msg-1", "msg-2", "msg-3")):
        book.conn.execute("UPDATE hq_messages SET status = 'sent', provider_ref = ? "
                          "WHERE id = ?", (str(700 + n), message_id))
    first = wechat_event("templatesendjobfinish", "oA", msgid="700", status="success")
    second = {**first, "msgid": "701"}  # the same guest, the same second
    assert route(book, first) == ["s-a"] and route(book, second) == ["s-a"]
    send(book, "s-a", [("member.erased", {"id": "m-2"})], first=6)
    assert route(book, wechat_event("templatesendjobfinish", "oB", msgid="702",
                                    status="success")) == [], "nothing of an erased guest"
    assert [tuple(r) for r in book.conn.execute(
        "SELECT id, status FROM hq_messages ORDER BY id")] == [
        ("msg-1", "delivered"), ("msg-2", "delivered"), ("msg-3", "delivered")]
    kept = [r[0] for r in book.conn.execute("SELECT data FROM hq_events")]
    assert not [data for data in kept if "oB" in data]
    seen = [tuple(r) for r in book.conn.execute("SELECT * FROM hq_wechat_seen")]
    assert len(seen) == 3 and not [r for r in seen if "oA" in str(r) or "oB" in str(r)]
    book.conn.close()


def test_hq_without_a_laoke_toml_reads_only_its_own_variables(tmp_path, monkeypatch):
    """An environment shared with a hub: the hub's variables are not HQ's to refuse."""
    from sync.chain import hq_settings

    for name, value in {"LAOKE_STORE_ID": "not an id!", "LAOKE_CHAIN_KEY": "short",
                        "LAOKE_API_PORT": "eighty", "LAOKE_MESSAGING_WECHAT_APP_ID": "wx-1",
                        "LAOKE_CAMPAIGNS_QUIET_START": "23:00"}.items():
        monkeypatch.setenv(name, value)
    settings = hq_settings(tmp_path)
    assert (settings.store_id, settings.messaging.wechat.app_id,
            settings.campaigns.quiet_start) == (CHAIN_ID, "wx-1", "23:00")
