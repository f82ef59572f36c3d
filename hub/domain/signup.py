"""What makes a guest at the door sign up: the welcome offer shown before the form, what each
tier gives, and the friend who invited them, named by their phone.

The kiosk is a screen anyone can walk up to, so it must not become a way to learn who is a
member: an inviter's phone is resolved here, and the kiosk's answer is the same whether it
named a member or not.
"""

from __future__ import annotations

from typing import TypedDict

from .coupons import get_template, offer_conditions, offer_value
from .members import member_by_phone
from .money import yuan
from .offers import welcome_template
from .store import Store


class Words(TypedDict):
    """One text in both of the kiosk's languages."""

    zh: str
    en: str


class WelcomeOffer(TypedDict):
    template: str
    headline: Words  # 注册就送20.00元无门槛券


class TierPerks(TypedDict):
    code: str
    name: Words
    min_spend_fen: int
    perks: Words  # 消费满2,000.00元 · 积分1.2倍 · 95折


class SignupOffers(TypedDict):
    welcome: WelcomeOffer | None
    tiers: list[TierPerks]


def welcome_offer(store: Store) -> WelcomeOffer | None:
    """The coupon a new member gets (hub/domain/offers.py), in the words the door shows;
    None when the store has none or has switched it off."""
    template_id = welcome_template(store)
    if template_id is None:
        return None
    template = get_template(store, template_id)
    conditions = (offer_conditions(template), offer_conditions(template, "en"))
    zh = f"注册就送{offer_value(template)}" + (
        f"券（{conditions[0]}）" if conditions[0] else "无门槛券")
    en = f"Join now and get {offer_value(template, 'en')}" + (
        f" ({conditions[1]})" if conditions[1] else ", no minimum spend")
    return WelcomeOffer(template=template["name"], headline=Words(zh=zh, en=en))


def signup_offers(store: Store) -> SignupOffers:
    """The welcome offer and every tier with what it gives, as the kiosk shows them."""
    base_points = store.settings.points.earn_per_yuan
    tiers = []
    for tier in store.settings.tiers:
        zh = [f"消费满{yuan(tier.min_spend_fen)}" if tier.min_spend_fen else "注册即是"]
        en = [f"from {yuan(tier.min_spend_fen, ' yuan')} spent" if tier.min_spend_fen
              else "on joining"]
        if base_points:
            zh.append(f"每消费1元积{base_points * tier.points_multiplier_pct / 100:g}分")
            en.append(f"{base_points * tier.points_multiplier_pct / 100:g} points per yuan")
        if tier.discount_pct:
            zh.append(f"{(100 - tier.discount_pct) / 10:g}折")
            en.append(f"{tier.discount_pct}% off")
        tiers.append(TierPerks(code=tier.code, name=Words(zh=tier.name, en=tier.name_en),
                               min_spend_fen=tier.min_spend_fen,
                               perks=Words(zh=" · ".join(zh), en=" · ".join(en))))
    return SignupOffers(welcome=welcome_offer(store), tiers=tiers)


def inviter(store: Store, phone: str) -> str | None:
    """The member a guest says invited them, by that member's phone; None for a phone that is
    no member's (or an erased one's). A phone that is no phone at all is PhoneInvalid."""
    row = member_by_phone(store, phone)
    return None if row is None or row["erased_at"] else str(row["id"])
