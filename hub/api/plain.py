"""Plain HTTP beside the hub's HTTPS: `/api/v1/health` for monitors, a redirect for people.

Whatever crosses the LAN in clear can be read by anyone on the Wi-Fi, so nothing here acts
on a credential: a request that carries a token, a cookie, a PIN or `access_token` is refused
without being looked at (it has leaked already; the hub must not also honour it), and
anything that is not a plain page load is refused too, so a form is never resent anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .app import problem

log = logging.getLogger(__name__)
HEALTH = "/api/v1/health"
CREDENTIAL_HEADERS = (b"authorization", b"cookie", b"x-staff-pin")


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


class PlainListener:
    """A hub worker: the plain HTTP server in a thread of its own, started and stopped with
    the hub (hub.workers), so `/health` shows it and a port it cannot take is said there."""

    name = "plain-http"

    def __init__(self, app: ASGIApp, host: str, port: int, https_port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(
            PlainGate(app, https_port), host=host, port=port, lifespan="off",
            log_level="warning", access_log=False, timeout_graceful_shutdown=2))
        self.port = port
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    def _run(self) -> None:
        with contextlib.suppress(SystemExit):  # how uvicorn ends on a port it cannot bind
            self.server.run()
        if not self.server.should_exit:
            log.error("plain HTTP on port %s stopped", self.port)
            self.last_error = f"could not serve plain HTTP on port {self.port}"
            self.last_error_at = time.time()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def state(self) -> dict[str, Any]:
        if self._thread is None:
            state = "not started"
        elif self._thread.is_alive():
            state = "running"
        else:
            state = "failed" if self.last_error else "stopped"
        return {"name": self.name, "state": state, "failures": int(bool(self.last_error)),
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "port": self.port}
