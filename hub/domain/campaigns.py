"""Campaigns: an audience, an offer, a message and a schedule, measured against a control group.

Scheduled campaigns (once, daily) pick their audience and act on each guest once per occasion
(see `audience.Pick`). Checkout campaigns act inside the checkout transaction: the member-day
price, double points for guests a campaign reached, the referral reward on a new guest's
first payment, and the tier-upgrade gift. Every picked guest is assigned by a hash of the
campaign, guest and occasion to the treated group or the held-out control group, which gets
nothing, so the results show the lift over what would have happened anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import wechat
from .audience import Audience, local_today, pick
from .clock import from_iso, to_iso
from .config import HHMM
from .coupons import Line, create_template, get_template, issue_while_left
from .errors import InvalidInput, NotFound
from .ids import HQ_ORIGIN, new_id
from .ledgers import add_points_entry, earn_expiry
from .outreach import (
    check_sms_wording,
    check_template,
    preview_messages,
    queue_messages,
    wording,
)
from .store import Store, dumps

KINDS = ("custom", "win_back", "birthday", "member_day", "referral", "tier_upgrade",
         "mystery_box")
# Kinds that act at the till, inside the checkout, instead of on a schedule.
AT_CHECKOUT = ("member_day", "referral", "tier_upgrade")
BATCH = 200


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "coupon", "mystery", "points", "member_price", "referral"] = "none"
    template_id: str | None = None  # coupon
    template_ids: list[str] = Field(default_factory=list)  # mystery: one of these, by chance
    multiplier_pct: Annotated[int, Field(ge=100, le=1000)] = 200  # points
    days: Annotated[int, Field(ge=1, le=365)] = 14  # points: how long the boost lasts
    percent_off: Annotated[int, Field(ge=1, le=100)] = 50  # member_price
    weekday: Annotated[int, Field(ge=1, le=7)] = 3  # member_price: ISO weekday, 3 = Wednesday
    dishes: list[str] = Field(default_factory=list)  # member_price: these only; [] whole bill
    new_guest_points: Annotated[int, Field(ge=0, le=100_000)] = 100  # referral
    referrer_points: Annotated[int, Field(ge=0, le=100_000)] = 200  # referral

    @model_validator(mode="after")
    def _complete(self) -> Offer:
        if self.type == "coupon" and not self.template_id:
            raise ValueError("a coupon offer names its template_id")
        if self.type == "mystery" and len(self.template_ids) < 2:
            raise ValueError("a mystery box offers at least two template_ids")
        return self


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: Literal["once", "daily", "checkout"] = "daily"
    at: Annotated[str, Field(pattern=HHMM)] = "10:00"  # daily: local time of the run


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=60)]
    kind: Literal["custom", "win_back", "birthday", "member_day", "referral", "tier_upgrade",
                  "mystery_box"] = "custom"
    audience: Audience = Field(default_factory=Audience)
    offer: Offer = Field(default_factory=Offer)
    message_zh: str = ""
    message_en: str = ""
    channels: list[Literal["webhook", "smtp", "sms", "wechat", "receipt", "tablet"]] = \
        Field(default_factory=list)
    schedule: Schedule = Field(default_factory=Schedule)
    control_pct: Annotated[int, Field(ge=0, le=90)] = 10
    active: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        at_checkout = self.kind in AT_CHECKOUT
        if at_checkout != (self.schedule.run == "checkout"):
            raise ValueError(f"schedule.run: {self.kind} campaigns run "
                             f"{'at checkout' if at_checkout else 'once or daily'}")
        wanted = {"member_day": ("member_price",), "referral": ("referral",)}.get(self.kind)
        if wanted is not None and self.offer.type not in wanted:
            raise ValueError(f"offer.type: a {self.kind} campaign offers {wanted[0]}")
        if wanted is None and self.offer.type in ("member_price", "referral"):
            raise ValueError(f"offer.type: {self.offer.type} belongs to a "
                             f"{'member_day' if self.offer.type == 'member_price' else 'referral'}"
                             " campaign")
        if self.kind in ("member_day", "referral") and self.control_pct:
            raise ValueError("control_pct: a promise made to every guest has no control group")
        if self.kind == "member_day" and self.audience.model_dump(exclude_defaults=True).keys() \
                - {"tiers"}:
            raise ValueError("audience: a member day is for tiers only (decided at the till)")
        if self.channels and not (self.message_zh or self.message_en):
            raise ValueError("a campaign with channels needs a message (message_zh or _en)")
        if self.channels:
            self.audience.consent = True  # only guests who agreed to marketing are messaged
        return self


def _spec(data: dict[str, Any]) -> CampaignSpec:
    try:
        spec = CampaignSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "campaign"
        reason = "unknown field" if first["type"] == "extra_forbidden" else \
            first["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"campaign: {where}: {reason}" if where != "campaign"
                           else f"campaign: {reason}") from None
    check_template(spec.message_zh, "message_zh")
    check_template(spec.message_en, "message_en")
    return spec


def _check_templates(store: Store, offer: Offer) -> None:
    for template_id in ([offer.template_id] if offer.template_id else []) + offer.template_ids:
        try:
            get_template(store, template_id)
        except NotFound as error:
            raise InvalidInput(f"campaign: offer: {error}") from None


def _check_sms(store: Store, spec: CampaignSpec) -> None:
    """SMS and WeChat carry only templates: the campaign's wording must be one."""
    if "sms" in spec.channels:
        check_sms_wording(store, spec.message_zh, spec.message_en)
    if "wechat" in spec.channels:
        text = wording(store.settings.locale, spec.message_zh, spec.message_en)
        template = wechat.check_wording(store, text)
        for name, value in template.params.items():
            check_template(value, f"WeChat template {template.id} {name}")


def campaign_record(row: Any) -> dict[str, Any]:
    record = dict(row)
    for key in ("audience", "offer", "channels", "schedule"):
        record[key] = json.loads(record[key])
    record["active"] = bool(record["active"])
    return record


def get_campaign(store: Store, campaign_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
    if row is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    return campaign_record(row)


def list_campaigns(store: Store) -> list[dict[str, Any]]:
    return [campaign_record(r) for r in store.conn.execute(
        "SELECT * FROM campaigns ORDER BY active DESC, created_at, id")]


def _columns(spec: CampaignSpec) -> dict[str, Any]:
    return {"name": spec.name.strip(), "kind": spec.kind,
            "audience": dumps(spec.audience.model_dump(exclude_defaults=True)),
            "offer": dumps(spec.offer.model_dump()), "message_zh": spec.message_zh,
            "message_en": spec.message_en, "channels": dumps(list(dict.fromkeys(spec.channels))),
            "schedule": dumps(spec.schedule.model_dump()), "control_pct": spec.control_pct,
            "active": int(spec.active)}


def create_campaign(store: Store, data: dict[str, Any], actor: str = "system",
                    origin: str | None = None) -> dict[str, Any]:
    spec = _spec(data)
    row = {"id": new_id(), **_columns(spec), "origin": origin or store.store_id,
           "created_at": store.now_iso(), "updated_at": store.now_iso(), "last_run_at": None}
    with store.write():
        _check_templates(store, spec.offer)
        _check_sms(store, spec)
        store.db.table("campaigns").insert(row)
        saved = get_campaign(store, row["id"])
        store.emit("campaign.saved", saved)
        store.audit(actor, "campaign.create", row["id"], {"name": row["name"]})
    return saved


def chain_campaign(data: dict[str, Any], now_iso: str) -> dict[str, Any]:
    """A campaign HQ pushes to every store, checked here as a store would check it; an `id`
    in `data` changes that campaign instead of making a new one."""
    if not isinstance(data, dict):
        raise InvalidInput("the campaign must be a JSON object")
    body = dict(data)
    campaign_id = body.pop("id", None) or new_id()
    if not isinstance(campaign_id, str):
        raise InvalidInput("id must be text")
    row = {"id": campaign_id, **_columns(_spec(body)), "origin": HQ_ORIGIN,
           "created_at": now_iso, "updated_at": now_iso, "last_run_at": None}
    return campaign_record(row)


def update_campaign(store: Store, campaign_id: str, changes: dict[str, Any],
                    actor: str = "system") -> dict[str, Any]:
    """Change any part; what was already sent stays as it was."""
    if not isinstance(changes, dict):
        raise InvalidInput("changes must be a JSON object")
    with store.write():
        current = get_campaign(store, campaign_id)
        editable = {k: current[k] for k in CampaignSpec.model_fields}
        spec = _spec({**editable, **changes})
        _check_templates(store, spec.offer)
        _check_sms(store, spec)
        values = {**_columns(spec), "updated_at": store.now_iso(), "id": campaign_id}
        sets = ", ".join(f"{k} = :{k}" for k in values if k != "id")
        store.conn.execute(f"UPDATE campaigns SET {sets} WHERE id = :id", values)
        saved = get_campaign(store, campaign_id)
        store.emit("campaign.saved", saved)
        store.audit(actor, "campaign.update", campaign_id, {"changed": sorted(changes)})
    return saved


# -- built-in campaigns ----------------------------------------------------------------------

def _builtins(templates: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": "老客回归 Win-back", "kind": "win_back", "audience": {"lapsed_days": 90},
         "offer": {"type": "coupon", "template_id": templates["winback"]},
         "message_zh": "{name}，好久不见！{store}为您留了一张{offer}，券码 {code}，{until}前有效。"
                       "{unsubscribe}",
         "message_en": "{name}, we miss you! {store} saved you {offer}: code {code}, valid "
                       "until {until}. {unsubscribe}",
         "channels": ["webhook", "tablet"], "schedule": {"run": "daily", "at": "10:00"}},
        {"name": "生日礼 Birthday", "kind": "birthday", "audience": {"birthday_within": 3},
         "offer": {"type": "coupon", "template_id": templates["birthday"]},
         "message_zh": "{name}，生日快乐！{store}送您{offer}，券码 {code}，{until}前有效。"
                       "{unsubscribe}",
         "message_en": "Happy birthday, {name}! {store} gives you {offer}: code {code}, valid "
                       "until {until}. {unsubscribe}",
         "channels": ["webhook", "tablet"], "schedule": {"run": "daily", "at": "10:00"}},
        {"name": "会员日 周三半价 Member day", "kind": "member_day",
         "offer": {"type": "member_price", "percent_off": 50, "weekday": 3},
         "schedule": {"run": "checkout"}, "control_pct": 0},
        {"name": "老带新 Referral", "kind": "referral",
         "offer": {"type": "referral", "new_guest_points": 100, "referrer_points": 200},
         "schedule": {"run": "checkout"}, "control_pct": 0},
        {"name": "升级礼 Tier upgrade", "kind": "tier_upgrade",
         "offer": {"type": "coupon", "template_id": templates["upgrade"]},
         "message_zh": "恭喜{name}升级！送您{offer}，券码 {code}。",
         "message_en": "Congratulations on your new tier, {name}! Here is {offer}: {code}.",
         "channels": ["receipt"], "schedule": {"run": "checkout"}},
        {"name": "神秘盲盒 Mystery box", "kind": "mystery_box", "audience": {"lapsed_days": 180},
         "offer": {"type": "mystery", "template_ids": [templates["box_small"],
                                                       templates["box_big"]]},
         "message_zh": "{name}，{store}给您寄来一个神秘盲盒：{offer}！券码 {code}。{unsubscribe}",
         "message_en": "{name}, a mystery box from {store}: {offer}! Code {code}. {unsubscribe}",
         "channels": ["webhook"], "schedule": {"run": "daily", "at": "11:00"}},
    ]


def install_builtins(store: Store) -> int:
    """The ready-made campaigns, switched off, once per store. Returns how many were added."""
    if store.meta("builtin_campaigns") is not None:
        return 0
    with store.write():
        if store.meta("builtin_campaigns") is not None:
            return 0
        made = {
            "winback": create_template(store, "回归礼券", "amount_off", amount_fen=2000,
                                       min_spend_fen=10000, valid_days=30),
            "birthday": create_template(store, "生日礼券", "amount_off", amount_fen=3000,
                                        min_spend_fen=8000, valid_days=14),
            "upgrade": create_template(store, "升级礼券", "amount_off", amount_fen=5000,
                                       min_spend_fen=20000, valid_days=60),
            "box_small": create_template(store, "盲盒·小惊喜", "amount_off", amount_fen=1000,
                                         valid_days=21),
            "box_big": create_template(store, "盲盒·大惊喜", "percent_off", percent_off=30,
                                       valid_days=21),
        }
        specs = _builtins({key: template["id"] for key, template in made.items()})
        for spec in specs:
            create_campaign(store, spec, actor="hub")
        store.set_meta("builtin_campaigns", store.now_iso())
    return len(specs)


# -- scheduled runs --------------------------------------------------------------------------

def _share(*parts: str) -> int:
    """0-99, evenly spread and fixed for the same inputs: the control-group draw."""
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:4], "big") % 100


def _target(store: Store, campaign: dict[str, Any], member_id: str, occasion: str,
            arm: str | None = None) -> dict[str, Any] | None:
    """Assign one guest for one occasion and act on it; returns the target as HQ sees it,
    None if they were assigned before."""
    if arm is None:
        arm = "control" if _share(campaign["id"], member_id, occasion) \
            < campaign["control_pct"] else "treated"
    target = {"member_id": member_id, "occasion": occasion, "arm": arm, "coupon_code": None,
              "targeted_at": store.now_iso()}
    inserted = store.conn.execute(
        "INSERT OR IGNORE INTO campaign_targets (campaign_id, member_id, occasion, arm, "
        "targeted_at) VALUES (?, ?, ?, ?, ?)",
        (campaign["id"], member_id, occasion, arm, target["targeted_at"])).rowcount
    if not inserted:
        return None
    if arm == "control":
        return target
    offer, code = campaign["offer"], None
    templates = [offer["template_id"]] if offer["type"] == "coupon" else \
        offer["template_ids"] if offer["type"] == "mystery" else []
    if templates:
        chosen = templates[_share(campaign["id"], member_id, occasion, "box") % len(templates)]
        code = issue_while_left(store, chosen, member_id, reason=f"campaign:{campaign['id']}")
        if code is None:
            return target  # the template's cap is reached: the offer is over, nothing to say
        store.conn.execute("UPDATE campaign_targets SET coupon_code = ? WHERE campaign_id = ? "
                           "AND member_id = ? AND occasion = ?",
                           (code, campaign["id"], member_id, occasion))
        target["coupon_code"] = code
    queue_messages(store, campaign, member_id, code)
    return target


def _emit_targets(store: Store, campaign_id: str, targets: list[dict[str, Any]]) -> None:
    if targets:
        store.emit("campaign.targeted", {"campaign_id": campaign_id, "targets": targets})


def run_campaign(store: Store, campaign_id: str, actor: str = "scheduler") -> dict[str, Any]:
    """Pick the audience now and act on everyone not picked for the same occasion before.

    Works in batches, each one transaction, so the till never waits long behind a big run;
    a run cut short by a crash is finished by the next one.
    """
    campaign = get_campaign(store, campaign_id)
    if campaign["schedule"]["run"] == "checkout":
        raise InvalidInput(f"campaign {campaign['name']!r} acts at checkout; it has no runs")
    picks = pick(store, campaign["audience"])
    done = {(r[0], r[1]) for r in store.conn.execute(
        "SELECT member_id, occasion FROM campaign_targets WHERE campaign_id = ?",
        (campaign_id,))}
    new = [p for p in picks if (p.member_id, p.occasion) not in done]
    arms = {"treated": 0, "control": 0}
    for start in range(0, len(new), BATCH):
        batch = new[start:start + BATCH]
        with store.write():
            targeted = [t for t in (_target(store, campaign, p.member_id, p.occasion)
                                    for p in batch) if t is not None]
            for target in targeted:
                arms[target["arm"]] += 1
            _emit_targets(store, campaign_id, targeted)
    with store.write():
        store.conn.execute("UPDATE campaigns SET last_run_at = ? WHERE id = ?",
                           (store.now_iso(), campaign_id))
        store.audit(actor, "campaign.run", campaign_id,
                    {"audience": len(picks), "new": len(new), **arms})
    return {"campaign_id": campaign_id, "audience": len(picks), "new": len(new), **arms}


def preview_campaign(store: Store, campaign_id: str, sample: int = 5) -> dict[str, Any]:
    """How many guests the campaign would pick now, and the exact messages the first
    `sample` of them (the most recently seen) would get; nothing is issued or sent. The
    coupon is shown as its template would issue it today (a mystery box: its first prize)."""
    if not 0 <= sample <= 50:
        raise InvalidInput("sample: 0 to 50 guests")
    campaign = get_campaign(store, campaign_id)
    offer = Offer.model_validate(campaign["offer"])
    template_id = offer.template_id if offer.type == "coupon" else \
        (offer.template_ids[0] if offer.type == "mystery" else None)
    coupon = None
    if template_id is not None:
        template = get_template(store, template_id)
        coupon = {**template, "valid_until": to_iso(
            store.now() + timedelta(days=template["valid_days"]))}
    picks = pick(store, campaign["audience"])
    return {"campaign_id": campaign_id, "count": len(picks),
            "messages": preview_messages(store, campaign,
                                         [p.member_id for p in picks[:sample]], coupon)}


def due_campaigns(store: Store) -> list[str]:
    """Active scheduled campaigns whose time has come: `once` at its first chance, `daily`
    once a day from its hour on (store time)."""
    zone = ZoneInfo(store.settings.timezone)
    local_now = store.now().astimezone(zone)
    due = []
    for campaign in list_campaigns(store):
        schedule, last = campaign["schedule"], campaign["last_run_at"]
        if not campaign["active"] or schedule["run"] == "checkout":
            continue
        if schedule["run"] == "once":
            if last is None:
                due.append(campaign["id"])
            continue
        if local_now.strftime("%H:%M") < schedule["at"]:
            continue
        if last is None or from_iso(last).astimezone(zone).date() < local_now.date():
            due.append(campaign["id"])
    return due


# -- at the till -----------------------------------------------------------------------------

def _active(store: Store, *, kind: str | None = None,
            offer: str | None = None) -> list[dict[str, Any]]:
    """Switched-on campaigns of a kind, or making an offer of a type whatever their kind."""
    return [campaign_record(r) for r in store.conn.execute(
        "SELECT * FROM campaigns WHERE active = 1 AND (?1 IS NULL OR kind = ?1) "
        "AND (?2 IS NULL OR json_extract(offer, '$.type') = ?2) ORDER BY created_at, id",
        (kind, offer))]


def member_day_price(store: Store, member: Any, lines: Sequence[Line]) -> tuple[str | None, int]:
    """The best member-day discount this guest gets on this bill today, and its campaign."""
    if member is None:
        return None, 0
    weekday = local_today(store).isoweekday()
    best: tuple[str | None, int] = (None, 0)
    for campaign in _active(store, offer="member_price"):
        offer, tiers = campaign["offer"], campaign["audience"].get("tiers")
        if offer["weekday"] != weekday or (tiers and member["tier"] not in tiers):
            continue
        base = sum(line.qty * line.unit_price_fen for line in lines
                   if not offer["dishes"] or line.dish in offer["dishes"])
        discount = base * offer["percent_off"] // 100
        if discount > best[1]:
            best = (campaign["id"], discount)
    return best


def points_boost(store: Store, member_id: str) -> tuple[str | None, int]:
    """The highest points multiplier a campaign promised this guest and that still runs."""
    best: tuple[str | None, int] = (None, 100)
    for campaign in _active(store, offer="points"):
        offer = campaign["offer"]
        since = to_iso(store.now() - timedelta(days=offer["days"]))
        if store.one("SELECT 1 FROM campaign_targets WHERE campaign_id = ? AND member_id = ? "
                     "AND arm = 'treated' AND targeted_at >= ?",
                     (campaign["id"], member_id, since)) and offer["multiplier_pct"] > best[1]:
            best = (campaign["id"], offer["multiplier_pct"])
    return best


def record_use(store: Store, campaign_id: str, order_id: str, member_id: str, *,
               discount_fen: int = 0, points: int = 0) -> None:
    use = {"campaign_id": campaign_id, "order_id": order_id, "member_id": member_id,
           "discount_fen": discount_fen, "points": points, "used_at": store.now_iso()}
    if store.conn.execute(
            "INSERT OR IGNORE INTO campaign_uses (campaign_id, order_id, member_id, "
            "discount_fen, points, used_at) VALUES (:campaign_id, :order_id, :member_id, "
            ":discount_fen, :points, :used_at)", use).rowcount:
        store.emit("campaign.used", use)


def after_payment(store: Store, member: Any, order_id: str, old_tier: str,
                  new_tier: str) -> None:
    """Inside the checkout: the referral reward on a first payment, the tier-upgrade gift."""
    member_id = member["id"]
    first = store.scalar("SELECT orders FROM member_stats WHERE member_rowid = "
                         "(SELECT rowid FROM members WHERE id = ?)", (member_id,)) == 1
    if first and member["referred_by"]:
        for campaign in _active(store, kind="referral"):
            offer = campaign["offer"]
            rewarded = []
            for who, points in ((member_id, offer["new_guest_points"]),
                                (member["referred_by"], offer["referrer_points"])):
                target = _target(store, campaign, who, f"referral:{member_id}", "treated") \
                    if points else None
                if target is not None:
                    add_points_entry(store, who, points, "earn", reason="referral",
                                     order_id=order_id, expires_at=earn_expiry(store))
                    record_use(store, campaign["id"], order_id, who, points=points)
                    rewarded.append(target)
            _emit_targets(store, campaign["id"], rewarded)
    codes = [tier.code for tier in store.settings.tiers]
    if new_tier in codes and old_tier in codes and codes.index(new_tier) > codes.index(old_tier):
        for campaign in _active(store, kind="tier_upgrade"):
            target = _target(store, campaign, member_id, f"tier:{new_tier}")
            _emit_targets(store, campaign["id"], [target] if target else [])


# -- results ---------------------------------------------------------------------------------

# Whether a person phoned the target from the call list while the campaign measured them.
_CALLED = ("EXISTS (SELECT 1 FROM calls c WHERE c.member_id = t.member_id "
           "AND c.called_at > t.targeted_at AND c.called_at < "
           "strftime('%Y-%m-%dT%H:%M:%fZ', t.targeted_at, :window))")
_TARGETS = {"treated": "t.arm = 'treated'", "control": "t.arm = 'control'",
            "called": _CALLED, "not_called": f"NOT {_CALLED}"}


def arm_figures(store: Store, campaign_id: str, arm: str, window: str, since: str = "",
                until: str = "9999") -> dict[str, Any]:
    """One group of the campaign's targets (`_TARGETS`): their guests, coupons, returns and
    spend in the window after each was picked; `since`/`until` keep the guests picked in
    that span (UTC text) only."""
    row = store.totals(
        "SELECT COUNT(*) AS guests, COUNT(t.coupon_code) AS coupons, "
        "SUM(EXISTS (SELECT 1 FROM coupon_redemptions r WHERE r.code = t.coupon_code)) "
        "  AS redeemed, "
        "SUM(EXISTS (SELECT 1 FROM counted_orders o WHERE o.member_id = t.member_id "
        "  AND o.created_at > t.targeted_at AND o.created_at < "
        "  strftime('%Y-%m-%dT%H:%M:%fZ', t.targeted_at, :window)) "
        "  OR EXISTS (SELECT 1 FROM visits v WHERE v.member_id = t.member_id "
        "  AND v.visited_at > t.targeted_at AND v.visited_at < "
        "  strftime('%Y-%m-%dT%H:%M:%fZ', t.targeted_at, :window))) AS returned, "
        "SUM((SELECT COALESCE(SUM(o.total_fen - o.discount_fen - o.refunded_fen), 0) "
        "  FROM counted_orders o "
        "  WHERE o.member_id = t.member_id AND o.created_at > t.targeted_at "
        "  AND o.created_at < strftime('%Y-%m-%dT%H:%M:%fZ', t.targeted_at, :window))) "
        "  AS spend_fen "
        f"FROM campaign_targets t WHERE t.campaign_id = :id AND {_TARGETS[arm]} "
        "AND t.targeted_at >= :since AND t.targeted_at < :until",
        {"id": campaign_id, "window": window, "since": since, "until": until})
    guests = row["guests"]
    return {"guests": guests, "coupons_issued": row["coupons"],
            "coupons_redeemed": row["redeemed"] or 0, "returned": row["returned"] or 0,
            "return_rate": round((row["returned"] or 0) / guests, 4) if guests else 0.0,
            "spend_fen": row["spend_fen"] or 0,
            "spend_per_guest_fen": (row["spend_fen"] or 0) // guests if guests else 0}


def campaign_results(store: Store, campaign_id: str) -> dict[str, Any]:
    """Treated next to control: sent, delivered, redeemed, came back, spent; and the lift.
    `calls` splits every target by whether the call list phoned them in the window."""
    campaign = get_campaign(store, campaign_id)
    days = store.settings.campaigns.measure_days
    window = f"+{days} days"
    arms = {arm: arm_figures(store, campaign_id, arm, window)
            for arm in ("treated", "control")}
    statuses = dict(store.conn.execute(
        "SELECT status, COUNT(*) FROM messages WHERE campaign_id = ? GROUP BY status",
        (campaign_id,)).fetchall())
    messages = {status: statuses.get(status, 0) for status in
                ("queued", "sending", "sent", "delivered", "held", "failed", "skipped",
                 "unconfirmed")}
    messages["sent_total"] = messages["sent"] + messages["delivered"]
    uses = store.totals("SELECT COUNT(DISTINCT order_id) AS orders, "
                     "COALESCE(SUM(discount_fen), 0) AS discount_fen, "
                     "COALESCE(SUM(points), 0) AS points FROM campaign_uses WHERE campaign_id = ?",
                     (campaign_id,))
    treated, control = arms["treated"], arms["control"]
    lift = None
    if treated["guests"] and control["guests"]:
        lift = {"return_rate_pts": round(100 * (treated["return_rate"]
                                                - control["return_rate"]), 2),
                "spend_per_guest_fen": treated["spend_per_guest_fen"]
                - control["spend_per_guest_fen"]}
    return {"campaign": {k: campaign[k] for k in ("id", "name", "kind", "active",
                                                  "control_pct", "last_run_at")},
            "measure_days": days, "arms": arms, "messages": messages,
            "checkout_uses": dict(uses), "lift": lift,
            "calls": {group: arm_figures(store, campaign_id, group, window)
                      for group in ("called", "not_called")}}

