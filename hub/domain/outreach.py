"""Campaign messages: written when a guest is picked, sent at most once, every fate recorded.

A message is stored before anything is sent. Marketing consent, the weekly cap and a missing
address are checked when it is written (it is stored as `skipped` with the reason); consent
and quiet hours (for SMS also the carriers' window) again when it is due. An SMS is stored
as the exact text the phone will show, with the approved template and its parameters. The
sender (hub/messaging.py) claims due messages here, sends them and reports back, and the
providers' receipts settle them later; a message caught mid-send by a crash is resent only
where the far end can tell a resend (the webhook gets the message id as its Idempotency-Key,
Alibaba is asked for the text by its OutId first); an e-mail, a Tencent text or a WeChat
template message becomes `unconfirmed` for a person to check. A WeChat message goes to a guest
who follows the store's account (hub/domain/wechat.py), and still follows it when it is due.
Receipt and tablet messages are `held` until the guest's next receipt prints or their next
check-in shows it.
"""

from __future__ import annotations

import json
import string
from collections.abc import Collection
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .clock import from_iso, to_iso
from .codes import id_signature, id_signed
from .config import Settings, SmsTemplate
from .coupons import coupon_view, offer_conditions, offer_value
from .errors import InvalidInput, NotFound
from .ids import new_id
from .members import member_row, update_member
from .profiles import member_profile
from .store import Store
from .wechat import NOT_ACCEPTED, REFUSALS, follower_openid, notices_left, refused
from .wechat import approved_template as wechat_template

CHANNELS = ("webhook", "smtp", "sms", "wechat", "receipt", "tablet")
REMOTE = ("webhook", "smtp", "sms", "wechat")  # leave the building; subject to quiet hours
# The guest's own words: favourite dish, last visit (a date), tier, points balance.
PLACEHOLDERS = ("name", "store", "offer", "code", "until", "unsubscribe", "dish",
                "last_visit", "tier", "points")
LIVE = ("queued", "sending", "sent", "delivered", "held", "unconfirmed")
MAX_BACKOFF = timedelta(hours=6)
# A text the store hands to HQ ([messaging] route = "hq") waits here as `held` until HQ says
# what became of it; these are the fates HQ reports, and from where each may come (a late
# or repeated report never takes a message back).
RELAYED = "relayed: HQ sends it"
RELAYABLE = ("sms", "webhook", "smtp", "wechat")  # what HQ sends with the chain's accounts
RELAY_FATES = {"sent": ("held",), "delivered": ("held", "sent"), "failed": ("held", "sent"),
               "unconfirmed": ("held",), "skipped": ("held",)}


def check_template(text: str, what: str) -> str:
    """A message template may use only the known placeholders, plain: {name}, {code}.

    No format spec or conversion ({name:>900000000} would fill memory at render, and a
    campaign HQ pushes reaches every store), no attribute or index.
    """
    if not isinstance(text, str) or len(text) > 500:
        raise InvalidInput(f"{what} must be text of at most 500 characters")
    try:
        parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text)
                 if f is not None]
    except ValueError as error:
        raise InvalidInput(f"{what}: {error} (write {{{{ and }}}} for literal braces)") from None
    unknown = sorted({f for f, _, _ in parts if f not in PLACEHOLDERS})
    if unknown:
        raise InvalidInput(f"{what}: unknown placeholder(s) {', '.join(unknown)}; "
                           f"known: {', '.join(PLACEHOLDERS)}")
    if any(spec or conv for _, spec, conv in parts):
        raise InvalidInput(f"{what}: placeholders are plain, like {{name}}: no ':' or '!'")
    return text


def fill(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its value, and nothing else run: specs
    and conversions are ignored, whatever a stored or relayed template holds."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return template
    return "".join(literal + (values.get(field, "") if field is not None else "")
                   for literal, field, _, _ in parts)


# -- unsubscribe -----------------------------------------------------------------------------

def _signature(store: Store, member_id: str) -> str:
    return id_signature(store.settings.chain_key, "unsubscribe", member_id)


def unsubscribe_token(store: Store, member_id: str) -> str:
    """Signed with the chain key, so the link works at whichever store the guest opens it."""
    return f"{member_id}.{_signature(store, member_id)}"


def valid_token(store: Store, token: str) -> str | None:
    """The member the token names, if the chain's key signed it."""
    member_id, _, signature = (token or "").partition(".")
    if not member_id or not id_signed(store.settings.chain_key, "unsubscribe", member_id,
                                      signature):
        return None
    return member_id


def unsubscribe_link(store: Store, member_id: str) -> str | None:
    base = store.settings.campaigns.public_url.rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(store, member_id)}" if base else None


def unsubscribe(store: Store, token: str) -> dict[str, Any]:
    """The guest's one-tap opt-out: marketing consent off, recorded and sent to HQ."""
    member_id = valid_token(store, token)
    if member_id is None:
        raise InvalidInput("this unsubscribe link is not valid")
    row = member_row(store, member_id)
    if row["marketing_consent"]:
        update_member(store, member_id, {"marketing_consent": False}, actor="guest:unsubscribe")
    return {"member_id": member_id, "marketing_consent": False}


# What guests answer to the opt-out lines: 回T退订 (Alibaba's), 拒收请回复R (Tencent's).
STOP_WORDS = {"TD", "T", "R", "退订", "拒收", "STOP", "UNSUBSCRIBE"}


def is_stop_word(text: Any) -> bool:
    return isinstance(text, str) and text.strip().upper() in STOP_WORDS


def withdraw(store: Store, row: Any) -> str:
    """A guest's stop word: marketing consent off, once."""
    if row is None or row["erased_at"] or not row["marketing_consent"]:
        return "none"
    update_member(store, row["id"], {"marketing_consent": False}, actor="guest:sms-reply")
    return "unsubscribed"


def _unsubscribe_text(store: Store, member_id: str, channel: str, lang: str) -> str:
    link = unsubscribe_link(store, member_id)
    if link:
        return f"退订: {link}" if lang == "zh-CN" else f"Unsubscribe: {link}"
    if channel == "webhook":
        return "回复TD退订" if lang == "zh-CN" else "Reply STOP to unsubscribe"
    return ""


# -- writing messages ------------------------------------------------------------------------

PROFILE_FIELDS = frozenset({"dish", "last_visit", "tier", "points"})


def _values(store: Store, member: Any, coupon: dict[str, Any] | None, code: str,
            channel: str, lang: str, wanted: Collection[str]) -> dict[str, str]:
    """Every placeholder's words for this guest, the profile's only when `wanted` names one;
    `coupon` is the issued coupon's view (or, in a preview, its template with the
    `valid_until` it would get)."""
    offer = ""
    if coupon is not None:
        offer = offer_value(coupon, lang)
        conditions = offer_conditions(coupon, lang)
        if conditions:
            offer += f" ({conditions})" if lang != "zh-CN" else f"（{conditions}）"
    zone = ZoneInfo(store.settings.timezone)
    until = ""
    if coupon is not None:
        until = from_iso(coupon["valid_until"]).astimezone(zone).strftime("%Y-%m-%d")
    values = {"name": member["name"] or "", "store": store.settings.store_name, "offer": offer,
              "code": code, "until": until,
              "unsubscribe": _unsubscribe_text(store, member["id"], channel, lang)}
    if PROFILE_FIELDS.isdisjoint(wanted):
        return values  # the profile is a few queries a guest: only for words that need it
    profile = member_profile(store, member["id"])
    last = profile["last_visit_at"]
    dishes = profile["favourite_dishes"]
    return values | {
        "dish": dishes[0]["dish"] if dishes else "",
        "last_visit": from_iso(last).astimezone(zone).strftime("%Y-%m-%d") if last else "",
        "tier": profile["tier_name"] if lang == "zh-CN" else profile["tier_name_en"],
        "points": str(profile["points_balance"])}


def compose(store: Store, wording_: str, member: Any, coupon: dict[str, Any] | None,
            code: str, channel: str, lang: str) -> tuple[str, str, str]:
    """The exact text the guest will read; for an SMS or a WeChat template message also the
    template's id and its parameters as JSON ("" and "" when no template has this
    wording)."""
    if channel == "wechat":
        return _wechat_message(store, wording_, member, coupon, code, lang)
    values = _values(store, member, coupon, code, channel, lang, _fields(wording_))
    approved = approved_template(store, wording_) if channel == "sms" else None
    if approved is None:
        return fill(wording_, values).strip(), "", ""
    filled = {field: values[field] for field in _fields(approved.text)}
    return (sms_text(store, approved, filled), approved.code,
            json.dumps(filled, ensure_ascii=False))


def _wechat_message(store: Store, wording_: str, member: Any, coupon: dict[str, Any] | None,
                    code: str, lang: str) -> tuple[str, str, str]:
    """A WeChat template message: the wording as the guest reads it, the template's id, and
    each of its parameters filled with the guest's words."""
    template = wechat_template(store, wording_)
    params = template.params if template is not None else {}
    wanted = {*_fields(wording_), *(f for value in params.values() for f in _fields(value))}
    values = _values(store, member, coupon, code, "wechat", lang, wanted)
    body = fill(wording_, values).strip()
    if template is None:
        return body, "", ""
    filled = {name: fill(value, values) for name, value in params.items()}
    return body, template.id, json.dumps(filled, ensure_ascii=False)


def _address(store: Store, member: Any, channel: str) -> str | None:
    if channel == "wechat":
        return follower_openid(store, member["id"])
    found: str | None = {"webhook": member["phone"], "sms": member["phone"],
                         "smtp": member["email"]}.get(channel)
    return found


MISSING_ADDRESS = {"smtp": "no e-mail", "wechat": "not following the WeChat account"}


def _fate(store: Store, member: Any, channel: str, sms_code: str,
          capped: bool) -> tuple[str, str | None]:
    """Where a message to this guest starts: queued (or held for the receipt or tablet), or
    skipped and why."""
    messaging = store.settings.messaging
    if not member["marketing_consent"]:
        return "skipped", "no marketing consent"
    relayed = channel in RELAYABLE and messaging.route == "hq"  # HQ's accounts, not ours
    if channel == "webhook" and not messaging.webhook_url and not relayed:
        return "skipped", "the webhook channel is not set up"
    if channel == "smtp" and not messaging.smtp_host and not relayed:
        return "skipped", "e-mail is not set up"
    if channel == "sms" and not messaging.sms.provider and not relayed:
        return "skipped", "SMS is not set up"
    if channel == "sms" and not sms_code:
        return "skipped", "no approved SMS template has this wording"
    if channel == "wechat" and not messaging.wechat_on:
        return "skipped", "WeChat is not set up"
    if channel == "wechat" and not sms_code:
        return "skipped", "no WeChat template has this wording"
    address = _address(store, member, channel) if channel in REMOTE else None
    if channel in REMOTE and not address:
        return "skipped", MISSING_ADDRESS.get(channel, "no phone")
    if channel == "wechat" and address and messaging.wechat.is_notice(sms_code) and \
            not notices_left(store, address, sms_code):
        return "skipped", NOT_ACCEPTED
    if capped:
        return "skipped", "weekly cap reached"
    if relayed:
        return "held", RELAYED
    return ("queued" if channel in REMOTE else "held"), None


def _fields(text: str) -> list[str]:
    """The placeholders of a template, in order, each once."""
    try:
        found = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError:
        return []
    return list(dict.fromkeys(found))


def approved_template(store: Store, text: str) -> SmsTemplate | None:
    """The provider's approved template whose wording is this message: Chinese SMS go out
    only as a template id and its parameters, so a message no template matches cannot be
    sent by SMS."""
    wanted = (text or "").strip()
    for template in store.settings.messaging.sms.templates:
        if template.text.strip() == wanted:
            return template
    return None


def wording(lang: str, message_zh: str, message_en: str) -> str:
    """The campaign's message in the store's language, else the other one."""
    return (message_zh or message_en) if lang == "zh-CN" else (message_en or message_zh)


def check_sms_wording(store: Store, message_zh: str, message_en: str) -> None:
    """A campaign that texts guests says what an approved template says, word for word."""
    text = wording(store.settings.locale, message_zh, message_en)
    if approved_template(store, text) is None:
        codes = ", ".join(t.code for t in store.settings.messaging.sms.templates) or "none"
        raise InvalidInput("campaign: an SMS must use the wording of a template the provider "
                           f"approved ([[messaging.sms.templates]]; approved: {codes})")


def sms_text(store: Store, template: SmsTemplate, params: dict[str, str]) -> str:
    """Exactly what the guest's phone shows: the registered signature, then the template."""
    return f"【{store.settings.messaging.sms.sign_name}】{fill(template.text, params).strip()}"


def _campaigns_this_week(store: Store, member_id: str, campaign_id: str) -> int:
    since = to_iso(store.now() - timedelta(days=7))
    marks = ", ".join(f"'{s}'" for s in LIVE)
    return int(store.scalar(
        "SELECT COUNT(DISTINCT campaign_id) FROM messages WHERE member_id = ? AND "
        f"created_at >= ? AND campaign_id <> ? AND status IN ({marks})",
        (member_id, since, campaign_id)))


def queue_messages(store: Store, campaign: dict[str, Any], member_id: str,
                   code: str | None) -> list[dict[str, Any]]:
    """One message per channel of the campaign, each stored with where it stands."""
    member = member_row(store, member_id)
    lang = store.settings.locale
    template = wording(lang, campaign["message_zh"], campaign["message_en"])
    capped = _campaigns_this_week(store, member_id, campaign["id"]) >= \
        store.settings.campaigns.weekly_cap
    written = []
    coupon = coupon_view(store, code) if code else None
    for channel in campaign["channels"]:
        address = _address(store, member, channel)
        body, sms_code, params = compose(store, template, member, coupon, code or "", channel,
                                         lang)
        status, reason = _fate(store, member, channel, sms_code, capped)
        message = {
            "id": new_id(), "campaign_id": campaign["id"], "member_id": member_id,
            "channel": channel, "address": address,
            "subject": campaign["name"] if channel == "smtp" else "",
            "body": body, "template": sms_code, "params": params,
            "status": status, "reason": reason, "attempts": 0,
            "next_attempt_at": store.now_iso(), "created_at": store.now_iso(), "sent_at": None,
        }
        store.db.table("messages").insert(message)
        if channel in RELAYABLE and status == "held":  # HQ sends it: handed over with it
            store.emit("message.relayed", {
                **{key: message[key] for key in RELAYED_FIELDS},
                "unsubscribe_url": unsubscribe_link(store, member_id)})
        written.append(message)
    return written


# What HQ is handed of a message it sends for the store (the address, body and parameters
# are personal: emptied at erasure), with the guest's unsubscribe link.
RELAYED_FIELDS = ("id", "campaign_id", "member_id", "channel", "address", "subject", "body",
                  "template", "params", "created_at")


def settle_relayed(store: Store, data: dict[str, Any]) -> bool:
    """HQ's word on a message it sends for this store (sent, delivered, failed, unconfirmed,
    skipped and why); returns whether it changed the message. ValueError for a fate HQ
    cannot report, so the event is kept as a conflict for a person."""
    status = data["status"]
    if status not in RELAY_FATES:
        raise ValueError(f"a relayed text cannot become {status!r}")
    before = RELAY_FATES[status]
    reason = data.get("reason")
    refusal = data.get("refusal")
    with store.write():
        changed = store.conn.execute(
            "UPDATE messages SET status = ?, reason = ?, provider_ref = COALESCE(?, "
            "provider_ref), sent_at = COALESCE(?, sent_at) WHERE id = ? AND channel IN "
            f"({', '.join('?' for _ in RELAYABLE)}) AND status IN "
            f"({', '.join('?' for _ in before)})",
            (status, reason[:300] if isinstance(reason, str) and reason else None,
             data.get("provider_ref"), data.get("sent_at"), data["id"], *RELAYABLE,
             *before)).rowcount
        if changed and refusal in REFUSALS:  # what it says of the guest, with the failure
            # (a refusal a newer HQ names and this version does not know says nothing here)
            refused(store, str(refusal), dict(store.conn.execute(
                "SELECT address, template FROM messages WHERE id = ?",
                (data["id"],)).fetchone()))
    return bool(changed)


PREVIEW_CODE = {"zh-CN": "〈券码〉", "en": "<code>"}


def preview_messages(store: Store, campaign: dict[str, Any], member_ids: list[str],
                     coupon: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What each of these guests would get from the campaign now, channel by channel,
    written nowhere: the exact text, an SMS's template and parameters, and the fate the
    message would start with. `coupon` stands for the coupon not yet issued."""
    lang = store.settings.locale
    template = wording(lang, campaign["message_zh"], campaign["message_en"])
    code = PREVIEW_CODE[lang] if coupon is not None else ""
    shown = []
    for member_id in member_ids:
        member = member_row(store, member_id)
        capped = _campaigns_this_week(store, member_id, campaign["id"]) >= \
            store.settings.campaigns.weekly_cap
        for channel in campaign["channels"]:
            body, sms_code, params = compose(store, template, member, coupon, code, channel,
                                             lang)
            status, reason = _fate(store, member, channel, sms_code, capped)
            shown.append({"member_id": member_id, "name": member["name"], "channel": channel,
                          "text": body, "template": sms_code,
                          "params": json.loads(params) if params else None,
                          "status": status, "reason": reason})
    return shown


# -- sending ---------------------------------------------------------------------------------

def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(settings: Settings, now: datetime) -> datetime | None:
    """The end of the quiet hours if `now` falls in them, else None. Settings, not a store:
    HQ holds the texts it sends for the stores to the same hours."""
    campaigns = settings.campaigns
    return _closed_until(settings, now, campaigns.quiet_start, campaigns.quiet_end)


def carrier_closed_until(settings: Settings, now: datetime) -> datetime | None:
    """When the carriers' window for promotional texts opens, if it is shut at `now`."""
    sms = settings.messaging.sms
    return _closed_until(settings, now, sms.window_end, sms.window_start)


def retry_pause(attempts: int) -> timedelta:
    """How long a message that failed its `attempts`-th try waits: doubling, up to hours."""
    return min(timedelta(seconds=30 * 2 ** (attempts - 1)), MAX_BACKOFF)


def _closed_until(settings: Settings, now: datetime, from_: str, to: str) -> datetime | None:
    """The end of a daily closed span [from_, to) in local time, which may wrap midnight."""
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    start, end = _hhmm(from_), _hhmm(to)
    moment = local.time()
    if start == end:
        return None
    quiet = start <= moment < end if start < end else (moment >= start or moment < end)
    if not quiet:
        return None
    day = local.date() if moment < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def open_channels(settings: Settings, now: datetime, channels: tuple[str, ...],
                  skip: tuple[str, ...] = ()) -> list[str]:
    """Those of `channels` (less `skip`) that may send now: none in the quiet hours, and no
    text while the carriers' window is shut. Settings, not a store: HQ sends by them too."""
    if quiet_until(settings, now) is not None:
        return []
    shut = ("sms",) if carrier_closed_until(settings, now) is not None else ()
    return [c for c in channels if c not in skip and c not in shut]


def resent_after_crash(settings: Settings) -> tuple[str, ...]:
    """The channels whose message caught mid-send goes again: the webhook, under the same
    Idempotency-Key, and Alibaba's texts, which the sender looks up by OutId first; the
    rest may have left and wait for a person."""
    return ("webhook", "sms") if settings.messaging.sms.provider == "aliyun" else ("webhook",)


def claim_due(store: Store, limit: int = 50,
              skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Due remote messages (not of the `skip` channels), marked `sending`; none during quiet
    hours. A guest who withdrew consent since the message was written is skipped here."""
    now = store.now()
    channels = open_channels(store.settings, now, REMOTE, skip)
    if not channels:
        return []
    marks = ", ".join("?" for _ in channels)
    with store.write():
        rows = store.conn.execute(
            "SELECT g.*, m.marketing_consent FROM messages g JOIN members m ON m.id = g.member_id "
            f"WHERE g.status = 'queued' AND g.channel IN ({marks}) AND g.next_attempt_at <= ? "
            "ORDER BY g.next_attempt_at, g.id LIMIT ?", (*channels, to_iso(now), limit)).fetchall()
        claimed = []
        for row in rows:
            withdrawn = "unsubscribed" if not row["marketing_consent"] else \
                MISSING_ADDRESS["wechat"] if row["channel"] == "wechat" and \
                follower_openid(store, row["member_id"]) != row["address"] else None
            if withdrawn:
                store.conn.execute("UPDATE messages SET status = 'skipped', reason = ? "
                                   "WHERE id = ?", (withdrawn, row["id"]))
                continue
            store.conn.execute("UPDATE messages SET status = 'sending', attempts = attempts + 1 "
                               "WHERE id = ?", (row["id"],))
            message = dict(row)
            message.pop("marketing_consent")
            message["attempts"] += 1
            claimed.append(message)
    return claimed


def mark_sent(store: Store, message_id: str, delivered: bool = False,
              provider_ref: str | None = None) -> None:
    """`provider_ref` is the provider's id of the text, which its delivery receipts name."""
    with store.write():
        store.conn.execute("UPDATE messages SET status = ?, sent_at = ?, reason = NULL, "
                           "provider_ref = COALESCE(?, provider_ref) "
                           "WHERE id = ? AND status = 'sending'",
                           ("delivered" if delivered else "sent", store.now_iso(), provider_ref,
                            message_id))


def mark_receipt(store: Store, message_id: str, delivered: bool, reason: str = "") -> bool:
    """The carrier's word on a sent text: delivered to the phone, or not (and why). A
    receipt for a message not waiting for one (unknown, or already settled) changes
    nothing; returns whether this one did."""
    with store.write():
        changed = store.conn.execute(
            "UPDATE messages SET status = ?, reason = ? WHERE id = ? AND status = 'sent'",
            ("delivered" if delivered else "failed", (reason or None) and reason[:300],
             message_id)).rowcount
    return bool(changed)


def mark_receipt_by_ref(store: Store, provider_ref: str, delivered: bool,
                        reason: str = "") -> bool:
    """`mark_receipt` for a receipt that names the text by the provider's id of it (Tencent's
    pushes name its SerialNo, not our id)."""
    row = store.one("SELECT id FROM messages WHERE provider_ref = ? AND channel = 'sms'",
                    (provider_ref,))
    return row is not None and mark_receipt(store, row["id"], delivered, reason)


def awaiting_receipt(store: Store, channel: str, since: datetime,
                     limit: int = 50) -> list[dict[str, Any]]:
    """Sent messages of the channel whose receipt has not come, the longest not asked about
    first, each marked as asked now: texts whose receipt is slow take their turn with the
    rest instead of being asked about every round ahead of them."""
    with store.write():
        rows = store.conn.execute(
            "SELECT * FROM messages WHERE channel = ? AND status = 'sent' AND sent_at >= ? "
            "ORDER BY COALESCE(receipt_asked_at, sent_at), id LIMIT ?",
            (channel, to_iso(since), limit)).fetchall()
        store.conn.executemany("UPDATE messages SET receipt_asked_at = ? WHERE id = ?",
                               [(store.now_iso(), row["id"]) for row in rows])
    return [dict(r) for r in rows]


def mark_failed(store: Store, message_id: str, error: str, retryable: bool,
                unconfirmed: bool = False) -> None:
    """Try again later with a growing pause, until the channel's attempts are used up.
    `unconfirmed`: it may have gone and the channel cannot tell, so a person checks."""
    with store.write():
        row = store.one("SELECT attempts FROM messages WHERE id = ?", (message_id,))
        if row is None:
            raise NotFound(f"no message {message_id!r}")
        if unconfirmed:
            store.conn.execute("UPDATE messages SET status = 'unconfirmed', reason = ? "
                               "WHERE id = ? AND status = 'sending'", (error[:300], message_id))
        elif retryable and row["attempts"] < store.settings.messaging.max_attempts:
            pause = retry_pause(row["attempts"])
            store.conn.execute(
                "UPDATE messages SET status = 'queued', reason = ?, next_attempt_at = ? "
                "WHERE id = ? AND status = 'sending'",
                (error[:300], to_iso(store.now() + pause), message_id))
        else:
            store.conn.execute("UPDATE messages SET status = 'failed', reason = ? "
                               "WHERE id = ? AND status = 'sending'", (error[:300], message_id))


def release(store: Store, message_id: str) -> None:
    """Put a claimed message back untried (its channel went down mid-round)."""
    with store.write():
        store.conn.execute("UPDATE messages SET status = 'queued', attempts = attempts - 1 "
                           "WHERE id = ? AND status = 'sending'", (message_id,))


def recover(store: Store) -> int:
    """After a crash: webhook messages go again under the same Idempotency-Key, and Alibaba
    texts too (the sender asks Alibaba for the message before it sends one again); e-mails,
    Tencent texts and WeChat messages may have left, so they wait for a person. Returns how
    many were found mid-send."""
    again_channels = resent_after_crash(store.settings)
    marks = ", ".join("?" for _ in again_channels)
    with store.write():
        again = store.conn.execute("UPDATE messages SET status = 'queued' "
                                   f"WHERE status = 'sending' AND channel IN ({marks})",
                                   again_channels).rowcount
        unsure = store.conn.execute(
            "UPDATE messages SET status = 'unconfirmed', reason = 'the hub stopped mid-send' "
            "WHERE status = 'sending'").rowcount
    return again + unsure


def deliver_held(store: Store, member_id: str, channel: str) -> list[str]:
    """Hand over the guest's held receipt or tablet messages; the caller shows or prints
    them in the same change."""
    with store.write():  # read under the lock: two tablets must not both show one message
        rows = store.conn.execute(
            "SELECT g.id, g.body FROM messages g JOIN members m ON m.id = g.member_id "
            "WHERE g.member_id = ? AND g.channel = ? AND g.status = 'held' "
            "AND m.marketing_consent = 1 ORDER BY g.created_at", (member_id, channel)).fetchall()
        for row in rows:
            store.conn.execute("UPDATE messages SET status = 'delivered', sent_at = ? "
                               "WHERE id = ?", (store.now_iso(), row["id"]))
    return [row["body"] for row in rows]


def list_messages(store: Store, campaign_id: str | None = None, status: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    rows = store.conn.execute(
        "SELECT * FROM messages WHERE (?1 IS NULL OR campaign_id = ?1) "
        "AND (?2 IS NULL OR status = ?2) ORDER BY created_at DESC, id LIMIT ?3",
        (campaign_id, status, limit)).fetchall()
    return [dict(r) for r in rows]
