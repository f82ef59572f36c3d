"""GET /api/v1/events: server-sent events, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from .auth import Caller, hub_of, require

router = APIRouter(tags=["events"])
HEARTBEAT_S = 15.0
# What a role that sees masked phones (a waiter) is not sent: every sign-up's guest card,
# every bill and every slip's text would let it follow guests it does not serve; a guest's
# low rating is for the manager.
UNMASKED_ONLY = frozenset({"member.created", "member.updated", "checkout.completed",
                           "print.job", "campaign.ran", "feedback.low"})


@router.get("/events", summary="Live events (text/event-stream); `?access_token=` for "
            "EventSource", response_class=StreamingResponse)
async def events(request: Request, who: Annotated[Caller, Depends(require("events.read"))],
                 last_event_id: Annotated[str | None, Header(
                     max_length=18, pattern=r"^\d*$",
                     description="The last event id seen, to resume from")] = None,
                 ) -> StreamingResponse:
    hub = hub_of(request)
    resume = int(last_event_id) if last_event_id else None
    subscriber = hub.events.subscribe(resume)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"  # lets a tablet notice a dead link
                    continue
                if event is None:  # shutdown, or this client fell too far behind
                    return
                if who.masked and event["type"] in UNMASKED_ONLY:
                    continue
                body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
                # No `event:` field: EventSource.onmessage sees every event; `type` is in data.
                yield f"id: {event['id']}\ndata: {body}\n\n"
        finally:
            hub.events.unsubscribe(subscriber)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
