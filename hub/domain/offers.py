"""The offers every store comes with, switched off until the owner sets their value: the
welcome coupon a new member gets (printed on the welcome slip, shown at the kiosk) and the
birthday dessert (a free dish for guests whose birthday is in the coming week, issued by its
own campaign and shown to the waiter at check-in and on the receipt).

Each is a coupon template the store installs once, its id kept in hub_meta: a store takes
its own, never another store's template of the same name that sync brought. Setting the
value switches the template (and the dessert's campaign) on; the change is a template
update (`coupon_template.updated`) that HQ's books and a restore apply like any other.
`[printing] welcome_coupon_template`, when it names a template, still wins over the default
welcome coupon.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from .campaigns import create_campaign, get_campaign, update_campaign
from .coupons import create_template, get_template, template_by_name, update_template
from .errors import InvalidInput
from .store import Store

Name = Literal["welcome", "birthday"]
NAMES: tuple[Name, ...] = ("welcome", "birthday")
INSTALLED = "default_offers"  # hub_meta: when they were installed (or "restored")
DESSERT_CAMPAIGN = {
    "name": "生日甜品 Birthday dessert", "kind": "birthday",
    "audience": {"birthday_within": 7}, "control_pct": 0,  # a gift, not an experiment
    "message_zh": "{name}，生日快乐！{store}请您吃{offer}，券码 {code}，{until}前有效。",
    "message_en": "Happy birthday, {name}! {store} treats you to {offer}: code {code}, "
                  "valid until {until}.",
    "channels": ["tablet", "receipt"], "schedule": {"run": "daily", "at": "09:00"}}


class DefaultOffer(TypedDict):
    offer: Name
    on: bool
    template: dict[str, Any]
    campaign_id: str | None  # the dessert's campaign; the welcome coupon needs none


def _key(name: str, part: str = "template") -> str:
    return f"default_offer:{name}:{part}"


def install_default_offers(store: Store) -> int:
    """Both offers, switched off and without a value, once per store; returns how many
    were added."""
    if store.meta(INSTALLED) is not None:
        return 0
    with store.write():
        if store.meta(INSTALLED) is not None:
            return 0
        welcome = create_template(store, "注册礼券", "amount_off", valid_days=30, active=False)
        dessert = create_template(store, "生日甜品", "free_dish", valid_days=14, active=False)
        campaign = create_campaign(store, {
            **DESSERT_CAMPAIGN, "offer": {"type": "coupon", "template_id": dessert["id"]}},
            actor="hub")
        store.set_meta(_key("welcome"), welcome["id"])
        store.set_meta(_key("birthday"), dessert["id"])
        store.set_meta(_key("birthday", "campaign"), campaign["id"])
        store.set_meta(INSTALLED, store.now_iso())
    return len(NAMES)


def _checked(name: str) -> Name:
    if name not in NAMES:
        raise InvalidInput(f"no default offer {name!r}: {', '.join(NAMES)}")
    return name


def default_offer(store: Store, name: str) -> DefaultOffer:
    offer = _checked(name)
    template_id = store.meta(_key(offer))
    if template_id is None:
        raise InvalidInput("this store's default offers are not installed yet")
    template = get_template(store, template_id)
    return DefaultOffer(offer=offer, on=template["active"], template=template,
                        campaign_id=store.meta(_key(offer, "campaign")))


def default_offers(store: Store) -> list[DefaultOffer]:
    return [default_offer(store, name) for name in NAMES]


def set_default_offer(store: Store, name: str, *, amount_fen: int | None = None,
                      dish: str | None = None, min_spend_fen: int | None = None,
                      valid_days: int | None = None, actor: str = "system") -> DefaultOffer:
    """Give the offer its value and switch it on: the welcome coupon an amount (fen), the
    dessert a dish; optionally a minimum spend and how many days a coupon lasts."""
    offer = default_offer(store, name)
    if offer["offer"] == "welcome" and (amount_fen is None or dish is not None):
        raise InvalidInput("the welcome coupon's value is an amount (amount_fen)")
    if offer["offer"] == "birthday" and (dish is None or amount_fen is not None):
        raise InvalidInput("the birthday dessert's value is a dish")
    changes: dict[str, Any] = {"active": True}
    for key, value in (("amount_fen", amount_fen), ("dish", dish),
                       ("min_spend_fen", min_spend_fen), ("valid_days", valid_days)):
        if value is not None:
            changes[key] = value
    with store.write():
        update_template(store, offer["template"]["id"], changes, actor=actor)
        _campaign(store, offer, True, actor)
    return default_offer(store, name)


def switch_off_default_offer(store: Store, name: str, *, actor: str = "system") -> DefaultOffer:
    """No more of it from now on; the coupons already issued stay good."""
    offer = default_offer(store, name)
    with store.write():
        update_template(store, offer["template"]["id"], {"active": False}, actor=actor)
        _campaign(store, offer, False, actor)
    return default_offer(store, name)


def _campaign(store: Store, offer: DefaultOffer, active: bool, actor: str) -> None:
    """The dessert is handed out by its campaign: on and off with the template."""
    if offer["campaign_id"] is not None and \
            get_campaign(store, offer["campaign_id"])["active"] != active:
        update_campaign(store, offer["campaign_id"], {"active": active}, actor=actor)


def welcome_template(store: Store) -> str | None:
    """The template a new member's welcome coupon comes from: the one `[printing]
    welcome_coupon_template` names, else the store's default welcome coupon once it is on;
    None for no welcome coupon."""
    named = store.settings.printing.welcome_coupon_template
    if named:
        return template_by_name(store, named)
    template_id = store.meta(_key("welcome"))
    if template_id is None or not get_template(store, template_id)["active"]:
        return None
    return template_id
