"""Guest feedback: from the tablet handed over after checkout, or from the receipt's link on
the guest's own phone (signed, no token); a low rating reaches the console at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from printer.slips import print_coupon

from ..domain import feedback as ratings
from ..domain.coupons import coupon_view
from ..domain.feedback import Source
from .auth import Caller, hub_of, require
from .models import Feedback, SignedFeedback
from .printing import queued

router = APIRouter(tags=["feedback"])
Json = dict[str, Any]


def _record(request: Request, body: Feedback, source: Source) -> Json:
    hub = hub_of(request)
    store = hub.store()
    given = ratings.give_feedback(store, body.order_id, body.rating, body.tags, body.comment,
                                  source)
    if given["low"]:
        staff = store.scalar("SELECT name FROM staff WHERE id = ?", (given["staff_id"],))
        hub.events.publish("feedback.low", {**given, "staff_name": staff})
    return {k: given[k] for k in ("id", "order_id", "rating", "tags", "comment", "table_no",
                                  "staff_id", "created_at")}


@router.post("/feedback", status_code=201, summary="A guest's rating of a paid order (1-5, "
             "tags, comment); one per order, a second answers 409")
def give_feedback(body: Feedback, request: Request,
                  who: Annotated[Caller, Depends(require("feedback.create"))]) -> Json:
    return _record(request, body, "tablet")


@router.post("/feedback/signed", status_code=201, summary="The same from the receipt's link "
             "(no token: the link's signature over the order)")
def give_signed_feedback(body: SignedFeedback, request: Request) -> Json:
    if not ratings.signed(hub_of(request).store(), body.order_id, body.sig):
        raise HTTPException(403, "this feedback link is not valid")
    return _record(request, body, "receipt")


@router.post("/feedback/{feedback_id}/apology", status_code=201, summary="Answer a rating with "
             "the store's apology coupon, printed for the guest still at the table (once)")
def send_apology(feedback_id: str, request: Request,
                 who: Annotated[Caller, Depends(require("coupon.issue"))]) -> Json:
    store = hub_of(request).store()
    sent = ratings.apologise(store, feedback_id, issued_by=who.staff_id)
    job = None if sent["again"] else queued(request, print_coupon(store, sent["code"],
                                                                  actor=who.actor))
    return {"coupon": coupon_view(store, sent["code"]), "print_job": job}
