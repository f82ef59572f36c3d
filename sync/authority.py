"""The till's side of stored value in a chain: ask HQ, or fall back to this store's slice."""

from __future__ import annotations

from typing import Any

from hub.domain.authority import OFFLINE
from hub.domain.checkout import CheckoutRequest
from hub.domain.errors import InsufficientBalance
from hub.domain.store import Store


def authorise_spend(publisher: Any, store: Store, req: CheckoutRequest) -> tuple[str | None, int]:
    """The authorisation for the checkout's stored-value spend, and the slice HQ granted.

    A store with no broker is on its own (None). A retry of a checkout already made needs no
    new approval: the first one stands. HQ's refusal is final; its silence means `slice`.
    """
    if not req.stored_value_fen or req.member_id is None or not store.settings.broker.url:
        return None, 0
    if store.one("SELECT 1 FROM orders WHERE idempotency_key = ?", (req.idempotency_key,)):
        return None, 0
    answer = publisher.authorise(req.member_id, req.stored_value_fen,
                                 store.settings.chain.auth_timeout_s) if publisher else None
    if answer is None:
        return OFFLINE, 0
    if not answer.get("approved"):
        available = int(answer.get("available_fen", 0))
        raise InsufficientBalance(f"HQ: across the chain this guest's stored value covers "
                                  f"{available / 100:.2f} 元 now")
    return f"hq:{answer['hold_id']}", int(answer.get("slice_grant_fen", 0))
