"""A local stand-in of the WeChat Official Account API on 127.0.0.1 (cgi-bin/stable_token,
qrcode/create, message/template/send, message/subscribe/bizsend), and of WeChat's server
calling the hub back.

Like WeChat it hands out the account's stable access token for the right AppID and
AppSecret (the same one to every caller while it is valid; a new one only when it ended or a
caller forces it, which ends the one before), refuses a call with a stale token (40001),
makes parametric QR codes and
remembers their scenes, and sends a template message only to a follower and only with one of
the account's templates, recording it as the guest's WeChat shows it (the template's
{{name.DATA}} filled in). A subscription notice goes only as often as the guest accepted
it (`accept`, then 43101, as WeChat's one-time subscriptions do), and its answer carries no
msgid. A guest scanning a QR is `scan`: the XML event WeChat would push;
`signature_query` signs it with the account's Token, `encrypted` seals it as 安全模式 does.
Faults on purpose: `fail_next` (HTTP
503, nothing sent), `rate_limit_next` (45009, nothing sent), `expire_token_next` (the token
ends before the call: 40001), `lose_answer_next` (sent, then the connection drops).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import urllib.parse
from typing import Any

from .httpstandin import QuietHandler, serve


def signature_query(token: str, timestamp: int | None = None) -> dict[str, str]:
    """What WeChat adds to the callback URL: sha1 of the sorted token, timestamp and nonce."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**9))
    signature = hashlib.sha1("".join(sorted([token, stamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": stamp, "nonce": nonce}


def encrypted(xml: bytes, token: str, aes_key: str, app_id: str) -> tuple[dict[str, str], bytes]:
    """An event as WeChat pushes it in 安全模式: the query (with msg_signature, over the
    encrypted body too) and the body, its <Encrypt> made with the account's EncodingAESKey."""
    from wechatpy.crypto import WeChatCrypto

    query = signature_query(token)
    sealed = WeChatCrypto(token, aes_key, app_id).encrypt_message(
        xml.decode(), query["nonce"], query["timestamp"])
    msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(\w+)\]\]>", sealed).group(1)
    body = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", sealed, re.S).group(1)
    return ({**query, "encrypt_type": "aes", "msg_signature": msg_signature},
            f"<xml><ToUserName><![CDATA[gh_laoke]]></ToUserName><Encrypt><![CDATA[{body}]]>"
            "</Encrypt></xml>".encode())


_last_stamp = [0]


def _stamp() -> int:
    """Now, in Unix seconds, and each event's own: WeChat names an event by its follower and
    CreateTime, which a push sent again keeps (so a hub takes it once)."""
    _last_stamp[0] = max(int(time.time()), _last_stamp[0] + 1)
    return _last_stamp[0]


def event_xml(openid: str, event: str, key: str = "", **more: str) -> bytes:
    """An event as WeChat pushes it (plaintext mode)."""
    fields = {"ToUserName": "gh_laoke", "FromUserName": openid,
              "CreateTime": str(_stamp()), "MsgType": "event", "Event": event,
              **({"EventKey": key} if key else {}), **more}
    return ("<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
            + "</xml>").encode()


def notice_xml(openid: str, event: str, tag: str, items: list[dict[str, str]],
               at: float | None = None) -> bytes:
    """A subscription notice's event, its notices each in a <List> under `tag`."""
    stamp = {} if at is None else {"CreateTime": str(int(at))}
    head = event_xml(openid, event, **stamp).decode().removesuffix("</xml>")
    lists = "".join("<List>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in item.items())
                    + "</List>" for item in items)
    return f"{head}<{tag}>{lists}</{tag}></xml>".encode()


class WeChatStandin:
    def __init__(self, app_id: str, secret: str, templates: dict[str, str]) -> None:
        self.app_id, self.secret, self.templates = app_id, secret, templates
        self.token = ""
        self.tokens_issued = 0
        self.followers: set[str] = set()
        self.accepted: dict[tuple[str, str], int] = {}  # (OpenID, notice) -> notices left
        self.scenes: dict[str, str] = {}  # a QR's url -> its scene
        self.messages: list[dict[str, Any]] = []  # what followers' WeChat showed, in order
        self.requests: list[str] = []  # the API paths called, in order
        self.fail_next = self.rate_limit_next = self.expire_token_next = 0
        self.lose_answer_next = 0
        self.lock = threading.Lock()
        standin = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.answer(b"")

            def do_POST(self) -> None:
                self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def answer(self, body: bytes) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                with standin.lock:
                    status, answer, drop = standin.handle(url.path, query, body)
                if drop:
                    self.close_connection = True
                    return
                self.send_json(status, answer)

        self.server, self.url = serve(Handler)

    def handle(self, path: str, query: dict[str, str],
               body: bytes) -> tuple[int, dict[str, Any], bool]:
        self.requests.append(path)
        if path == "/cgi-bin/stable_token":
            asked = json.loads(body or b"{}")
            if asked.get("grant_type") != "client_credential" or \
                    asked.get("appid") != self.app_id or asked.get("secret") != self.secret:
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}, False
            if asked.get("force_refresh") is True or self.token in ("", "ended"):
                self.token = secrets.token_hex(16)
                self.tokens_issued += 1
            return 200, {"access_token": self.token, "expires_in": 7200}, False
        if self.fail_next:
            self.fail_next -= 1
            return 503, {"errmsg": "service unavailable"}, False
        if self.expire_token_next:
            self.expire_token_next -= 1
            self.token = "ended"
        if not self.token or query.get("access_token") != self.token:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is "
                         "invalid or not latest"}, False
        data = json.loads(body or b"{}")
        if path == "/cgi-bin/qrcode/create":
            url = f"http://weixin.qq.com/q/{secrets.token_urlsafe(12)}"
            self.scenes[url] = data["action_info"]["scene"]["scene_str"]
            return 200, {"ticket": secrets.token_urlsafe(24), "url": url,
                         "expire_seconds": data["expire_seconds"]}, False
        if path == "/cgi-bin/message/template/send":
            if self.rate_limit_next:
                self.rate_limit_next -= 1
                return 200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, \
                    False
            if data.get("touser") not in self.followers:
                return 200, {"errcode": 43004, "errmsg": "require subscribe"}, False
            template = self.templates.get(data.get("template_id"))
            if template is None:
                return 200, {"errcode": 40037, "errmsg": "invalid template_id"}, False
            values = {k: v["value"] for k, v in data["data"].items()}
            content = re.sub(r"\{\{(\w+)\.DATA\}\}", lambda m: values.get(m.group(1), ""),
                             template)
            msgid = 1000 + len(self.messages)
            self.messages.append({"touser": data["touser"], "template_id": data["template_id"],
                                  "data": values, "content": content, "msgid": msgid})
            if self.lose_answer_next:
                self.lose_answer_next -= 1
                return 200, {}, True
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}, False
        if path == "/cgi-bin/message/subscribe/bizsend":
            key = (data.get("touser"), data.get("template_id"))
            if data.get("template_id") not in self.templates:
                return 200, {"errcode": 40037, "errmsg": "invalid template_id"}, False
            if self.accepted.get(key, 0) <= 0:
                return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}, False
            self.accepted[key] -= 1
            values = {k: v["value"] for k, v in data["data"].items()}
            content = re.sub(r"\{\{(\w+)\.DATA\}\}", lambda m: values.get(m.group(1), ""),
                             self.templates[data["template_id"]])
            self.messages.append({"touser": data["touser"], "template_id": data["template_id"],
                                  "data": values, "content": content,
                                  "msgid": 1000 + len(self.messages), "notice": True})
            return 200, {"errcode": 0, "errmsg": "ok"}, False
        return 404, {"errcode": 404, "errmsg": "no such api"}, False

    def scan(self, qr_url: str, openid: str) -> bytes:
        """A guest scanning a follow QR with WeChat: they follow the account, and WeChat
        pushes `subscribe` with the QR's scene (or `SCAN`, for one who followed before)."""
        scene = self.scenes[qr_url]
        if openid in self.followers:
            return event_xml(openid, "SCAN", scene)
        self.followers.add(openid)
        return event_xml(openid, "subscribe", f"qrscene_{scene}")

    def leave(self, openid: str) -> bytes:
        self.followers.discard(openid)
        return event_xml(openid, "unsubscribe")

    def job_finished(self, msgid: int, status: str = "success") -> bytes:
        message = next(m for m in self.messages if m["msgid"] == msgid)
        return event_xml(message["touser"], "TEMPLATESENDJOBFINISH", MsgID=str(msgid),
                         Status=status)

    def accept(self, openid: str, accepted: list[str],
               refused: tuple[str, ...] = ()) -> bytes:
        """A guest answering the account's notice pop-up: one of each accepted notice may go
        to them."""
        for template_id in accepted:
            self.accepted[(openid, template_id)] = self.accepted.get((openid, template_id), 0) + 1
        items = [(t, "accept") for t in accepted] + [(t, "reject") for t in refused]
        return notice_xml(openid, "subscribe_msg_popup_event", "SubscribeMsgPopupEvent", [
            {"TemplateId": t, "SubscribeStatusString": said, "PopupScene": "2"}
            for t, said in items])

    def turn_down(self, openid: str, template_id: str) -> bytes:
        """The guest turning the notice down in WeChat's notice settings."""
        self.accepted.pop((openid, template_id), None)
        return notice_xml(openid, "subscribe_msg_change_event", "SubscribeMsgChangeEvent", [
            {"TemplateId": template_id, "SubscribeStatusString": "reject"}])

    def notice_sent(self, msgid: int, at: float, status: str = "success") -> bytes:
        """WeChat's report of a notice, made at `at` (Unix seconds): it names the guest and
        the template, and its own msgid, which the send's answer never gave."""
        message = next(m for m in self.messages if m["msgid"] == msgid)
        return notice_xml(message["touser"], "subscribe_msg_sent_event", "SubscribeMsgSentEvent",
                          [{"TemplateId": message["template_id"], "MsgID": str(msgid),
                            "ErrorCode": "0" if status == "success" else "20001",
                            "ErrorStatus": status}], at)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
