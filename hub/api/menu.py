"""The menu at the till: read by every till device, edited by managers, sold out by staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool, StrictStr

from ..domain import menu as book
from .auth import Caller, hub_of, require
from .models import Body, Fen

router = APIRouter(tags=["menu"])
Json = dict[str, Any]
Name = Annotated[StrictStr, Field(max_length=80)]


class Dish(Body):
    """A dish's fields; those left out keep their value (a new dish needs name and price)."""

    name: Name | None = None
    name_en: Name | None = None
    category: Name | None = None
    price_fen: Fen | None = None
    member_price_fen: Fen | None = None
    station: Name | None = None
    tags: Annotated[list[Annotated[StrictStr, Field(max_length=20)]],
                    Field(max_length=20)] | None = None
    members_only: StrictBool | None = None
    daily_limit: Annotated[int, Field(ge=1, le=100_000)] | None = None


class SoldOut(Body):
    sold_out: StrictBool


class Portions(Body):
    """Portions left today (沽清); null: no count."""

    left: Annotated[int, Field(ge=0, le=100_000)] | None


class Combo(Body):
    """These together (dish codes, or category:NAME), this much off, once per complete set."""

    parts: Annotated[list[Annotated[StrictStr, Field(max_length=60)]],
                     Field(min_length=2, max_length=6)]
    off_fen: Fen
    active: StrictBool = True


@router.get("/menu", summary="The menu, as the till prices it")
def get_menu(request: Request, _: Annotated[Caller, Depends(require("menu.read"))]) -> Json:
    store = hub_of(request).store()
    return {"dishes": book.menu(store), "combos": book.combos(store)}


@router.put("/menu/dishes/{code}", summary="Add or change a dish")
def put_dish(code: str, body: Dish, request: Request,
             who: Annotated[Caller, Depends(require("menu.manage"))]) -> Json:
    fields = body.model_dump(exclude_unset=True)
    return book.save_dish(hub_of(request).store(), {**fields, "code": code}, actor=who.actor)


@router.put("/menu/combos/{name}", summary="Add or change a combo (主食+汤品组合立减)")
def put_combo(name: str, body: Combo, request: Request,
              who: Annotated[Caller, Depends(require("menu.manage"))]) -> Json:
    return book.save_combo(hub_of(request).store(), name, body.parts, body.off_fen,
                           actor=who.actor, active=body.active)


class SetGroup(Body):
    name: Annotated[StrictStr, Field(max_length=30)] = ""
    choose: Annotated[int, Field(ge=1, le=10)] = 1
    codes: Annotated[list[Annotated[StrictStr, Field(max_length=32)]],
                     Field(min_length=1, max_length=50)]


class SetMeal(Body):
    groups: Annotated[list[SetGroup], Field(min_length=1, max_length=10)]


@router.put("/menu/sets/{code}", summary="Make a dish a set meal with groups to choose from")
def put_set(code: str, body: SetMeal, request: Request,
            who: Annotated[Caller, Depends(require("menu.manage"))]) -> Json:
    return book.save_set(hub_of(request).store(), code,
                         [group.model_dump() for group in body.groups], actor=who.actor)


@router.post("/menu/dishes/{code}/sold-out", summary="Sold out today, or back on the menu")
def sold_out(code: str, body: SoldOut, request: Request,
             who: Annotated[Caller, Depends(require("menu.sold_out"))]) -> Json:
    return book.set_sold_out(hub_of(request).store(), code, body.sold_out, actor=who.actor)


@router.post("/menu/dishes/{code}/portions", summary="Portions left today (沽清), or no count")
def portions(code: str, body: Portions, request: Request,
             who: Annotated[Caller, Depends(require("menu.sold_out"))]) -> Json:
    return book.set_portions(hub_of(request).store(), code, body.left, actor=who.actor)


@router.delete("/menu/dishes/{code}", summary="Take a dish off the menu for good (kept for the "
               "bills that name it)")
def retire(code: str, request: Request,
           who: Annotated[Caller, Depends(require("menu.manage"))]) -> Json:
    return book.retire_dish(hub_of(request).store(), code, actor=who.actor)
