"""The waiter tablet and signup kiosk pages, served by the hub from kiosk/web.

Hand-written HTML, CSS and JavaScript with no build step and nothing from the internet, so
they load in any browser on the shop's LAN even when the internet is down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import kiosk

from .auth import Caller, require

WEB = Path(kiosk.__file__).resolve().parent / "web"
pages = APIRouter(include_in_schema=False)
router = APIRouter(tags=["pages"])
static = StaticFiles(directory=WEB)


@pages.get("/tablet")
def tablet() -> FileResponse:
    return FileResponse(WEB / "tablet.html", headers={"Cache-Control": "no-cache"})


@pages.get("/kiosk")
def kiosk_page() -> FileResponse:
    return FileResponse(WEB / "kiosk.html", headers={"Cache-Control": "no-cache"})


@pages.get("/order")
def order_page() -> FileResponse:
    """The till on the tablet: tables, seating, ordering in rounds, paying at the table."""
    return FileResponse(WEB / "order.html", headers={"Cache-Control": "no-cache"})


@pages.get("/feedback")
def feedback_page() -> FileResponse:
    """Rating a meal: the tablet after checkout, or the receipt's signed link on a phone."""
    return FileResponse(WEB / "feedback.html", headers={"Cache-Control": "no-cache"})


@pages.get("/display")
def display_page() -> FileResponse:
    """The guest's display at the till (`/display?name=TILL`), paired like a kiosk."""
    return FileResponse(WEB / "display.html", headers={"Cache-Control": "no-cache"})


@router.get("/qr.svg", summary="A QR code as SVG (a member's code on the kiosk screen)",
            response_class=Response)
def qr_svg(who: Annotated[Caller, Depends(require("qr.render"))],
           data: Annotated[str, Query(min_length=1, max_length=300)]) -> Response:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10,
                        border=2)
    return Response(image.to_string(encoding="unicode"), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})
