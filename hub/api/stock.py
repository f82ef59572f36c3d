"""Stock for managers: levels with the restock alerts, deliveries, waste and counts, the
variance per count and the purchase list (JSON, or the XLSX for the suppliers)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, StrictFloat, StrictInt, StrictStr

from ..domain import stock as book
from ..domain.reports.period import Period, parse_range
from ..report_files import stock_chart, write_purchase
from .admin import MEDIA
from .auth import Caller, hub_of, require
from .models import Body

router = APIRouter(tags=["stock"])
Json = dict[str, Any]
Days = Annotated[int, Query(ge=1, le=book.MAX_DAYS, description="Buy for this many days")]


class Entry(Body):
    """A quantity in the ingredient's own unit: a number, or text as typed ("0.25")."""

    ingredient: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    qty: StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=20)]
    note: Annotated[StrictStr, Field(max_length=200)] = ""


def _record(request: Request, who: Caller, kind: str, body: Entry) -> Json:
    return dict(book.record(hub_of(request).store(), body.ingredient, kind, body.qty,
                            actor=who.actor, note=body.note))


@router.get("/stock/levels", summary="On hand now per ingredient, and the restock alerts "
            "(补货提醒) for the next week")
def get_levels(request: Request, _: Annotated[Caller, Depends(require("stock.read"))]) -> Json:
    store = hub_of(request).store()
    return {"levels": book.levels(store), "restock": book.purchase(store)["restock"]}


@router.post("/stock/deliveries", status_code=201, summary="A delivery received")
def post_delivery(body: Entry, request: Request,
                  who: Annotated[Caller, Depends(require("stock.manage"))]) -> Json:
    return _record(request, who, "received", body)


@router.post("/stock/waste", status_code=201, summary="Thrown away (spoilt, dropped)")
def post_waste(body: Entry, request: Request,
               who: Annotated[Caller, Depends(require("stock.manage"))]) -> Json:
    return _record(request, who, "waste", body)


@router.post("/stock/counts", status_code=201, summary="What a count found there (0 too)")
def post_count(body: Entry, request: Request,
               who: Annotated[Caller, Depends(require("stock.manage"))]) -> Json:
    return _record(request, who, "count", body)


@router.get("/stock/variance", summary="Each count in the days against opening + received "
            "- used - waste (盘点差异)")
def get_variance(request: Request, _: Annotated[Caller, Depends(require("stock.read"))],
                 start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                 end: Annotated[str | None, Query(alias="to", max_length=10)] = None) -> Json:
    store = hub_of(request).store()
    return {"variance": book.variance(store, Period(store, *parse_range(start, end)))}


@router.get("/stock/purchase", summary="What to buy per supplier for the days ahead, and "
            "what runs out before its supplier delivers")
def get_purchase(request: Request, _: Annotated[Caller, Depends(require("stock.read"))],
                 days: Days = 7) -> Json:
    return dict(book.purchase(hub_of(request).store(), days))


@router.get("/stock/purchase/export", response_class=Response,
            summary="The purchase list as XLSX (a sheet per supplier and the restock alerts) "
            "or its chart of the days of stock left as PNG")
def export_purchase(request: Request, _: Annotated[Caller, Depends(require("stock.read"))],
                    days: Days = 7,
                    fmt: Annotated[Literal["xlsx", "png"], Query(alias="format")] = "xlsx"
                    ) -> Response:
    found = book.purchase(hub_of(request).store(), days)
    write = write_purchase if fmt == "xlsx" else stock_chart
    with tempfile.TemporaryDirectory(prefix="laoke-purchase-") as work:
        path = write(found, Path(work) / f"purchase-{found['first_day']}.{fmt}")
        return Response(path.read_bytes(), media_type=MEDIA[fmt], headers={
            "Content-Disposition": f'attachment; filename="{path.name}"'})
