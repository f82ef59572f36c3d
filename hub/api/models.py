"""Request bodies: strict, so a wrong type or an unknown field is a 422 that names it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

Text = Annotated[StrictStr, Field(max_length=500)]
# Ids, codes and names: never empty, so "" is a 422 here, not a foreign-key failure later.
ShortText = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Fen = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
TextList = Annotated[list[Annotated[StrictStr, Field(max_length=40)]], Field(max_length=20)]
Role = Literal["owner", "manager", "cashier", "waiter", "kiosk"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberCreate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    phone: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    birthday: Annotated[StrictStr, Field(max_length=10)] | None = None
    gender: Literal["f", "m", "x"] | None = None
    spice_level: Literal["none", "mild", "medium", "hot"] | None = None
    avoid: TextList = []
    allergies: TextList = []
    notes: Text = ""
    seat_preference: Annotated[StrictStr, Field(max_length=40)] = ""
    tags: TextList = []
    vip: StrictBool = False
    referred_by: ShortText | None = None
    marketing_consent: StrictBool
    card: ShortText | None = None
    email: Annotated[StrictStr, Field(max_length=254)] | None = None
    # The staff member (on shift now) who invited the guest: the kiosk's sign-ups credit them.
    invited_by: ShortText | None = None
    # The member who invited the guest, by their phone (the kiosk knows no member ids): the
    # referral reward's referrer when it is a member's, else nothing, and the kiosk's answer
    # is the same either way.
    referrer_phone: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None


class MemberUpdate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=40)] | None = None
    phone: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None
    birthday: Annotated[StrictStr, Field(max_length=10)] | None = None
    gender: Literal["f", "m", "x"] | None = None
    spice_level: Literal["none", "mild", "medium", "hot"] | None = None
    avoid: TextList | None = None
    allergies: TextList | None = None
    notes: Text | None = None
    seat_preference: Annotated[StrictStr, Field(max_length=40)] | None = None
    tags: TextList | None = None
    vip: StrictBool | None = None
    marketing_consent: StrictBool | None = None
    email: Annotated[StrictStr, Field(max_length=254)] | None = None


class CardLink(Body):
    number: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class CardBlock(Body):
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class TopUp(Body):
    amount_fen: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    bonus_fen: Fen = 0


class PointsAdjustment(Body):
    delta: Annotated[StrictInt, Field(ge=-100_000_000, le=100_000_000)]
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class Erasure(Body):
    reason: Annotated[StrictStr, Field(max_length=200)] = ""


class CheckIn(Body):
    member_id: ShortText | None = None
    table: Annotated[StrictStr, Field(min_length=1, max_length=20)]
    party_size: Annotated[StrictInt, Field(ge=1, le=100)]


class OrderLine(Body):
    dish: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    qty: Annotated[StrictInt, Field(ge=1, le=999)]
    unit_price_fen: Fen


class BillLine(Body):
    """A checkout line: a dish of the menu by its code (the hub prices it), or an open item
    by name and price."""

    code: Annotated[StrictStr, Field(min_length=1, max_length=32)] | None = None
    dish: Annotated[StrictStr, Field(min_length=1, max_length=60)] | None = None
    qty: Annotated[StrictInt, Field(ge=1, le=999)]
    unit_price_fen: Fen | None = None
    # a set meal's chosen dishes (codes), for every set ordered
    choices: Annotated[list[Annotated[StrictStr, Field(max_length=32)]],
                       Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def one_form(self) -> BillLine:
        if self.code is not None and (self.dish is not None or self.unit_price_fen is not None):
            raise ValueError("a menu line gives code and qty only: the hub prices it")
        if self.code is None and (self.dish is None or self.unit_price_fen is None):
            raise ValueError("a line needs a menu code, or a dish and its unit_price_fen")
        if self.code is None and self.choices:
            raise ValueError("choices go with a set meal's code")
        return self


class TenderLine(Body):
    method: Literal["cash", "wechat", "alipay", "card", "voucher"]
    amount_fen: Fen
    received_fen: Fen | None = None  # cash handed over, for the change
    code: ShortText | None = None  # a group-buy voucher's code (团购券码)


class Checkout(Body):
    member_id: ShortText | None = None
    lines: Annotated[list[BillLine], Field(min_length=1, max_length=200)]
    redeem_points: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = 0
    coupon_code: ShortText | None = None
    stored_value_fen: Fen = 0
    channel: Literal["dine_in", "takeaway", "delivery"] = "dine_in"
    visit_id: ShortText | None = None
    print: StrictBool = False
    tenders: Annotated[list[TenderLine], Field(min_length=1, max_length=10)] | None = None
    party_size: Annotated[StrictInt, Field(ge=1, le=100)] | None = None  # seats a dine-in bill
    table: Annotated[StrictStr, Field(min_length=1, max_length=20)] | None = None


class Refund(Body):
    amount_fen: Annotated[StrictInt, Field(ge=1, le=10_000_000)]
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class CouponCheck(Body):
    code: ShortText
    member_id: ShortText | None = None
    lines: Annotated[list[OrderLine], Field(max_length=200)] = []


class CouponRedeem(Body):
    member_id: ShortText | None = None
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=200)]


class CouponIssue(Body):
    template_id: ShortText
    member_id: ShortText | None = None
    reason: Annotated[StrictStr, Field(max_length=200)] | None = None


class CouponTemplate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    kind: Literal["amount_off", "percent_off", "free_dish"]
    amount_fen: Fen = 0
    percent_off: Annotated[StrictInt, Field(ge=0, le=100)] = 0
    dish: Annotated[StrictStr, Field(max_length=60)] | None = None
    min_spend_fen: Fen = 0
    valid_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 30
    stores: Annotated[list[ShortText], Field(max_length=500)] | None = None
    max_issued: Annotated[StrictInt, Field(ge=1, le=10_000_000)] | None = None  # 前100名


class DeviceCreate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    role: Role
    pair_link: StrictBool = Field(False, description="Also a pairing link for its browser "
                                  "(valid ten minutes; never for an owner device)")


class PairingCodeCreate(Body):
    role: Role


class Pairing(Body):
    code: Annotated[StrictStr, Field(min_length=1, max_length=12)]
    name: Annotated[StrictStr, Field(min_length=1, max_length=60)] | None = None


class Feedback(Body):
    order_id: ShortText
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    tags: Annotated[list[Annotated[StrictStr, Field(max_length=20)]], Field(max_length=4)] = []
    comment: Text = ""


class SignedFeedback(Feedback):
    sig: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class BoxSale(Body):
    request_id: ShortText  # the till's id for this sale: a retry is paid once
    member_id: ShortText
    pay: Literal["stored_value", "cash", "wechat", "alipay", "card"]


class CallLog(Body):
    member_id: ShortText
    outcome: Literal["reached", "no_answer"]
    reason: Literal["moved", "prices", "service", "taste", "no_answer", "other"] | None = None
    note: Text = ""
    follow_up: Annotated[StrictStr, Field(max_length=10)] | None = None  # YYYY-MM-DD
    send: Literal["coupon", "post"] | None = None
    address: Annotated[StrictStr, Field(max_length=200)] | None = None


class ShiftOpen(Body):
    pin: Annotated[StrictStr, Field(min_length=1, max_length=16)]


class StaffCreate(Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=60)]
    role: Literal["owner", "manager", "cashier", "waiter"]
    pin: Annotated[StrictStr, Field(min_length=4, max_length=8)]
