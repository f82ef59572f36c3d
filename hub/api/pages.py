"""The waiter tablet and signup kiosk pages, served by the hub from kiosk/web.

Hand-written HTML, CSS and JavaScript with no build step and nothing from the internet, so
they load in any browser on the shop's LAN even when the internet is down.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

import kiosk

from ..tls import ca_fingerprint
from .auth import Caller, hub_of, require

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


TRUST_PAGE = """<!doctype html><html lang=zh-CN><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>信任门店证书 · Trust this store's certificate</title>
<link rel=stylesheet href=/static/common.css>
<main>
<h1>信任门店证书 <small>Trust this store's certificate</small></h1>
<p>这台平板的浏览器需要信任本店的证书一次，之后与门店主机的连接全程加密，浏览器不再警告。
<br>This tablet's browser must trust the store's certificate once; then everything it
sends to the hub is encrypted and the browser stops warning.</p>
<ol>
<li><a id=download href=/trust/ca.crt download="laoke-{store}.crt">下载证书 Download the
certificate</a> ({name})</li>
<li>核对指纹：平板上证书详情中的 SHA-256 指纹必须与门店主机上 <code>laoke tls show</code>
显示的一致。不一致就不要安装：这个页面可能来自冒充的主机。<br>Check the fingerprint: the
SHA-256 fingerprint in the certificate's details on the tablet must be the one
<code>laoke tls show</code> prints at the hub. If it differs, do not install it: this page
may come from a host pretending to be the hub.
<pre id=fingerprint>{fingerprint}</pre></li>
<li>安装 Install: Android — 设置 › 安全 › 加密与凭据 › 安装证书 › CA 证书 (Settings ›
Security › Encryption &amp; credentials › Install a certificate › CA certificate);
iPad — 打开下载的描述文件，设置 › 通用 › VPN 与设备管理 › 安装，再到 设置 › 通用 › 关于本机 ›
证书信任设置 打开完全信任 (open the downloaded profile in Settings › General › VPN &amp;
Device Management, install it, then switch on full trust in Settings › General › About ›
Certificate Trust Settings).</li>
<li>重新打开配对链接 Open the pairing link again.</li>
</ol>
<p>浏览器无法自己核对证书指纹；门店的 App 和控制台会按配对链接里的 pin 核对。<br>A browser
cannot check a pin by itself; the store's apps and the console check the pin in the pairing
link.</p>
</main></html>"""


@pages.get("/trust", response_class=HTMLResponse)
def trust_page(request: Request) -> str:
    """The one-time certificate install page for a tablet's browser (as Home Assistant and
    UniFi have): the CA to download, and the fingerprint to compare with the hub's own."""
    hub = hub_of(request)
    if hub.tls is None:
        raise HTTPException(404, "this hub serves plain HTTP: there is nothing to trust")
    certificate = hub.tls
    return TRUST_PAGE.format(store=html.escape(hub.settings.store_id),
                             name=html.escape(hub.settings.store_name),
                             fingerprint=ca_fingerprint(certificate.ca_file))


@pages.get("/trust/ca.crt")
def trust_certificate(request: Request) -> Response:
    hub = hub_of(request)
    if hub.tls is None:
        raise HTTPException(404, "this hub serves plain HTTP: there is nothing to trust")
    return Response(hub.tls.ca_file.read_bytes(), media_type="application/x-x509-ca-cert",
                    headers={"Cache-Control": "no-cache"})
