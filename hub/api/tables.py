"""Tables and the orders open on them: seat, order through the meal, send, pay at the table."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import Field, StrictBool, StrictStr

from printer.slips import print_round

from ..domain import tables as book
from ..domain.checkout import CheckoutRequest
from .auth import Caller, hub_of, require
from .members import serving
from .models import BillLine, Body, CheckIn, Fen, TenderLine
from .money import announce_checkin, checkout_lines, pay, tenders
from .printing import queued

router = APIRouter(tags=["tables"])
Json = dict[str, Any]


class TableLayout(Body):
    area: Annotated[StrictStr, Field(max_length=20)] = ""
    seats: Annotated[int, Field(ge=1, le=100)] = 4


class Items(Body):
    lines: Annotated[list[BillLine], Field(min_length=1, max_length=100)]
    send: StrictBool = True  # to the kitchen at once: one ticket per station


class TablePayment(Body):
    redeem_points: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    coupon_code: Annotated[StrictStr, Field(max_length=64)] | None = None
    stored_value_fen: Fen = 0
    tenders: Annotated[list[TenderLine], Field(min_length=1, max_length=10)] | None = None
    print: StrictBool = False


def _sent(request: Request, who: Caller, tab_id: str) -> list[Json]:
    return [queued(request, job) for job in print_round(hub_of(request).store(), tab_id,
                                                         actor=who.actor)]


@router.get("/tables", summary="The table layout, and what is open on each table")
def list_tables(request: Request, _: Annotated[Caller, Depends(require("table.read"))]) -> Json:
    return {"tables": book.tables(hub_of(request).store())}


@router.put("/tables/{name}", summary="Add or change a table of the layout")
def put_table(name: str, body: TableLayout, request: Request,
              who: Annotated[Caller, Depends(require("table.manage"))]) -> Json:
    return book.save_table(hub_of(request).store(), name, area=body.area, seats=body.seats,
                           actor=who.actor)


@router.post("/tabs", status_code=201, summary="Seat a party at a table and open its order")
def open_tab(body: CheckIn, request: Request,
             who: Annotated[Caller, Depends(require("checkin.create"))]) -> Json:
    if body.member_id:
        serving(request, who, body.member_id)
    tab = book.open_tab(hub_of(request).store(), body.table, body.party_size, body.member_id,
                        staff_id=who.staff_id)
    tab["member"] = announce_checkin(request, who, tab.pop("visit"))
    return tab


@router.get("/tabs/{tab_id}", summary="A table's order: what was ordered, and what was sent")
def get_tab(tab_id: str, request: Request,
            _: Annotated[Caller, Depends(require("table.read"))]) -> Json:
    return book.get_tab(hub_of(request).store(), tab_id)


@router.post("/tabs/{tab_id}/items", summary="Order more; sent to the kitchen at once")
def add_items(tab_id: str, body: Items, request: Request,
              who: Annotated[Caller, Depends(require("order.add"))]) -> Json:
    book.add_items(hub_of(request).store(), tab_id, checkout_lines(body.lines),
                   staff_id=who.staff_id)
    jobs = _sent(request, who, tab_id) if body.send else []
    return {**book.get_tab(hub_of(request).store(), tab_id), "print_jobs": jobs}


@router.post("/tabs/{tab_id}/send", summary="Send what is new to the kitchen")
def send(tab_id: str, request: Request,
         who: Annotated[Caller, Depends(require("order.add"))]) -> Json:
    jobs = _sent(request, who, tab_id)
    return {**book.get_tab(hub_of(request).store(), tab_id), "print_jobs": jobs}


@router.post("/tabs/{tab_id}/checkout", status_code=201,
             summary="Pay a table's order, idempotently; the table is free again")
def checkout_tab(tab_id: str, body: TablePayment, request: Request, response: Response,
                 who: Annotated[Caller, Depends(require("checkout.create"))],
                 idempotency_key: Annotated[str, Header(min_length=1, max_length=128)]
                 ) -> Json:
    store = hub_of(request).store()
    tab = book.get_tab(store, tab_id)
    req = CheckoutRequest(
        idempotency_key=idempotency_key, lines=book.bill_lines(store, tab_id),
        member_id=tab["member_id"], redeem_points=body.redeem_points,
        coupon_code=body.coupon_code, stored_value_fen=body.stored_value_fen,
        visit_id=tab["visit_id"], staff_id=who.staff_id, tenders=tenders(body.tenders),
        tab_id=tab_id)
    return pay(request, response, who, req, body.print)
