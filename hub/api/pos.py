"""Behind an existing POS: its closed bills in, the member's discount, points and receipt
coupon out. The POS is paired like a till (`laoke device add POS --role cashier`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictInt, StrictStr

from ..domain import pos as book
from ..groupbuy import Platform, checkout_with_vouchers
from .auth import Caller, hub_of, require
from .models import Body, Fen, ShortText, TenderLine
from .money import tenders

router = APIRouter(tags=["pos"])
Json = dict[str, Any]


class PosLineBody(Body):
    pos_code: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    name: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    qty: Annotated[StrictInt, Field(ge=1, le=999)]
    unit_price_fen: Fen


class PosMember(Body):
    """One of them: the phone the guest gives, their card, or their member QR."""

    phone: ShortText | None = None
    card: ShortText | None = None
    qr: Annotated[StrictStr, Field(max_length=200)] | None = None


class PosBillBody(Body):
    bill_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    lines: Annotated[list[PosLineBody], Field(min_length=1, max_length=200)]
    member: PosMember | None = None
    coupon_code: ShortText | None = None
    tenders: Annotated[list[TenderLine], Field(min_length=1, max_length=10)] | None = None
    channel: Literal["dine_in", "takeaway", "delivery"] = "dine_in"


class DishMap(Body):
    map: Annotated[dict[Annotated[StrictStr, Field(max_length=32)], ShortText],
                   Field(min_length=1, max_length=2000)]


@router.post("/pos/bills", status_code=201,
             summary="A POS's closed bill: the member's discount, points and receipt coupon; "
             "a voucher tender with its code is taken from the group-buy platform as at "
             "checkout")
def post_bill(body: PosBillBody, request: Request,
              _: Annotated[Caller, Depends(require("checkout.create"))]) -> Json:
    member = body.member or PosMember()
    store = hub_of(request).store()
    req = book.bill_request(store, book.PosBill(
        bill_id=body.bill_id, phone=member.phone, card=member.card, qr=member.qr,
        lines=[book.PosLine(line.pos_code, line.name, line.qty, line.unit_price_fen)
               for line in body.lines],
        coupon_code=body.coupon_code, tenders=tenders(body.tenders), channel=body.channel))
    return checkout_with_vouchers(store, Platform(store.settings.group_buy), req,
                                  lambda taken: book.post_bill(store, taken))


@router.put("/pos/dishes", summary="Map the POS's dish codes to the menu's")
def map_dishes(body: DishMap, request: Request,
               who: Annotated[Caller, Depends(require("menu.manage"))]) -> Json:
    return {"mapped": book.map_dishes(hub_of(request).store(), body.map, actor=who.actor)}
