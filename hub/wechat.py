"""The store's WeChat Official Account (服务号) through wechatpy: the follow QR the kiosk shows,
the callback WeChat calls when a guest follows, scans or leaves, and campaign messages as
template messages, or as subscription notices (订阅通知) to the guests who accepted them.

One `WeChatAccount` per account and process holds wechatpy's client, so the kiosk's QR and
the campaign sender share one cached access token, the account's stable one, which the hubs
of a chain sharing the account share too. wechatpy's own retry on an expired token
is off: it would ask for a new token and call again for as long as WeChat refuses, where one
refresh is all a 40001 deserves. A template message cannot be looked up or sent with a key
WeChat would recognise, so nothing is resent that may have gone: a send whose answer was lost
becomes `unconfirmed` for a person to check, and only a call WeChat cannot have taken (no
connection, a 5xx, a rate limit, a token refused before the send) is tried again later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from wechatpy import WeChatClient, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import BaseEvent, register_event
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.utils import check_signature

from .domain.config import WeChatSettings
from .domain.errors import InvalidInput, WeChatUnavailable
from .domain.store import Store
from .domain.wechat import GONE, NOTICE_USED_UP, new_scene
from .domain.wechat_events import NOTICE_EVENTS, Event, pushed
from .sending import SendFailed, Sent

log = logging.getLogger(__name__)

API_BASE = "https://api.weixin.qq.com"
TOKEN_REFUSED = {40001, 40014, 42001}  # the token is stale or was replaced: refresh once
NOT_FOLLOWING = {43004, 43101}  # not following, or refuses the account's messages
NO_NOTICE = 43101  # for a notice: none of this notice accepted is left (or it was turned down)
LATER = {-1, 45009, 45011, 45047}  # system busy, daily and minute quotas, too many at once


class _Client(WeChatClient):
    """wechatpy's client against `base` (WeChat, or a stand-in), its token fetched with the
    timeout every other call has (wechatpy's own fetch has none) and by one thread at a
    time."""

    def __init__(self, settings: WeChatSettings, timeout: float) -> None:
        super().__init__(settings.app_id, settings.app_secret, timeout=timeout,
                         auto_retry=False)
        self.base = (settings.api_base or API_BASE).rstrip("/")
        self.API_BASE_URL = f"{self.base}/cgi-bin/"
        self.token_lock = threading.Lock()

    def fetch_access_token(self) -> dict[str, Any]:
        """The account's stable token (getStableAccessToken, never forced): every hub of a
        chain sharing the account gets the same one while it is valid, so one store's fetch
        does not end another's, as each `cgi-bin/token` fetch would."""
        answer = self._http.post(f"{self.base}/cgi-bin/stable_token", timeout=self.timeout,
                                 json={"grant_type": "client_credential", "appid": self.appid,
                                       "secret": self.secret, "force_refresh": False})
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg"), client=self)
        expires_in = int(result.get("expires_in") or 7200)
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.expires_at = int(time.time()) + expires_in
        return result

    def refresh(self, stale: str | None) -> None:
        """A new token, unless another thread got one since `stale` was refused."""
        with self.token_lock:
            if self.session.get(self.access_token_key) == stale:
                self.fetch_access_token()

    @property
    def access_token(self) -> str:
        with self.token_lock:
            token: str = super().access_token
        return token


class WeChatRefused(SendFailed):
    """WeChat answered with an error code (`errcode`), or an HTTP error status (None)."""

    def __init__(self, reason: str, retryable: bool, errcode: int | None) -> None:
        super().__init__(reason, retryable)
        self.errcode = errcode


def _refused(what: str, error: WeChatClientException) -> WeChatRefused:
    code = error.errcode
    if code is None:  # an HTTP error status: the API's front refused it
        status = getattr(error.response, "status_code", 0) or 0
        return WeChatRefused(f"WeChat {what}: HTTP {status}", status >= 500 or status == 429,
                             None)
    return WeChatRefused(f"WeChat {what}: {code} {error.errmsg}",
                         code in LATER or code in TOKEN_REFUSED, code)


def _not_taken(error: requests.RequestException) -> bool:
    """Whether the request cannot have reached WeChat (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause: BaseException | None = error
    while cause is not None:
        reason = getattr(cause, "reason", None)
        if isinstance(cause, NewConnectionError | ConnectTimeoutError) or \
                isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return True
        cause = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) \
            else None
    return False


class WeChatAccount:
    def __init__(self, settings: WeChatSettings, timeout: float) -> None:
        self.settings = settings
        self.client = _Client(settings, timeout)

    def call(self, what: str, do: Callable[[], Any]) -> dict[str, Any]:
        """One API call; a token WeChat refuses is refreshed once and the call made again.
        Raises SendFailed: retryable when WeChat cannot have taken the call, `unconfirmed`
        when it went and no answer came back."""
        stale = self._token(what, None)
        try:
            return self._once(what, do)
        except WeChatRefused as error:
            if error.errcode not in TOKEN_REFUSED:
                raise
        self._token(what, stale)
        return self._once(what, do)

    @staticmethod
    def _once(what: str, do: Callable[[], Any]) -> dict[str, Any]:
        try:
            answer = do()
        except WeChatClientException as error:
            raise _refused(what, error) from None
        except requests.RequestException as error:
            if _not_taken(error):
                raise SendFailed(f"WeChat unreachable: {error}", True) from None
            raise SendFailed(f"WeChat did not answer {what}: {error}", False,
                             unconfirmed=True) from None
        if not isinstance(answer, dict):  # wechatpy hands back a response it cannot read
            raise SendFailed(f"WeChat answered {what} with no JSON", False, unconfirmed=True)
        return answer

    def _token(self, what: str, stale: str | None) -> str | None:
        """The cached access token (fetched if there is none or it is about to expire), or
        with `stale`, a new one in its place. Nothing has been sent when this fails."""
        try:
            if stale is not None:
                self.client.refresh(stale)
            return self.client.access_token
        except WeChatClientException as error:
            raise _refused(f"{what} (token)", error) from None
        except requests.RequestException as error:
            raise SendFailed(f"WeChat unreachable for a token: {error}", True) from None

    def follow_qr(self, store: Store, member_id: str) -> dict[str, Any]:
        """A temporary parametric QR whose scene stands for this guest: scanning it with WeChat
        follows the account and links the guest's OpenID (`callback`)."""
        try:
            return self.qr(new_scene(store, member_id), self.settings.qr_expire_s)
        except SendFailed as error:
            raise WeChatUnavailable(str(error)) from None

    def qr(self, scene: str, expire: int) -> dict[str, Any]:
        """The QR WeChat makes for a scene, valid `expire` seconds: this hub's, or one HQ
        makes for a store (sync/hq/wechat.py). SendFailed when WeChat made none."""
        answer = self.call("qrcode/create", lambda: self.client.qrcode.create({
            "expire_seconds": expire, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}}}))
        if not isinstance(answer.get("url"), str):
            raise SendFailed("WeChat qrcode/create answered no url", False)
        return {"url": answer["url"], "ticket": answer.get("ticket"),
                "expire_seconds": int(answer.get("expire_seconds") or expire)}

    def send(self, message: dict[str, Any]) -> Sent:
        """A campaign message as the account's template message, or as its subscription
        notice (which WeChat answers with no message id), to the follower's OpenID."""
        try:
            params = json.loads(message["params"] or "{}")
        except ValueError:
            params = None
        if not isinstance(params, dict) or not message["template"] or not message["address"]:
            raise SendFailed("the message has no WeChat template, parameters or OpenID", False)
        data = {name: {"value": str(value)} for name, value in params.items()}
        openid, template_id = str(message["address"]), str(message["template"])
        notice = self.settings.is_notice(template_id)
        try:
            if notice:
                answer = self.call("message/subscribe/bizsend", lambda: self.client.message
                                   .send_subscribe_message(openid, template_id, data))
            else:
                answer = self.call("message/template/send", lambda: self.client.message
                                   .send_template(openid, template_id, data))
        except WeChatRefused as error:
            if notice and error.errcode == NO_NOTICE:
                raise SendFailed(f"{error} (WeChat says the guest has not accepted this notice "
                                 "again: nothing more of it goes until they do)", False,
                                 refusal=NOTICE_USED_UP) from None
            if error.errcode in NOT_FOLLOWING:
                raise SendFailed(f"{error} (the guest no longer follows the account: WeChat "
                                 "consent withdrawn)", False, refusal=GONE) from None
            raise
        return Sent(ref=str(answer.get("msgid") or "") or None)


_accounts: dict[tuple[str, str, str, float], WeChatAccount] = {}
_accounts_lock = threading.Lock()


def wechat_account(settings: WeChatSettings, timeout: float) -> WeChatAccount:
    """The process's one client of this account: the sender and the kiosk's QR share its
    access token."""
    if not settings.configured:
        raise WeChatUnavailable("WeChat is not set up ([messaging.wechat] app_id and app_secret)")
    key = (settings.app_id, settings.app_secret, settings.api_base, timeout)
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = _accounts[key] = WeChatAccount(settings, timeout)
        account.settings = settings  # templates and the QR's lifetime as they are now
        return account


# -- the callback ----------------------------------------------------------------------------

def signed(settings: WeChatSettings, signature: str, timestamp: str, nonce: str,
           now: float) -> bool:
    """Whether WeChat signed this callback (sha1 of the sorted token, timestamp and nonce)
    lately: the signature covers no body, so an old one replayed is refused by its age."""
    if not settings.token:
        return False
    try:
        check_signature(settings.token, signature, timestamp, nonce)
        age = abs(now - int(timestamp))
    except (InvalidSignatureException, ValueError, TypeError):
        return False
    return age <= settings.callback_window_s


def opened(settings: WeChatSettings, xml: bytes, msg_signature: str, timestamp: str,
           nonce: str) -> bytes | None:
    """The event as WeChat wrote it. In 安全模式 (an EncodingAESKey set) it is decrypted once
    its msg_signature, which covers the encrypted body, checks out, so no body can be swapped
    in under a signature seen before; None when it does not, or when a plaintext event comes
    where only encrypted ones are expected."""
    if not settings.encoding_aes_key:
        return xml
    crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
    try:
        text: str = crypto.decrypt_message(xml, msg_signature, timestamp, nonce)
    except Exception as error:  # no <Encrypt>, a bad signature, padding or AppID
        log.warning("WeChat callback refused: %s", type(error).__name__)
        return None
    return text.encode()


class _NoticeEvent(BaseEvent):
    """What WeChat says of the account's subscription notices: a guest accepting or turning
    them down in a pop-up (in an article or page), turning one down later in WeChat's
    settings, or a notice's outcome. Each names its notices in a <List> (one element, or
    several), under a tag WeChat's own examples do not always spell as documented."""

    @property
    def notices(self) -> list[dict[str, str]]:
        data: dict[str, Any] = self._data
        for tag in ("SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent",
                    "SubscribeMsgSentEvent"):
            holder = data.get(tag)
            if isinstance(holder, dict):
                found = holder.get("List")
                items = found if isinstance(found, list) else [found]
                return [{k: str(v or "") for k, v in item.items()} for item in items
                        if isinstance(item, dict)]
        return []


for _kind in NOTICE_EVENTS:
    register_event(_kind)(type(f"_Notice_{_kind}", (_NoticeEvent,), {"event": _kind}))


def read_event(xml: bytes) -> Event | None:
    """One event WeChat pushed, as laoke keeps it (hub/domain/wechat_events.py); None for
    what is not an event (a guest's message to the account)."""
    try:
        event = parse_message(xml)
    except Exception as error:  # expat, or a document without <xml> or MsgType
        raise InvalidInput(f"not a WeChat event: {type(error).__name__}") from None
    if event is None or getattr(event, "type", "") != "event":
        return None
    try:
        stamp = int(event.time or 0)
    except (TypeError, ValueError):
        stamp = 0
    return Event(event=str(event.event or ""), openid=str(event.source or ""),
                 scene=str(getattr(event, "scene_id", "") or ""), time=stamp,
                 status=str(getattr(event, "status", "") or ""),
                 msgid=str(getattr(event, "id", "") or "")
                 if event.event == "templatesendjobfinish" else "",
                 notices=event.notices if isinstance(event, _NoticeEvent) else [])


def callback(store: Store, xml: bytes) -> str:
    """What the event WeChat pushed to this hub means here; returns what was done."""
    event = read_event(xml)
    return "ignored" if event is None else pushed(store, event)
