"""Guests: sign-up (the kiosk), lookup (the tablet), profile, edits, cards, ledgers, erasure."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from printer.slips import print_welcome
from printer.virtual import VirtualPrinter

from ..domain import devices as registry
from ..domain import members as book
from ..domain import signup
from ..domain.coupons import member_coupons
from ..domain.errors import GuestNotServed, InvalidInput, MemberNotFound
from ..domain.ledgers import points_entries, stored_value_entries
from ..domain.profiles import MemberProfile, guest_card, guest_history, member_profile
from ..domain.shifts import check_on_duty, seated_in_shifts
from ..home import VIRTUAL_SPOOL
from .auth import Caller, count_attempt, hub_of, require
from .models import CardBlock, CardLink, Erasure, MemberCreate, MemberUpdate
from .printing import queued

router = APIRouter(tags=["members"])
# The answers stay plain JSON objects to FastAPI (`response_model=Json`): a route typed with a
# domain TypedDict (a member's profile) is held to it by mypy, not re-validated on each answer.
Json = dict[str, Any]


class SlipState(TypedDict):
    id: str
    state: str


class KioskSignup(TypedDict):
    """All a kiosk learns of the guest it signed up: who, and the QR code it shows them."""

    id: str
    name: str | None
    qr: str
    welcome_slip: SlipState


def serving(request: Request, who: Caller, member_id: str) -> None:
    """A role that sees masked phones (a waiter) reads a guest only while serving them: found
    at this device by an exact key lately, or checked in during the signed-in person's shift
    today; never any guest by id."""
    if not who.masked:
        return
    hub = hub_of(request)
    if hub.finds.found(who.device["id"], member_id) or (
            who.staff_id is not None and seated_in_shifts(hub.store(), who.staff_id, member_id)):
        return
    raise GuestNotServed("this guest was not seated during your shift: sign in, or find them "
                         "by phone, card or QR")


def refuse_fields(who: Caller, fields: set[str], rules: dict[str, str]) -> None:
    """403 naming the fields, when a request writes member fields its role may not."""
    refused = registry.fields_refused(who.role, fields, rules)
    if refused:
        raise HTTPException(403, f"a {who.role} device may not set {', '.join(refused)}")


def found_here(request: Request, who: Caller, member_ids: list[str]) -> None:
    hub_of(request).finds.remember(who.device["id"], member_ids)


def profile_for(request: Request, who: Caller, member_id: str) -> MemberProfile:
    return member_profile(hub_of(request).store(), member_id, masked=who.masked)


@router.post("/members", status_code=201, response_model=Json,
             summary="Sign a guest up (kiosk or staff)")
def create_member(body: MemberCreate, request: Request,
                  who: Annotated[Caller, Depends(require("member.create"))]
                  ) -> MemberProfile | KioskSignup:
    refuse_fields(who, body.model_fields_set, registry.MEMBER_FIELDS_ON_CREATE)
    hub = hub_of(request)
    store = hub.store()
    credited = check_on_duty(store, body.invited_by) if body.invited_by else who.staff_id
    fields = body.model_dump(exclude={"invited_by", "referrer_phone"})
    if body.referrer_phone is not None:
        if body.referred_by is not None:
            raise InvalidInput("name the inviter by referred_by or referrer_phone, not both")
        fields["referred_by"] = signup.inviter(store, body.referrer_phone)
    created = book.add_member(store, book.NewMember(**fields, signed_up_by=credited),
                              actor=who.actor)
    hub.events.publish("member.created", guest_card(member_profile(hub.store(), created["id"])))
    if who.role == "kiosk":  # the kiosk learns only that it worked, and the guest's QR code
        welcome = queued(request, print_welcome(hub.store(), created["id"], actor=who.actor))
        return KioskSignup(id=created["id"], name=created["name"],
                           qr=book.member_qr(hub.store(), created["id"]),
                           welcome_slip=SlipState(id=welcome["id"], state=welcome["state"]))
    found_here(request, who, [created["id"]])
    return profile_for(request, who, created["id"])


@router.get("/signup/offers", summary="What the kiosk shows before its form: the welcome "
            "offer (注册就送…) and what each tier gives, in zh-CN and English")
def signup_offers(request: Request,
                  who: Annotated[Caller, Depends(require("member.create"))]) -> Json:
    hub = hub_of(request)  # and whether to offer the WeChat account's follow QR
    return {**signup.signup_offers(hub.store()),
            "wechat": hub.settings.messaging.wechat_on}


@router.get("/members/lookup", response_model=Json,
            summary="A guest by phone, card number or member QR code")
def lookup_member(request: Request, who: Annotated[Caller, Depends(require("member.read"))],
                  phone: Annotated[str | None, Query(max_length=32)] = None,
                  card: Annotated[str | None, Query(max_length=64)] = None,
                  qr: Annotated[str | None, Query(max_length=200)] = None) -> MemberProfile:
    store = hub_of(request).store()
    given = [v for v in (phone, card, qr) if v]
    if len(given) != 1:
        raise InvalidInput("give exactly one of phone, card or qr")
    if phone:
        row = book.member_by_phone(store, phone)
        if row is None:
            raise MemberNotFound("no member with this phone")
    elif card:
        row = book.member_by_card(store, card)
    else:
        row = book.member_by_qr(store, qr or "")
    found_here(request, who, [row["id"]])
    return profile_for(request, who, row["id"])


@router.get("/members/search", summary="Search as you type: phone, phone tail, card or name "
            "(roles that see masked phones: the full phone, a card, a member QR or the last "
            "4+ digits only)")
def search_members(request: Request, who: Annotated[Caller, Depends(require("member.read"))],
                   q: Annotated[str, Query(min_length=1, max_length=64)],
                   limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Json:
    hub = hub_of(request)
    store = hub.store()
    if not who.masked:
        rows = book.find_members(store, q, limit)
    else:
        if book.looks_like_tail(q):
            count_attempt(hub.tail_searches, f"tail:{who.device['id']}",
                          "too many searches by the last digits")
        _, rows = book.find_by_key(store, q, min(limit, book.MAX_TAIL_MATCHES))
        found_here(request, who, [row["id"] for row in rows])
    return {"members": [book.member_view(store, row, masked=who.masked) for row in rows]}


@router.get("/members/{member_id}", response_model=Json, summary="A guest's profile")
def get_member(member_id: str, request: Request,
               who: Annotated[Caller, Depends(require("member.read"))]) -> MemberProfile:
    serving(request, who, member_id)
    return profile_for(request, who, member_id)


@router.patch("/members/{member_id}", response_model=Json,
              summary="Edit taste notes, allergies, birthday, ...")
def update_member(member_id: str, body: MemberUpdate, request: Request,
                  who: Annotated[Caller, Depends(require("member.update"))]) -> MemberProfile:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change")
    refuse_fields(who, set(changes), registry.MEMBER_FIELDS_ON_UPDATE)
    serving(request, who, member_id)
    hub = hub_of(request)
    book.update_member(hub.store(), member_id, changes, actor=who.actor)
    profile = profile_for(request, who, member_id)
    hub.events.publish("member.updated", guest_card(profile))
    return profile


@router.get("/members/{member_id}/qr", summary="The guest's signed member QR payload")
def member_qr(member_id: str, request: Request,
              who: Annotated[Caller, Depends(require("member.read"))]) -> Json:
    serving(request, who, member_id)
    return {"member_id": member_id, "payload": book.member_qr(hub_of(request).store(),
                                                              member_id)}


@router.post("/members/{member_id}/cards", status_code=201, response_model=Json,
             summary="Link a member card")
def link_card(member_id: str, body: CardLink, request: Request,
              who: Annotated[Caller, Depends(require("card.link"))]) -> MemberProfile:
    book.link_card(hub_of(request).store(), member_id, body.number, actor=who.actor)
    return profile_for(request, who, member_id)


@router.post("/cards/{number}/block", summary="Block a lost card")
def block_card(number: str, body: CardBlock, request: Request,
               who: Annotated[Caller, Depends(require("card.block"))]) -> Json:
    book.block_card(hub_of(request).store(), number, body.reason, actor=who.actor)
    return {"number": number, "status": "blocked"}


@router.get("/members/{member_id}/points", summary="Points balance and ledger")
def points(member_id: str, request: Request,
           who: Annotated[Caller, Depends(require("member.read"))]) -> Json:
    serving(request, who, member_id)
    store = hub_of(request).store()
    book.member_row(store, member_id)
    return {"balance": book.points_balance(store, member_id),
            "entries": points_entries(store, member_id)}


@router.get("/members/{member_id}/stored-value", summary="Stored value balance and ledger")
def stored_value(member_id: str, request: Request,
                 who: Annotated[Caller, Depends(require("member.read"))]) -> Json:
    serving(request, who, member_id)
    store = hub_of(request).store()
    book.member_row(store, member_id)
    return {"balance_fen": book.stored_value_balance(store, member_id),
            "entries": stored_value_entries(store, member_id)}


@router.get("/members/{member_id}/visits", summary="Visit and order history: the till's "
            "orders and the delivery platforms' that are the guest's, with platform, state "
            "and dishes")
def history(member_id: str, request: Request,
            who: Annotated[Caller, Depends(require("member.read"))],
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Json:
    serving(request, who, member_id)
    return dict(guest_history(hub_of(request).store(), member_id, limit))


@router.get("/members/{member_id}/coupons", summary="The guest's coupons")
def coupons(member_id: str, request: Request,
            who: Annotated[Caller, Depends(require("member.read"))],
            usable: bool = False) -> Json:
    serving(request, who, member_id)
    store = hub_of(request).store()
    book.member_row(store, member_id)
    return {"coupons": member_coupons(store, member_id, usable_only=usable)}


@router.post("/members/{member_id}/erase", summary="Erase a guest's personal data for good")
def erase(member_id: str, body: Erasure, request: Request,
          who: Annotated[Caller, Depends(require("member.erase"))]) -> Response:
    hub = hub_of(request)
    emptied = book.erase_member(hub.store(), member_id, actor=who.actor, reason=body.reason)
    VirtualPrinter(hub.home / VIRTUAL_SPOOL).forget(emptied)
    hub.events.forget(member_id, *emptied)
    hub.events.publish("member.erased", {"id": member_id})
    return Response(status_code=204)
