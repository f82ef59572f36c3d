"""Campaigns, segment previews, messages and the guest's unsubscribe link."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ConfigDict, Field

from ..domain import campaigns as book
from ..domain.audience import pick
from ..domain.errors import InvalidInput
from ..domain.members import member_row, member_view
from ..domain.outreach import list_messages, unsubscribe, valid_token
from ..domain.replies import reply_from
from ..sms import aliyun_pushed, tencent_pushed
from .auth import Caller, hub_of, require
from .models import Body

router = APIRouter(tags=["campaigns"])
unsubscribe_page = APIRouter(include_in_schema=False)
Json = dict[str, Any]


class Rules(Body):
    """Audience rules (see hub/domain/audience.py); checked by the domain, which names the
    first bad rule."""

    model_config = ConfigDict(extra="allow")


class CampaignBody(Body):
    model_config = ConfigDict(extra="allow")


def _wake(request: Request) -> None:
    """Let the scheduler look now: a campaign switched on should not wait for the next tick."""
    scheduler = hub_of(request).campaigns
    if scheduler is not None:
        scheduler.wake.set()


@router.post("/segments/preview", summary="How many guests rules pick, before anything is sent")
def preview(body: Rules, request: Request,
            who: Annotated[Caller, Depends(require("segment.read"))],
            limit: Annotated[int, Query(ge=0, le=200)] = 20) -> Json:
    store = hub_of(request).store()
    picks = pick(store, body.model_dump())
    return {"count": len(picks), "members": [
        member_view(store, member_row(store, p.member_id), masked=who.masked)
        for p in picks[:limit]]}


@router.get("/campaigns", summary="Every campaign, the active ones first")
def campaigns(request: Request,
              _: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    return {"campaigns": book.list_campaigns(hub_of(request).store())}


@router.post("/campaigns", status_code=201, summary="Make a campaign (switched off unless "
             "`active` is true)")
def create(body: CampaignBody, request: Request,
           who: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    made = book.create_campaign(hub_of(request).store(), body.model_dump(), actor=who.actor)
    _wake(request)
    return made


@router.get("/campaigns/{campaign_id}", summary="One campaign")
def show(campaign_id: str, request: Request,
         _: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    return book.get_campaign(hub_of(request).store(), campaign_id)


@router.patch("/campaigns/{campaign_id}", summary="Change a campaign, or switch it on or off")
def edit(campaign_id: str, body: CampaignBody, request: Request,
         who: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    saved = book.update_campaign(hub_of(request).store(), campaign_id, body.model_dump(),
                                 actor=who.actor)
    _wake(request)
    return saved


@router.post("/campaigns/{campaign_id}/run", summary="Run a scheduled campaign now")
def run(campaign_id: str, request: Request,
        who: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    hub = hub_of(request)
    result = book.run_campaign(hub.store(), campaign_id, actor=who.actor)
    hub.events.publish("campaign.ran", result)
    _wake(request)
    return result


@router.get("/campaigns/{campaign_id}/preview", summary="The exact messages a sample of the "
            "audience would get now; nothing is issued or sent")
def preview_messages(campaign_id: str, request: Request,
                     _: Annotated[Caller, Depends(require("campaign.manage"))],
                     sample: Annotated[int, Query(ge=0, le=50)] = 5) -> Json:
    return book.preview_campaign(hub_of(request).store(), campaign_id, sample)


@router.get("/campaigns/{campaign_id}/results", summary="Treated against control: the lift")
def results(campaign_id: str, request: Request,
            _: Annotated[Caller, Depends(require("campaign.manage"))]) -> Json:
    return book.campaign_results(hub_of(request).store(), campaign_id)


@router.get("/messages", summary="Campaign messages and their fate, newest first")
def messages(request: Request, _: Annotated[Caller, Depends(require("campaign.manage"))],
             campaign_id: str | None = None,
             status: Literal["queued", "sending", "sent", "delivered", "held", "failed",
                             "skipped", "unconfirmed"] | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Json:
    return {"messages": list_messages(hub_of(request).store(), campaign_id, status, limit)}


class Reply(Body):
    sender: Annotated[str, Field(alias="from", min_length=1, max_length=32)]
    text: Annotated[str, Field(max_length=500)]


@router.post("/messages/replies", summary="A guest's SMS reply, relayed by the gateway "
             "(Authorization: Bearer <messaging.webhook_token>); TD or 退订 unsubscribes")
def sms_reply(body: Reply, request: Request,
              authorization: Annotated[str | None, Header()] = None) -> Json:
    hub = hub_of(request)
    secret = hub.settings.messaging.webhook_token
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        raise HTTPException(401, "replies need the gateway's token (messaging.webhook_token)")
    return {"action": reply_from(hub.store(), body.sender, body.text)}


@router.post("/sms/aliyun/{kind}", summary="Alibaba Cloud SMS pushes: delivery reports "
             "(SmsReport) or guests' replies (SmsUp), ?token=<messaging.sms.callback_token>")
def aliyun_push(kind: Literal["reports", "replies"], items: list[dict[str, Any]],
                request: Request, token: str = "") -> Json:
    _pushed_with_token(request, token)
    aliyun_pushed(hub_of(request).store(), kind, items)
    return {"code": 0, "msg": "接收成功"}  # the answer Alibaba expects, else it pushes again


@router.post("/sms/tencent/{kind}", summary="Tencent Cloud SMS pushes: delivery reports "
             "(a list) or a guest's reply, ?token=<messaging.sms.callback_token>")
def tencent_push(kind: Literal["reports", "replies"],
                 body: list[dict[str, Any]] | dict[str, Any], request: Request,
                 token: str = "") -> Json:
    _pushed_with_token(request, token)
    tencent_pushed(hub_of(request).store(), kind, body)
    return {"result": 0, "errmsg": "OK"}  # the answer Tencent expects, else it pushes again


def _pushed_with_token(request: Request, token: str) -> None:
    """The providers' pushes are unsigned: the URL's token, set in their console, is the
    only proof a push came from them."""
    secret = hub_of(request).settings.messaging.sms.callback_token
    if not secret or not hmac.compare_digest(token.encode(), secret.encode()):
        raise HTTPException(401, "pushes need the callback token (messaging.sms.callback_token)")


PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><body style="font-family: sans-serif; padding: 2em">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""
INVALID = PAGE.format(title="链接无效 Invalid link", text="这个退订链接无效。This link is not "
                      "valid.", form="")


@unsubscribe_page.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_confirm(token: str, request: Request) -> HTMLResponse:
    """The link in a message asks first: mail scanners open links, and must not unsubscribe
    anyone. The button (or a mail client's one-click POST, RFC 8058) does it."""
    store = hub_of(request).store()
    if not valid_token(store, token):
        return HTMLResponse(INVALID, 400)
    return HTMLResponse(PAGE.format(
        title="退订营销信息 Unsubscribe", text="不再接收我们的优惠信息？Stop our offers?",
        form='<form method="post"><button type="submit" name="confirm" value="yes" '
             'style="font-size: 1.5em">退订 Unsubscribe</button></form>'))


@unsubscribe_page.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_now(token: str, request: Request) -> HTMLResponse:
    try:
        unsubscribe(hub_of(request).store(), token)
    except InvalidInput:
        return HTMLResponse(INVALID, 400)
    return HTMLResponse(PAGE.format(
        title="已退订 Unsubscribed",
        text="您将不再收到营销信息。You will get no more offers from us.", form=""))
