"""Plain HTTP beside the hub's HTTPS, on the same port: `/api/v1/health` for monitors, a
redirect for people.

Whatever crosses the LAN in clear can be read by anyone on the Wi-Fi, so nothing here acts
on a credential: a request that carries a token, a cookie, a PIN or `access_token` is refused
without being looked at (it has leaked already; the hub must not also honour it), and
anything that is not a plain page load is refused too, so a form is never resent anywhere.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import problem

HEALTH = "/api/v1/health"
CREDENTIAL_HEADERS = (b"authorization", b"cookie", b"x-staff-pin")
TLS_HANDSHAKE = b"\x16"  # the first byte of every TLS connection (a handshake record)
FIRST_BYTE_S = 30  # seconds a connection may stay silent, and a handshake may take
# seconds a closing connection waits for the peer's close_notify: an idle keep-alive client (a
# tablet's browser, a pooled session) never answers it, and each such wait held the hub's
# stop for its whole graceful-shutdown time
TLS_CLOSE_S = 1.0


def _carries_credential(scope: Scope) -> bool:
    headers = {name.lower() for name, _ in scope["headers"]}
    if any(name in headers for name in CREDENTIAL_HEADERS):
        return True
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return "access_token" in query or "code" in query  # a pairing code is a way in too


def _https_location(scope: Scope, https_port: int) -> str:
    host_header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    host = urlsplit(f"//{host_header}").hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    path = scope.get("path", "/")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"https://{host}:{https_port}{path}" + (f"?{query}" if query else "")


class PlainGate:
    """The whole of what the hub answers over plain HTTP."""

    def __init__(self, app: ASGIApp, https_port: int) -> None:
        self.app = app
        self.https_port = https_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets, and no lifespan: the HTTPS server runs the hub's
        method, path = scope["method"], scope.get("path", "")
        if _carries_credential(scope):
            answer = problem(403, "https_only", "credentials are refused over plain HTTP: "
                             f"use {_https_location(scope, self.https_port)}")
        elif method in ("GET", "HEAD") and path == HEALTH:
            await self.app(scope, receive, send)
            return
        elif method in ("GET", "HEAD"):
            answer = problem(301, "https_only", "this hub serves HTTPS",
                             {"Location": _https_location(scope, self.https_port)})
        else:
            answer = problem(403, "https_only", "plain HTTP serves /api/v1/health only: "
                             f"use {_https_location(scope, self.https_port)}")
        await answer(scope, receive, send)


class SchemeGate:
    """The hub's app as one port serves it: a request that came over TLS reaches the app, one
    that came in clear reaches only the plain gate (uvicorn sets the scheme from the
    connection itself, so proxy headers must stay off)."""

    def __init__(self, app: ASGIApp, https_port: int) -> None:
        self.app = app
        self.plain = PlainGate(app, https_port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope["type"] == "lifespan" or scope.get("scheme") in ("https", "wss")
        await (self.app if secure else self.plain)(scope, receive, send)


def one_port_protocol(context: ssl.SSLContext) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol behind a first-byte check, so one port speaks both: a TLS
    ClientHello (its first byte is 0x16, a byte no HTTP request starts with) gets TLS with
    the hub's certificate, anything else plain HTTP (which the SchemeGate confines to
    /health and a redirect). `laoke hub run --port N` thus answers
    `http://HUB:N/api/v1/health` for monitors and scripts as before, and a tablet that was
    paired to `http://HUB:N` is redirected rather than refused."""

    class OnePort(asyncio.Protocol):
        def __init__(self, **uvicorn_args: Any) -> None:
            self.args = uvicorn_args
            self.transport: Any = None  # uvloop's transports are not asyncio.Transport
            self.idle: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            # a connection that never says a byte would be held open for good
            self.idle = asyncio.get_running_loop().call_later(FIRST_BYTE_S, transport.close)

        def data_received(self, data: bytes) -> None:
            assert self.transport is not None and self.idle is not None
            self.idle.cancel()
            http = HttpToolsProtocol(**self.args)
            if data[:1] == TLS_HANDSHAKE:
                loop = asyncio.get_running_loop()
                handshake = loop.create_future()  # a failed one is the client's: nothing to log
                handshake.add_done_callback(lambda done: done.cancelled() or done.exception())
                tls = sslproto.SSLProtocol(loop, http, context, handshake, server_side=True,
                                           ssl_handshake_timeout=FIRST_BYTE_S,
                                           ssl_shutdown_timeout=TLS_CLOSE_S)
                self.transport.set_protocol(tls)
                tls.connection_made(self.transport)
                buffer = tls.get_buffer(len(data))  # the ClientHello, already read
                buffer[:len(data)] = data
                tls.buffer_updated(len(data))
            else:
                self.transport.set_protocol(http)
                http.connection_made(self.transport)
                http.data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.idle is not None:
                self.idle.cancel()

    return OnePort
