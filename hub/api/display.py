"""The guest's display at the till: the bill as the hub prices it, the guest's points, and
the merchant's payment QR, on a second screen facing the guest.

The till shows a bill (`POST /display/bill`), the screen polls what it should show. The bill is
quoted (the checkout run and rolled back), so the display shows exactly what the checkout will
charge, and nothing is written until the cashier checks out. What a screen shows lives only in
the hub's memory: a guest's bill is gone when it is cleared or the hub restarts.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictInt, StrictStr

from printer.layouts import mask_name

from ..domain.checkout import CheckoutRequest, quote
from ..domain.members import member_row, points_balance
from ..domain.tables import bill_lines
from .auth import Caller, hub_of, require
from .models import BillLine, Body, Fen, ShortText
from .money import checkout_lines

router = APIRouter(tags=["display"])
Json = dict[str, Any]
ScreenName = Annotated[StrictStr, Field(min_length=1, max_length=40)]


class Screens:
    """What each guest display shows now, by the screen's name (one per till)."""

    def __init__(self) -> None:
        self._shown: dict[str, Json] = {}
        self._lock = threading.Lock()

    def show(self, name: str, bill: Json | None) -> None:
        with self._lock:
            if bill is None:
                self._shown.pop(name, None)
            else:
                self._shown[name] = bill

    def shown(self, name: str) -> Json | None:
        with self._lock:
            return self._shown.get(name)


class ShownBill(Body):
    display: ScreenName
    lines: Annotated[list[BillLine], Field(default_factory=list, max_length=200)]
    tab_id: ShortText | None = None  # a table's order instead of lines
    member_id: ShortText | None = None
    redeem_points: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = 0
    coupon_code: ShortText | None = None
    stored_value_fen: Fen = 0


def screens(request: Request) -> Screens:
    found: Screens | None = getattr(request.app.state, "screens", None)
    if found is None:
        found = request.app.state.screens = Screens()
    return found


@router.post("/display/bill", summary="Show a bill, priced as the checkout will price it, on "
             "the guest's display")
def show_bill(body: ShownBill, request: Request,
              who: Annotated[Caller, Depends(require("checkout.create"))]) -> Json:
    store = hub_of(request).store()
    member_id, lines = body.member_id, checkout_lines(body.lines)
    if body.tab_id is not None:
        tab = store.one("SELECT member_id FROM tabs WHERE id = ?", (body.tab_id,))
        member_id = tab["member_id"] if tab is not None else member_id
        lines = bill_lines(store, body.tab_id)
    priced = quote(store, CheckoutRequest(
        idempotency_key="display", lines=lines, member_id=member_id,
        redeem_points=body.redeem_points, coupon_code=body.coupon_code,
        stored_value_fen=body.stored_value_fen, staff_id=who.staff_id, tab_id=body.tab_id))
    member = member_row(store, member_id) if member_id else None
    bill: Json = {"lines": priced["lines"], "total_fen": priced["total_fen"],
                  "discount_fen": priced["discount_fen"], "due_fen": priced["due_fen"],
                  "stored_value_paid_fen": priced["stored_value_paid_fen"],
                  "points_earned": priced["points_earned"]}
    settings = store.settings
    tier = settings.tier(member["tier"]) if member is not None else None
    bill["guest"] = None if member is None or tier is None else {
        "name": mask_name(member["name"]),
        "tier": tier.name if settings.locale == "zh-CN" else tier.name_en,
        "points_balance": points_balance(store, member["id"])}  # before this bill
    screens(request).show(body.display, bill)
    return bill


@router.delete("/display/bill", summary="Clear the guest's display (paid, or cancelled)")
def clear_bill(request: Request, display: Annotated[str, Query(min_length=1, max_length=40)],
               _: Annotated[Caller, Depends(require("checkout.create"))]) -> Json:
    screens(request).show(display, None)
    return {"display": display, "state": "idle"}


@router.get("/display", summary="What a guest display shows now")
def display_state(request: Request,
                  display: Annotated[str, Query(min_length=1, max_length=40)],
                  _: Annotated[Caller, Depends(require("display.read"))]) -> Json:
    settings = hub_of(request).settings
    bill = screens(request).shown(display)
    return {"display": display, "state": "idle" if bill is None else "bill", "bill": bill,
            "store_name": settings.store_name, "payment_qr": settings.till.payment_qr or None}
