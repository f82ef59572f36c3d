"""The hub's HTTP face: JSON under /api/v1, documented at /openapi.json.

Domain errors are mapped here, once, to HTTP statuses; invalid input of any kind (bad JSON,
wrong types, unknown fields, oversize bodies) is a 4xx with a message, never a 5xx.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import database
from ..domain.errors import LaokeError, PhoneInvalid
from ..runtime import Hub

MAX_BODY = 256 * 1024
STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "refused": 409,
          "forbidden": 403, "unauthorized": 401, "unavailable": 503}


def problem(status: int, code: str, message: str,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


class BodyLimit:
    """Refuse bodies over the limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = problem(413, "body_too_large", f"request body over {self.limit} bytes")
        try:
            if declared is not None and int(declared) > self.limit:
                await too_big(scope, receive, send)
                return
        except ValueError:
            await problem(400, "bad_request", "invalid Content-Length")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


def _validation_message(error: RequestValidationError) -> tuple[int, str, str]:
    first: dict[str, Any] = error.errors()[0]
    if first.get("type") == "json_invalid":
        return 400, "invalid_json", f"the body is not valid JSON: {first.get('ctx', {})}"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = first.get("msg", "invalid")
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    more = len(error.errors()) - 1
    return 422, "invalid_input", f"{where}: {message}" + (f" (and {more} more)" if more else "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LaokeError)
    async def domain_error(_: Request, error: LaokeError) -> JSONResponse:
        status = 422 if isinstance(error, PhoneInvalid) else STATUS.get(error.kind, 422)
        return problem(status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        status, code, message = _validation_message(error)
        return problem(status, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed",
                429: "too_many_attempts"}.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
        return problem(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(database.OperationalError)
    async def busy(_: Request, error: database.OperationalError) -> JSONResponse:
        if "locked" in str(error) or "busy" in str(error):
            return problem(503, "busy", "the store is busy; try again",
                           {"Retry-After": "1"})
        raise error


def create_app(hub: Hub) -> FastAPI:
    from . import (
        admin,
        calls,
        campaigns,
        delivery,
        display,
        feedback,
        members,
        menu,
        money,
        pages,
        pos,
        printing,
        shifts,
        stock,
        stream,
        tables,
        wechat,
    )

    app = FastAPI(
        title="laoke hub API",
        version=hub.version,
        description="The store hub of 老客 laoke: guests, check-ins, checkout, coupons, "
        "devices and the live event stream. Authenticate with `Authorization: Bearer TOKEN`.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.hub = hub
    install_error_handlers(app)
    for module in (members, money, menu, tables, pos, display, admin, shifts, feedback,
                   calls, campaigns, printing, delivery, wechat, stock, stream, pages):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(admin.pairing_page)
    app.include_router(campaigns.unsubscribe_page)
    app.include_router(pages.pages)
    app.mount("/static", pages.static, name="static")
    app.add_middleware(BodyLimit)
    return app
