"""Guests who follow the store's WeChat Official Account (服务号): which member an OpenID is,
and whether they still follow.

The kiosk asks WeChat for a parametric QR whose scene is a random token standing for the guest
it just signed up (or who showed their member QR); WeChat tells the hub the follower's OpenID
with that scene when they scan it (`subscribe` for a new follower, `SCAN` for one already
following), and the token names the member. Following is the guest's WeChat consent, on top of
marketing consent: unfollowing (or WeChat answering that they no longer follow) withdraws it
and nothing else, so their SMS consent stands. Each change goes to HQ in the same transaction
(`wechat.follower`, with the OpenID, which an erasure scrubs there as here).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from .clock import from_iso, to_iso
from .config import WeChatTemplate
from .errors import InvalidInput, WeChatUnavailable
from .store import Store

SCENE_PREFIX = "m"  # the scene_str of a follow QR: "m" and 32 hex digits (WeChat allows 64)
EVENT = "wechat.follower"
NOT_ACCEPTED = "has not accepted this WeChat notice (订阅通知)"


def new_scene(store: Store, member_id: str) -> str:
    """A fresh scene for this guest's follow QR, valid as long as the QR WeChat makes for it;
    the scenes that expired go."""
    scene = SCENE_PREFIX + secrets.token_hex(16)
    expires = store.now() + timedelta(seconds=store.settings.messaging.wechat.qr_expire_s)
    with store.write():
        store.conn.execute("DELETE FROM wechat_scenes WHERE expires_at < ?", (store.now_iso(),))
        store.conn.execute("INSERT INTO wechat_scenes (scene, member_id, expires_at) "
                           "VALUES (?, ?, ?)", (scene, member_id, to_iso(expires)))
    return scene


# A store whose messages leave from HQ ([messaging] route = "hq") asks HQ for the follow QR
# of a scene it made (`wechat.qr_wanted`, with the scene), and HQ's answer comes back on the
# feed (`wechat.qr`, to that store), where the kiosk's request waits for it.
QR_WANTED = "wechat.qr_wanted"


def scene_for_hq(store: Store, member_id: str) -> str:
    """A fresh scene for this guest, handed to HQ to make its QR in the same change."""
    with store.write():
        scene = new_scene(store, member_id)
        expires = store.scalar("SELECT expires_at FROM wechat_scenes WHERE scene = ?",
                               (scene,))
        store.emit(QR_WANTED, {"scene": scene, "member_id": member_id, "expires_at": expires})
    return scene


def qr_made(store: Store, data: dict[str, Any]) -> None:
    """HQ's answer for one of this store's scenes: the QR WeChat made, or why it made none."""
    error = data.get("error")
    store.conn.execute("UPDATE wechat_scenes SET qr_url = ?, qr_ticket = ?, qr_expire_s = ?, "
                       "qr_error = ? WHERE scene = ?",
                       (None if error else str(data["url"]), data.get("ticket"),
                        int(data.get("expire_seconds") or 0) or None,
                        str(error)[:300] if error else None, str(data["scene"])))


def made_qr(store: Store, scene: str) -> dict[str, Any] | None:
    """The follow QR HQ made for the scene, None while it has not said; WeChatUnavailable
    when it could not make one."""
    row = store.one("SELECT qr_url, qr_ticket, qr_expire_s, qr_error FROM wechat_scenes "
                    "WHERE scene = ?", (scene,))
    if row is not None and row["qr_error"]:
        raise WeChatUnavailable(f"HQ made no follow QR: {row['qr_error']}")
    if row is None or not row["qr_url"]:
        return None
    return {"url": row["qr_url"], "ticket": row["qr_ticket"],
            "expire_seconds": row["qr_expire_s"]}


def _changed(store: Store, member_id: str, openid: str, following: bool, actor: str) -> None:
    """Record where the follower stands now, for HQ and the audit, inside the caller's change."""
    store.emit(EVENT, {"member_id": member_id, "openid": openid, "following": following,
                       "changed_at": store.now_iso()})
    store.audit(actor, "wechat.follow" if following else "wechat.unfollow", member_id)


def follow(store: Store, openid: str, scene: str) -> str | None:
    """A follower scanned a follow QR (or followed the account some other way, `scene` "");
    returns the member they are now linked to, if any. A live scene links the OpenID to its
    member (moving it off any other member, and replacing an OpenID the member had before);
    without one, an OpenID already linked follows again."""
    if not openid or len(openid) > 64:
        raise InvalidInput("a WeChat event without a valid FromUserName (OpenID)")
    with store.write():
        row = store.one("SELECT s.member_id FROM wechat_scenes s JOIN members m ON "
                        "m.id = s.member_id WHERE s.scene = ? AND s.expires_at >= ? "
                        "AND m.erased_at IS NULL", (scene, store.now_iso())) if scene else None
        now = store.now_iso()
        if row is None:
            known = store.one("SELECT member_id, following FROM wechat_followers "
                              "WHERE openid = ?", (openid,))
            if known is None:
                return None
            if not known["following"]:
                store.conn.execute("UPDATE wechat_followers SET following = 1, changed_at = ? "
                                   "WHERE openid = ?", (now, openid))
                _changed(store, known["member_id"], openid, True, "guest:wechat")
            return str(known["member_id"])
        member_id = str(row["member_id"])
        current = store.one("SELECT openid, following FROM wechat_followers WHERE "
                            "member_id = ?", (member_id,))
        if current is not None and current["openid"] == openid and current["following"]:
            return member_id  # the same guest scanning again
        store.conn.execute("DELETE FROM wechat_followers WHERE openid = ? AND member_id <> ?",
                           (openid, member_id))
        if current is not None and current["openid"] != openid:  # what the old one accepted
            store.conn.execute("DELETE FROM wechat_notices WHERE openid = ?",
                               (current["openid"],))
        store.conn.execute(
            "INSERT INTO wechat_followers (member_id, openid, following, linked_at, changed_at) "
            "VALUES (?1, ?2, 1, ?3, ?3) ON CONFLICT (member_id) DO UPDATE SET openid = ?2, "
            "following = 1, changed_at = ?3, linked_at = CASE WHEN openid = ?2 THEN linked_at "
            "ELSE ?3 END", (member_id, openid, now))
        _changed(store, member_id, openid, True, "guest:wechat")
    return member_id


def unfollow(store: Store, openid: str, actor: str = "guest:wechat") -> bool:
    """The follower left the account (or WeChat says they no longer follow it): WeChat
    consent withdrawn. Returns whether it changed anything."""
    with store.write():
        row = store.one("SELECT member_id FROM wechat_followers WHERE openid = ? AND "
                        "following = 1", (openid,))
        if row is None:
            return False
        store.conn.execute("UPDATE wechat_followers SET following = 0, changed_at = ? "
                           "WHERE openid = ?", (store.now_iso(), openid))
        _changed(store, str(row["member_id"]), openid, False, actor)
    return True


def follower_openid(store: Store, member_id: str) -> str | None:
    """The OpenID a message to this guest goes to, while they follow the account."""
    found = store.scalar("SELECT openid FROM wechat_followers WHERE member_id = ? AND "
                         "following = 1", (member_id,))
    return None if found is None else str(found)


def follower(store: Store, member_id: str) -> dict[str, Any] | None:
    """Where the guest stands with the account (for their profile and the tests), with the
    subscription notices they may still be sent, by template."""
    row = store.one("SELECT openid, following, linked_at, changed_at FROM wechat_followers "
                    "WHERE member_id = ?", (member_id,))
    if row is None:
        return None
    accepted = store.conn.execute("SELECT template_id FROM wechat_notices WHERE openid = ? "
                                  "ORDER BY template_id", (row["openid"],)).fetchall()
    notices = {t["template_id"]: notices_left(store, row["openid"], t["template_id"])
               for t in accepted}
    return {**dict(row), "following": bool(row["following"]), "notices": notices}


def restore_follower(store: Store, data: dict[str, Any]) -> None:
    """A `wechat.follower` event of this store's own, replayed by a restore."""
    store.conn.execute("DELETE FROM wechat_followers WHERE openid = ? AND member_id <> ?",
                       (data["openid"], data["member_id"]))
    store.conn.execute(
        "INSERT INTO wechat_followers (member_id, openid, following, linked_at, changed_at) "
        "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (member_id) DO UPDATE SET openid = ?2, "
        "following = ?3, changed_at = ?4", (data["member_id"], data["openid"],
                                            int(bool(data["following"])), data["changed_at"]))


def erase_follower(store: Store, member_id: str) -> None:
    """An erasure, inside the caller's change: the OpenID, the notices it accepted and the
    guest's scenes go."""
    store.conn.execute("DELETE FROM wechat_notices WHERE openid IN (SELECT openid FROM "
                       "wechat_followers WHERE member_id = ?)", (member_id,))
    store.conn.execute("DELETE FROM wechat_followers WHERE member_id = ?", (member_id,))
    store.conn.execute("DELETE FROM wechat_scenes WHERE member_id = ?", (member_id,))


# -- subscription notices (订阅通知) ------------------------------------------------------------
# A notice goes to a guest only once per acceptance (WeChat's one-time subscription): the
# hub counts what each linked follower accepted, and a message of a notice written to them
# uses one up while it may reach them (queued, sending, unconfirmed) or once WeChat took it
# (sent, even if WeChat then reports it failed). One WeChat never took gave nothing away;
# WeChat saying there is none left (43101), or the guest turning it down, starts the count
# again from nothing and skips what of it still waits.
USING = ("queued", "sending", "unconfirmed", "held")  # held: HQ sends it
REPORT_SLACK_S = 60  # WeChat's clock against the hub's, for matching its notice reports


# What WeChat's refusal of a message says of the guest (hub/sending.py's SendFailed.refusal):
# they no longer follow the account, or none of this notice they accepted is left (43101).
GONE, NOTICE_USED_UP = "not_following", "notice_used_up"
REFUSALS = (GONE, NOTICE_USED_UP)


def refused(store: Store, refusal: str, message: dict[str, Any]) -> None:
    """Write what a refusal of this message says of the guest, inside the caller's change;
    ValueError for a refusal this version does not know."""
    openid, template_id = str(message["address"] or ""), str(message["template"] or "")
    if refusal == GONE:
        unfollow(store, openid, actor="wechat:not-following")
    elif refusal == NOTICE_USED_UP:
        notice_withdrawn(store, openid, template_id)
    else:
        raise ValueError(f"a refusal this version does not know: {refusal!r}")


def notice_accepted(store: Store, openid: str, template_ids: list[str]) -> int:
    """The guest said yes to these notices (one each) in the account's pop-up; returns how
    many it kept: the store's notices, for a follower linked to a guest (an OpenID no guest
    is would be kept for nobody)."""
    if not openid or len(openid) > 64:
        raise InvalidInput("a WeChat event without a valid FromUserName (OpenID)")
    mine = [t for t in template_ids if store.settings.messaging.wechat.is_notice(t)]
    with store.write():
        if store.one("SELECT 1 FROM wechat_followers WHERE openid = ?", (openid,)) is None:
            return 0
        for template_id in mine:
            store.conn.execute(
                "INSERT INTO wechat_notices (openid, template_id, accepted, since) "
                "VALUES (?, ?, 1, ?) ON CONFLICT (openid, template_id) DO UPDATE SET "
                "accepted = accepted + 1", (openid, template_id, store.now_iso()))
    return len(mine)


def notice_withdrawn(store: Store, openid: str, template_id: str) -> bool:
    """Nothing more of this notice may go to the guest: they turned it down in WeChat's
    notice settings, or WeChat refused one as not subscribed (43101). Returns whether any
    was left."""
    with store.write():
        left = notices_left(store, openid, template_id)
        store.conn.execute("UPDATE wechat_notices SET accepted = 0, since = ? WHERE "
                           "openid = ? AND template_id = ?",
                           (store.now_iso(), openid, template_id))
        store.conn.execute("UPDATE messages SET status = 'skipped', reason = ? WHERE "
                           "channel = 'wechat' AND address = ? AND template = ? AND "
                           "status = 'queued'", (NOT_ACCEPTED, openid, template_id))
    return left > 0


def notices_left(store: Store, openid: str, template_id: str) -> int:
    """How many more messages of the notice may be written to the guest."""
    row = store.one("SELECT accepted, since FROM wechat_notices WHERE openid = ? AND "
                    "template_id = ?", (openid, template_id))
    if row is None:
        return 0
    marks = ", ".join("?" for _ in USING)
    used = store.scalar("SELECT COUNT(*) FROM messages WHERE channel = 'wechat' AND "
                        "address = ? AND template = ? AND created_at >= ? AND (status IN "
                        f"({marks}) OR sent_at IS NOT NULL)",
                        (openid, template_id, row["since"], *USING))
    return max(0, int(row["accepted"]) - int(used))


def settle_notice(store: Store, openid: str, template_id: str, msgid: str, reported_at: str,
                  delivered: bool, reason: str = "") -> bool:
    """WeChat's report of a notice it took (subscribe_msg_sent_event): it names the guest,
    the notice and its own MsgID, which the send's answer never gave. So it settles the
    latest of that notice sent to the guest before the report was made, and keeps the MsgID
    on it; a report no such message waits for changes nothing. Returns whether it settled."""
    latest = to_iso(from_iso(reported_at) + timedelta(seconds=REPORT_SLACK_S))
    with store.write():
        row = store.one("SELECT id FROM messages WHERE channel = 'wechat' AND address = ? "
                        "AND template = ? AND status = 'sent' AND sent_at <= ? "
                        "ORDER BY sent_at DESC, id DESC LIMIT 1",
                        (openid, template_id, latest))
        if row is None:
            return False
        store.conn.execute("UPDATE messages SET status = ?, reason = ?, provider_ref = ? "
                           "WHERE id = ?", ("delivered" if delivered else "failed",
                                            (reason or None) and reason[:300], msgid[:64],
                                            row["id"]))
    return True


def approved_template(store: Store, text: str) -> WeChatTemplate | None:
    """The account's template whose wording is this message: WeChat sends only a template
    and its parameters, so a message no template matches cannot go by WeChat."""
    wanted = (text or "").strip()
    for template in store.settings.messaging.wechat.templates:
        if template.text.strip() == wanted:
            return template
    return None


def check_wording(store: Store, text: str) -> WeChatTemplate:
    """A campaign that messages guests on WeChat says what one of the account's templates
    says, word for word."""
    template = approved_template(store, text)
    if template is None:
        ids = ", ".join(t.id for t in store.settings.messaging.wechat.templates) or "none"
        raise InvalidInput("campaign: a WeChat message must use the wording of one of the "
                           f"account's templates ([[messaging.wechat.templates]]; set: {ids})")
    return template
