"""The call list: the lapsed regulars to phone, and each call's outcome (owner and manager:
the list carries guests' phones in full)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from printer.slips import print_posted_coupon

from ..domain import calls
from .auth import Caller, hub_of, require
from .models import CallLog
from .printing import queued

router = APIRouter(tags=["calls"])
Json = dict[str, Any]


@router.get("/calls", summary="The guests to call now, the most valuable first, with last "
            "visit, favourite dishes, who served them and the last call (audited)")
def call_list(request: Request, who: Annotated[Caller, Depends(require("calls.manage"))],
              limit: Annotated[int, Query(ge=1, le=calls.MAX_LIST)] = 50) -> Json:
    return {"guests": calls.call_list(hub_of(request).store(), who.actor, limit)}


@router.post("/calls", status_code=201, summary="Log a call: outcome, reason (+ note), a "
             "coupon sent or posted (printed with the address), the day to call again")
def log_call(body: CallLog, request: Request,
             who: Annotated[Caller, Depends(require("calls.manage"))]) -> Json:
    store = hub_of(request).store()
    call = calls.log_call(store, body.member_id, body.outcome, body.reason, note=body.note,
                          follow_up=body.follow_up, send=body.send, address=body.address,
                          actor=who.actor, staff_id=who.staff_id)
    job = None if call["sent"] != "post" else queued(
        request, print_posted_coupon(store, call["id"], actor=who.actor))
    return {"call": call, "print_job": job}


@router.get("/members/{member_id}/calls", summary="A guest's calls, the newest first")
def member_calls(member_id: str, request: Request,
                 who: Annotated[Caller, Depends(require("calls.manage"))]) -> Json:
    return {"calls": calls.member_calls(hub_of(request).store(), member_id)}
