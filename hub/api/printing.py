"""Paper: receipts, coupons, kitchen tickets, welcome slips, shift summaries, test pages.

Every call queues a job and answers at once (202) with its state; the hub's print worker
delivers it, and `print.job` events tell every screen how it went. A request names one of the
configured printers (or none, for the default); printer URLs are for the hub's shell only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from printer import slips
from printer.queue import cancel, list_jobs, named_printer, printer_for

from ..domain.audience import local_today
from ..domain.clock import parse_day
from ..domain.errors import InvalidInput
from .auth import Caller, hub_of, require
from .models import Body, Fen, ShortText

router = APIRouter(tags=["printing"])
Json = dict[str, Any]


class PrinterChoice(Body):
    printer: ShortText | None = Field(None, description="The name of a configured printer; "
                                      "none for the default")


class ReceiptPrint(PrinterChoice):
    order_id: ShortText
    reprint: bool = False


class CouponPrint(PrinterChoice):
    code: ShortText
    reprint: bool = False


class KitchenPrint(PrinterChoice):
    visit_id: ShortText


class ShiftPrint(PrinterChoice):
    day: ShortText | None = None
    counted_cash_fen: Fen | None = None  # the cashier's count of the drawer, to reconcile


def chosen(request: Request, body: PrinterChoice) -> str:
    """The configured printer a request names, or a 422: never a URL from the LAN."""
    return named_printer(hub_of(request).settings, body.printer).name


def queued(request: Request, job: Json) -> Json:
    printing = hub_of(request).printing
    if printing is not None:
        printing.wake.set()
    return job


@router.post("/print/receipt", status_code=202, summary="Print (or reprint) a receipt")
def print_receipt(body: ReceiptPrint, request: Request,
                  who: Annotated[Caller, Depends(require("print.receipt"))]) -> Json:
    return queued(request, slips.print_receipt(hub_of(request).store(), body.order_id,
                                               chosen(request, body), reprint=body.reprint,
                                               actor=who.actor))


@router.post("/print/coupon", status_code=202, summary="Print a coupon (once; or a reprint)")
def print_coupon(body: CouponPrint, request: Request,
                 who: Annotated[Caller, Depends(require("print.receipt"))]) -> Json:
    return queued(request, slips.print_coupon(hub_of(request).store(), body.code,
                                              chosen(request, body), reprint=body.reprint,
                                              actor=who.actor))


@router.post("/print/kitchen", status_code=202,
             summary="A kitchen ticket with the table's allergies and taste notes")
def print_kitchen(body: KitchenPrint, request: Request,
                  who: Annotated[Caller, Depends(require("print.kitchen"))]) -> Json:
    return queued(request, slips.print_kitchen(hub_of(request).store(), body.visit_id,
                                               chosen(request, body), actor=who.actor))


@router.post("/print/shift", status_code=202, summary="The day's shift summary")
def print_shift(body: ShiftPrint, request: Request,
                who: Annotated[Caller, Depends(require("segment.read"))]) -> Json:
    store = hub_of(request).store()
    try:
        day = parse_day(body.day, "day") if body.day else local_today(store)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return queued(request, slips.print_shift(store, day, chosen(request, body), actor=who.actor,
                                             counted_cash_fen=body.counted_cash_fen))


@router.post("/print/test", status_code=202, summary="A printer test page")
def print_test(body: PrinterChoice, request: Request,
               who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    return queued(request, slips.print_test_page(hub_of(request).store(),
                                                 chosen(request, body),
                                                 actor=who.actor))


@router.get("/print/jobs", summary="Print jobs, newest first, with their state and reason")
def jobs(request: Request, who: Annotated[Caller, Depends(require("print.receipt"))],
         open_only: Annotated[bool, Query(alias="open")] = False,
         limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Json:
    return {"jobs": list_jobs(hub_of(request).store(), limit, open_only)}


@router.post("/print/jobs/{job_id}/cancel", summary="Cancel a job that has not printed")
def cancel_job(job_id: str, request: Request,
               who: Annotated[Caller, Depends(require("print.receipt"))]) -> Json:
    return cancel(hub_of(request).store(), job_id, who.actor)


@router.get("/printers", summary="Printers with their state and waiting jobs")
def printers(request: Request, who: Annotated[Caller, Depends(require("print.kitchen"))]
             ) -> Json:
    shown = printer_states(request)
    if not who.can("device.manage"):  # a printer's address is for those who manage devices
        shown = [{k: v for k, v in printer.items() if k != "url"} for printer in shown]
    return {"printers": shown}


def printer_states(request: Request) -> list[Json]:
    hub = hub_of(request)
    store = hub.store()
    known = hub.printing.printer_state if hub.printing is not None else {}
    configured = hub.settings.printers or [printer_for(hub.settings, None)]
    waiting = {r[0]: r[1] for r in store.conn.execute(
        "SELECT printer, COUNT(*) FROM print_jobs WHERE state IN ('queued', 'waiting', "
        "'unconfirmed') GROUP BY printer")}
    shown = []
    for printer in configured:
        state = known.get(printer.name, {"ready": None, "problem": None})
        shown.append({"name": printer.name, "url": printer.url, "width": printer.width,
                      "ready": state["ready"], "problem": state["problem"],
                      "waiting_jobs": waiting.get(printer.name, 0)})
    return shown
