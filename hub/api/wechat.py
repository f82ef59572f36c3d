"""The WeChat Official Account: the follow QR the kiosk shows a guest, and the callback WeChat
calls (服务器配置's URL). No device token on the callback: WeChat signs each call with the
account's Token (`[messaging.wechat] token`), and a call not signed so, or signed too long
ago, is refused with 401 and changes nothing."""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import Field, StrictStr

from ..domain.errors import WeChatUnavailable
from ..domain.members import member_by_qr
from ..domain.store import Store
from ..domain.wechat import made_qr, scene_for_hq
from .auth import Caller, hub_of, require
from .models import Body

router = APIRouter(tags=["wechat"])
log = logging.getLogger(__name__)
Signed = Annotated[str, Query(max_length=128)]
# How long the kiosk's request waits for HQ's follow QR: the hand-over and HQ's answer each
# take up to a sync round (2 s), and WeChat's own answer a second.
QR_WAIT_S = 12.0


def account_module() -> ModuleType:
    """hub.wechat on first use: wechatpy (and requests) cost every hub start half a second
    of CPU, and only a hub with an account needs them."""
    from .. import wechat

    return wechat


class FollowQr(Body):
    member_qr: Annotated[StrictStr, Field(min_length=1, max_length=200)]


@router.post("/wechat/follow-qr", summary="The account's follow QR for the guest whose member "
             "QR this is (just signed up, or shown at the kiosk): scanning it with WeChat "
             "follows the account and links the guest")
def follow_qr(body: FollowQr, request: Request,
              who: Annotated[Caller, Depends(require("wechat.follow"))]) -> dict[str, Any]:
    hub = hub_of(request)
    store = hub.store()
    member = member_by_qr(store, body.member_qr)  # a forged or erased guest's QR: 404
    if hub.settings.messaging.route == "hq":
        return qr_from_hq(store, member["id"])
    account = account_module().wechat_account(hub.settings.messaging.wechat,
                                    hub.settings.messaging.timeout_s)
    return account.follow_qr(store, member["id"])


def qr_from_hq(store: Store, member_id: str, wait_s: float = QR_WAIT_S) -> dict[str, Any]:
    """The follow QR HQ makes with the chain's account for a scene this store hands it
    ([messaging] route = "hq"), waited for as long as a guest at the kiosk would wait; the
    hub holds no credentials of the account to make one itself. WeChatUnavailable when HQ
    made none, or has not answered (the store's link to HQ down, or HQ's relay not running)."""
    scene = scene_for_hq(store, member_id)
    deadline = time.monotonic() + wait_s
    while (made := made_qr(store, scene)) is None:
        if time.monotonic() > deadline:
            raise WeChatUnavailable("HQ has not made the follow QR: is the store's link to HQ "
                                    "up, and HQ's WeChat account set up?")
        time.sleep(0.2)
    return made


def _check(request: Request, signature: str, timestamp: str, nonce: str) -> None:
    settings = hub_of(request).settings.messaging.wechat
    if not account_module().signed(settings, signature, timestamp, nonce, time.time()):
        raise HTTPException(401, "not signed with the account's token ([messaging.wechat] "
                            "token), or signed too long ago")


@router.get("/wechat/callback", response_class=Response,
            summary="WeChat's check of the server URL: answers echostr when signed")
def callback_check(request: Request, signature: Signed = "", timestamp: Signed = "",
                   nonce: Signed = "", echostr: Signed = "") -> Response:
    _check(request, signature, timestamp, nonce)
    return Response(echostr, media_type="text/plain")


async def raw_body(request: Request) -> bytes:
    """The XML as WeChat sent it (a sync route cannot await it)."""
    return await request.body()


@router.post("/wechat/callback", response_class=Response,
             summary="WeChat's pushed events (XML): follow, scan, unfollow, template results")
def callback_event(request: Request, xml: Annotated[bytes, Depends(raw_body)],
                   signature: Signed = "", timestamp: Signed = "", nonce: Signed = "",
                   msg_signature: Signed = "") -> Response:
    _check(request, signature, timestamp, nonce)
    wechat = account_module()
    event = wechat.opened(hub_of(request).settings.messaging.wechat, xml, msg_signature,
                          timestamp, nonce)
    if event is None:
        raise HTTPException(401, "安全模式: the event is not encrypted and signed with the "
                            "account's EncodingAESKey and token")
    done = wechat.callback(hub_of(request).store(), event)
    log.info("WeChat callback: %s", done)
    return Response("success", media_type="text/plain")  # else WeChat pushes it again
