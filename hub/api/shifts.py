"""Shifts: staff sign in on a paired device with their PIN, and sign out or switch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from ..domain import shifts as rota
from ..domain.audience import local_today
from ..domain.clock import parse_day
from ..domain.errors import InvalidInput
from .auth import Caller, hub_of, require, staff_of
from .models import ShiftOpen

router = APIRouter(tags=["shifts"])
Json = dict[str, Any]


@router.post("/shifts", status_code=201, summary="Sign in with a staff PIN: what this device "
             "does is that person's until the shift ends (one open shift per device; another "
             "person's PIN switches)")
def open_shift(body: ShiftOpen, request: Request,
               who: Annotated[Caller, Depends(require("shift.open"))]) -> Json:
    hub = hub_of(request)
    person = staff_of(request, who.device, body.pin)
    shift = rota.open_shift(hub.store(), who.device["id"], person)
    hub.events.publish("shift.opened", shift)
    return shift


@router.get("/shifts/current", summary="This device's open shift (null when nobody is "
            "signed in)")
def current_shift(who: Annotated[Caller, Depends(require("shift.open"))]) -> Json:
    return {"shift": who.shift}


@router.get("/shifts/on-duty", summary="Who is signed in now (names only): the kiosk asks "
            "the guest which of them invited them")
def on_duty(request: Request,
            who: Annotated[Caller, Depends(require("member.create"))]) -> Json:
    return {"staff": rota.on_duty(hub_of(request).store())}


@router.delete("/shifts/{shift_id}", status_code=204, summary="Sign out (this device's shift; "
               "a manager may end any)")
def close_shift(shift_id: str, request: Request,
                who: Annotated[Caller, Depends(require("shift.open"))]) -> Response:
    hub = hub_of(request)
    closed = rota.close_shift(hub.store(), shift_id, who.device["id"],
                              any_device=who.can("staff.read"), actor=who.actor)
    hub.events.publish("shift.closed", closed)
    return Response(status_code=204)


@router.get("/shifts", summary="The shifts of a day (default today), with their people")
def list_shifts(request: Request, who: Annotated[Caller, Depends(require("staff.read"))],
                day: Annotated[str | None, Query(max_length=10)] = None) -> Json:
    store = hub_of(request).store()
    try:
        chosen = parse_day(day, "day") if day else local_today(store)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return {"shifts": rota.shifts_of_day(store, chosen)}
