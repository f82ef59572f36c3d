"""The delivery platforms' push receivers, and the group-buy vouchers' refund and flagged list.
No device token on a push: each is authenticated by the platform's own signature with this
store's app secret (`[delivery.*]`), and answered the way that platform expects, so it stops
retrying."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictStr

from printer import slips

from .. import groupbuy
from ..domain import delivery as book
from ..domain.errors import InvalidInput, LaokeError, NotFound
from ..domain.groupbuy import resolve, vouchers
from ..domain.platform_members import receive_meituan_card
from .auth import Caller, count_attempt, hub_of, require
from .models import Body, ShortText
from .printing import queued

router = APIRouter(tags=["delivery"])
Json = dict[str, Any]
log = logging.getLogger(__name__)


def bag_slip(request: Request, taken: book.Received, platform: str) -> None:
    """A new order's slip for the bag, with its claim code. The order is in the books already,
    so a slip that cannot be queued is logged (and reprinted from the console), never a
    refusal that would make the platform push it again."""
    if taken.order_id is None:
        return
    try:
        queued(request, slips.print_receipt(hub_of(request).store(), taken.order_id,
                                            actor=platform))
    except LaokeError as error:
        log.warning("delivery order %s: its slip was not queued: %s", taken.order_id,
                    error.message)


async def meituan_params(request: Request) -> dict[str, str]:
    """Every parameter Meituan signed: the query's and the form body's (URL-decoded)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {**dict(request.query_params), **dict(parse_qsl(body, keep_blank_values=True))}


async def eleme_push(request: Request) -> dict[str, Any]:
    try:
        push = json.loads(await request.body())
    except ValueError:
        raise InvalidInput("the push is not JSON") from None
    if not isinstance(push, dict):
        raise InvalidInput("the push must be a JSON object")
    return push


@router.post("/delivery/meituan/{event}", summary="美团外卖's push (order, cancel, refund, "
             "partrefund), "
             "signed with sig = md5(url?sorted params + app_secret); answers {\"data\": \"ok\"}")
def meituan(event: str, request: Request,
            params: Annotated[dict[str, str], Depends(meituan_params)]) -> Json:
    url = str(request.url.replace(query=""))
    bag_slip(request, book.receive_meituan(hub_of(request).store(), url, event, params),
             "meituan")
    return {"data": "ok"}


@router.post("/delivery/meituan/member/{action}", summary="美团's brand member card (品牌会员卡) "
             "asks whether the guest with this phone is a member (query) or opens their card "
             "(open), signed as Meituan's pushes are; answers {\"data\": {is_poi_member, "
             "poi_member_id, card_code, level_code}}")
def meituan_card(action: str, request: Request,
                 params: Annotated[dict[str, str], Depends(meituan_params)]) -> Json:
    url = str(request.url.replace(query=""))
    return {"data": dict(receive_meituan_card(hub_of(request).store(), url, action, params))}


@router.post("/delivery/eleme", summary="饿了么's push {requestId, type, message, timestamp, "
             "signature, ...}, signed with md5 of the sorted pairs + secret; answers "
             "{\"message\": \"ok\"}")
def eleme(request: Request, push: Annotated[dict[str, Any], Depends(eleme_push)]) -> Json:
    bag_slip(request, book.receive_eleme(hub_of(request).store(), push), "eleme")
    return {"message": "ok"}


class ClaimBody(Body):
    code: ShortText
    member_id: ShortText


@router.post("/delivery/claims", summary="A guest claims a delivery order by the code on its "
             "slip (at the kiosk or the tablet): the order and its platform user are theirs")
def claim(body: ClaimBody, request: Request,
          who: Annotated[Caller, Depends(require("delivery.claim"))]) -> Json:
    """A wrong code costs: after a few in the window this device (a kiosk: this device at
    this address) is refused for a while, so the codes' 40 bits cannot be walked through;
    the right code takes back only its own try."""
    hub = hub_of(request)
    key = f"claim:{who.device['id']}"
    if who.role == "kiosk":  # one kiosk token may serve several screens
        key += f":{request.client.host if request.client else '?'}"
    count_attempt(hub.claim_guesses, key, "too many wrong claim codes (认领码) from this "
                  "device")
    claimed = book.claim(hub.store(), body.code, body.member_id, who.actor)
    hub.claim_guesses.succeeded(key)
    return dict(claimed)


class JoinBody(Body):
    platform: Literal["meituan", "eleme"]
    platform_user_id: ShortText
    member_id: ShortText


@router.get("/delivery/joinable-orders", summary="The newest platform orders nobody's yet "
            "that name their platform user: what a person joins to the guest who shows one")
def joinable_orders(request: Request, _: Annotated[Caller, Depends(require("delivery.join"))],
                    limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Json]:
    return book.joinable_orders(hub_of(request).store(), limit)


@router.get("/members/{member_id}/platform-identities", summary="The platform users joined to "
            "a member, by a person, a claim or the platform's member card")
def identities(member_id: str, request: Request,
               _: Annotated[Caller, Depends(require("delivery.join"))]) -> list[Json]:
    return book.identities_of(hub_of(request).store(), member_id)


@router.post("/delivery/joins", status_code=201, summary="A person joins a platform user to a "
             "member: their orders on that platform, past and to come, are the member's "
             "(audited; undone by DELETE)")
def join(body: JoinBody, request: Request,
         who: Annotated[Caller, Depends(require("delivery.join"))]) -> Json:
    book.join(hub_of(request).store(), body.platform, body.platform_user_id, body.member_id,
              who.actor)
    return {"platform": body.platform, "platform_user_id": body.platform_user_id,
            "member_id": body.member_id}


@router.delete("/delivery/joins/{platform}/{platform_user_id}", summary="Undo a join (a "
               "person's or a claim's): the platform user is nobody's again; orders claimed "
               "by their code stay the guest's")
def unjoin(platform: Literal["meituan", "eleme"], platform_user_id: str, request: Request,
           who: Annotated[Caller, Depends(require("delivery.join"))]) -> Json:
    if not book.unjoin(hub_of(request).store(), platform, platform_user_id, who.actor):
        raise NotFound(f"{platform} user {platform_user_id} is joined to nobody")
    return {"platform": platform, "platform_user_id": platform_user_id, "unjoined": True}


class VoucherReversal(Body):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


@router.post("/orders/{order_id}/voucher-reversals", status_code=201,
             summary="A refund gives the order's group-buy vouchers back (reverseconsume on the "
             "platform; 503 while it cannot be asked)")
def reverse_vouchers(order_id: str, body: VoucherReversal, request: Request,
                     who: Annotated[Caller, Depends(require("voucher.reverse"))]) -> Json:
    store = hub_of(request).store()
    given = groupbuy.reverse_order(store, groupbuy.Platform(store.settings.group_buy),
                                   order_id, who.actor, body.reason)
    return {"order_id": order_id, "reversed": given}


@router.get("/group-buy/vouchers", summary="Group-buy vouchers by state: pending (taken "
            "offline, to verify), refused (the platform refused one taken offline) or flagged "
            "(refused and not settled yet)")
def list_vouchers(request: Request, _: Annotated[Caller, Depends(require("report.read"))],
                  state: Literal["pending", "refused", "flagged", "consumed",
                                 "reversed"] = "refused") -> list[Json]:
    return vouchers(hub_of(request).store(), state=state)


class VoucherResolution(Body):
    resolution: Literal["loss", "reverified"]
    note: Annotated[StrictStr, Field(max_length=200)] = ""


@router.post("/group-buy/vouchers/{voucher_id}/resolution", summary="The owner settles a "
             "flagged voucher: loss (the guest will not pay it) or reverified (it was good)")
def resolve_voucher(voucher_id: str, body: VoucherResolution, request: Request,
                    who: Annotated[Caller, Depends(require("voucher.reverse"))]) -> Json:
    store = hub_of(request).store()
    resolve(store, voucher_id, body.resolution, who.actor, body.note)
    return {"id": voucher_id, "resolution": body.resolution}
