"""The till's side of stored value in a chain: ask HQ, or fall back to this store's slice."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub.domain.authority import OFFLINE, approval_answered, open_approval
from hub.domain.checkout import CheckoutRequest, quote
from hub.domain.errors import InsufficientBalance
from hub.domain.ids import new_id
from hub.domain.money import yuan
from hub.domain.store import Store


def check_first(store: Store, req: CheckoutRequest) -> None:
    """Quote the checkout, so whatever would refuse it (stored value above the bill, a used
    coupon, too few points) refuses it now, before HQ promises anything."""
    quote(store, replace(req, stored_value_auth=None))


def authorise_spend(publisher: Any, store: Store, req: CheckoutRequest) -> str | None:
    """The authorisation for the checkout's stored-value spend (a slice HQ grants with it is
    recorded with the approval).

    A store with no broker is on its own (None). A retry of a checkout already made needs no
    new approval: the first one stands. HQ's refusal is final; its silence means `slice`. The
    approval is recorded before HQ is asked, under an id the store chose, so one the checkout
    does not use, or HQ's yes that came too late, goes back to HQ (`release_unused_approvals`).
    """
    if not req.stored_value_fen or req.member_id is None or not store.settings.broker.url:
        return None
    if store.one("SELECT 1 FROM orders WHERE idempotency_key = ?", (req.idempotency_key,)):
        return None
    if publisher is None or not publisher.connected.is_set():
        return OFFLINE
    check_first(store, req)
    hold_id = new_id()
    open_approval(store, hold_id, req.member_id, req.stored_value_fen, req.idempotency_key)
    answer = publisher.authorise(req.member_id, req.stored_value_fen,
                                 store.settings.chain.auth_timeout_s, hold_id)
    if answer is None:
        return OFFLINE  # the open approval goes back to HQ in a minute, if HQ made it
    approval_answered(store, hold_id, bool(answer.get("approved")),
                      int(answer.get("slice_grant_fen", 0)))
    if not answer.get("approved"):
        if answer.get("error"):
            raise InsufficientBalance(f"HQ approves no stored-value spend here: "
                                      f"{answer['error']}")
        available = int(answer.get("available_fen", 0))
        raise InsufficientBalance(f"HQ: across the chain this guest's stored value covers "
                                  f"{yuan(available, ' 元')} now")
    return f"hq:{hold_id}"
