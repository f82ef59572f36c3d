"""Errors the domain names, so each edge (CLI, HTTP, console) maps them once.

Every error carries a stable machine `code` and a human message; `kind` groups them into the
few classes an edge cares about (bad input, not found, conflict, refused by a rule).
"""

from __future__ import annotations


class LaokeError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"
    kind = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LaokeError):
    code = "invalid_input"


class PhoneInvalid(InvalidInput):
    code = "phone_invalid"


class ConfigError(InvalidInput):
    code = "config_invalid"


class NotFound(LaokeError):
    code = "not_found"
    kind = "not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class StaffNotFound(NotFound):
    code = "staff_not_found"


class OrderNotFound(NotFound):
    code = "order_not_found"


class ShiftNotFound(NotFound):
    code = "shift_not_found"


class CouponNotFound(NotFound):
    code = "coupon_not_found"


class Conflict(LaokeError):
    code = "conflict"
    kind = "conflict"


class PhoneTaken(Conflict):
    code = "phone_taken"


class CardTaken(Conflict):
    code = "card_taken"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class TableTaken(Conflict):
    code = "table_taken"


class TabClosed(Conflict):
    """An item or a payment for a table's bill that has been paid already."""

    code = "tab_closed"


class Refused(LaokeError):
    """A valid request that a business rule refuses (balance, coupon state, card state)."""

    code = "refused"
    kind = "refused"


class InsufficientPoints(Refused):
    code = "insufficient_points"


class InsufficientBalance(Refused):
    code = "insufficient_balance"


class CouponForged(Refused):
    code = "coupon_forged"


class CouponUsed(Refused):
    code = "coupon_used"


class CouponExpired(Refused):
    code = "coupon_expired"


class CouponNotApplicable(Refused):
    code = "coupon_not_applicable"


class CouponsGone(Refused):
    """A template with a cap (前100名) has issued all it may."""

    code = "coupons_gone"


class SoldOut(Refused):
    """Sold out today, or past the dish's daily limit."""

    code = "sold_out"


class MembersOnly(Refused):
    code = "members_only"


class QrInvalid(InvalidInput):
    code = "qr_invalid"


class CardBlocked(Refused):
    code = "card_blocked"


class MemberErased(Refused):
    code = "member_erased"


class PinInvalid(Refused):
    code = "pin_invalid"


class ExactKeyRequired(InvalidInput):
    """A role that sees masked phones looked a guest up by a prefix or a name."""

    code = "exact_key_required"


class GuestNotServed(LaokeError):
    """A waiter asked for a guest neither seated during their shift nor found at this tablet."""

    code = "guest_not_served"
    kind = "forbidden"


class NotYourShift(LaokeError):
    """A device closing another device's shift without a role that manages staff."""

    code = "not_your_shift"
    kind = "forbidden"


class FeedbackGiven(Conflict):
    """A second rating for an order: one per order."""

    code = "feedback_given"


class SchemaTooNew(LaokeError):
    code = "schema_too_new"
    kind = "refused"


class PushRefused(LaokeError):
    """A delivery platform's push whose signature does not hold, or signed too long ago (a
    replay): nothing of it is recorded."""

    code = "bad_signature"
    kind = "unauthorized"


class ClaimTaken(Conflict):
    """A delivery order's claim code entered by a second guest: it joined the first."""

    code = "claim_taken"


class VoucherRefused(Refused):
    """A group-buy voucher the platform will not consume (forged, used, expired) or one already
    taken here: the checkout is refused and nothing of it is written."""

    code = "voucher_refused"


class PlatformUnreachable(LaokeError):
    """The group-buy platform could not be asked (no network, a timeout, a server error)."""

    code = "platform_unreachable"
    kind = "unavailable"


class WeChatUnavailable(LaokeError):
    """The WeChat account is not set up here, or its API could not be asked or refused."""

    code = "wechat_unavailable"
    kind = "unavailable"
