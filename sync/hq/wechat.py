"""The chain's one WeChat Official Account at HQ, for the stores whose messages leave from HQ
([messaging] route = "hq").

An account has one server URL (服务器配置) for every event it pushes, so with one account for
the chain HQ hosts the callback (`laoke hq run --wechat-port`) and hands each event to the
stores it is for (`wechat.event` on the feed, addressed to one store), which do with it what
they do with their own (hub/domain/wechat_events.py): a follow or scan whose scene a store's
kiosk asked HQ to make a QR for goes to that store; every other event of a follower goes to the
stores that linked that OpenID, as their `wechat.follower` events told HQ. An event for an
OpenID no store linked is for nobody. HQ makes the kiosk's follow QR for the scene the store
hands it (`wechat.qr_wanted`) and answers on the feed (`wechat.qr`), and sends the stores'
template messages and notices with the relay (sync/hq/relay.py).

HQ keeps of a follower only what routing needs (the OpenID, store and guest), and none after
the guest's erasure; the events it hands on are redacted in its feed with the erasure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from hub.domain.clock import from_iso, to_iso
from hub.domain.config import WeChatSettings
from hub.domain.errors import InvalidInput
from hub.domain.wechat import EVENT as FOLLOWER
from hub.domain.wechat import QR_WANTED
from hub.domain.wechat_events import ERASED, FOLLOWS, KNOWN, Event, first_push
from hub.sending import SendFailed

from .db import HqDb

if TYPE_CHECKING:
    from .book import HqBook

log = logging.getLogger(__name__)

WECHAT_SCHEMA = """
CREATE TABLE IF NOT EXISTS hq_wechat_followers (
    openid TEXT NOT NULL, store_id TEXT NOT NULL, member_id TEXT NOT NULL,
    linked_at TEXT NOT NULL, PRIMARY KEY (openid, store_id));
CREATE INDEX IF NOT EXISTS hq_wechat_followers_member ON hq_wechat_followers(member_id);
CREATE TABLE IF NOT EXISTS hq_wechat_scenes (
    scene TEXT PRIMARY KEY, store_id TEXT NOT NULL, member_id TEXT NOT NULL,
    expires_at TEXT NOT NULL, asked_at TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_member ON hq_wechat_scenes(member_id);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_status ON hq_wechat_scenes(status, asked_at);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_expiry ON hq_wechat_scenes(expires_at);
CREATE TABLE IF NOT EXISTS hq_wechat_seen (key TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hq_wechat_seen_at ON hq_wechat_seen(seen_at);
"""
# A QR asked for longer ago than this goes unmade: the kiosk that asked waits 12 s
# (hub/api/wechat.py's QR_WAIT_S), and its hand-over took some of that.
QR_STALE_S = 15
QR_PER_ROUND = 20
MAX_EVENT_BYTES = 64 * 1024  # WeChat's events are a few hundred bytes
_KEYS = {FOLLOWER: ("openid",), QR_WANTED: ("scene", "expires_at")}


def take_wechat(conn: HqDb, store_id: str, now: str, kind: str, data: dict[str, Any]) -> None:
    """What one of a store's events means for routing the account's events, inside the
    book's apply: who follows through which store (the latest to link them first), the
    scenes it asked QRs for, and an erasure, after which HQ routes nothing of the guest,
    whatever a store that had not heard of it still sends."""
    if kind not in (FOLLOWER, QR_WANTED):
        if kind == "member.erased":
            conn.execute("DELETE FROM hq_wechat_followers WHERE member_id = ?", (data["id"],))
            conn.execute("DELETE FROM hq_wechat_scenes WHERE member_id = ?", (data["id"],))
        return
    if not all(isinstance(data.get(key), str) for key in ("member_id", *_KEYS[kind])):
        log.warning("a %s event of %s without its fields: not routed", kind, store_id)
        return
    if conn.execute("SELECT 1 FROM hq_members WHERE id = ? AND erased = 1",
                    (data["member_id"],)).fetchone() is not None:
        return
    if kind == FOLLOWER:
        if data["openid"] == ERASED:
            return
        conn.execute("DELETE FROM hq_wechat_followers WHERE store_id = ? AND (member_id = ? "
                     "OR openid = ?)", (store_id, data["member_id"], data["openid"]))
        conn.execute("INSERT INTO hq_wechat_followers (openid, store_id, member_id, "
                     "linked_at) VALUES (?, ?, ?, ?)",
                     (data["openid"], store_id, data["member_id"], now))
        return
    try:
        expires = to_iso(from_iso(data["expires_at"]))
    except ValueError:
        log.warning("a QR request of %s with no valid expiry: not made", store_id)
        return
    conn.execute("DELETE FROM hq_wechat_scenes WHERE expires_at < ?", (now,))  # as at a store
    conn.execute("INSERT INTO hq_wechat_scenes (scene, store_id, member_id, expires_at, "
                 "asked_at, status) VALUES (?, ?, ?, ?, ?, 'wanted') ON CONFLICT (scene) "
                 "DO NOTHING", (data["scene"], store_id, data["member_id"], expires, now))


def route(book: HqBook, event: Event) -> list[str]:
    """Hand the event to the stores it is for, in one change; returns them.

    - A follow or scan goes to the store whose live scene it carries, and to each store that
      linked the OpenID (one that saw the guest leave hears them follow again).
    - A notice accepted goes to the latest store to link the guest only: one acceptance is
      one notice for the chain, which that store counts.
    - A message's outcome goes to the store HQ sent it for (a template message's settles
      HQ's copy and the store's, `message.settled`).
    - Every other event the stores act on goes to each store that linked the OpenID.

    An event WeChat pushes again (no answer came in time) is routed once."""
    kind, openid = event["event"], event["openid"]
    if kind not in KNOWN or openid in ("", ERASED):
        return []
    at = book.clock()
    now = to_iso(at)
    with book.write() as conn:
        if not first_push(conn.execute, "hq_wechat_seen", event, at):
            return []  # WeChat pushed it again: no answer came within five seconds
        linked = {r[0]: r[1] for r in conn.execute(
            "SELECT store_id, member_id FROM hq_wechat_followers WHERE openid = ? "
            "ORDER BY linked_at DESC, store_id", (openid,))}
        targets: dict[str, str] = {}
        if kind in FOLLOWS and event["scene"]:
            row = conn.execute("SELECT store_id, member_id FROM hq_wechat_scenes WHERE "
                               "scene = ? AND expires_at >= ?", (event["scene"], now)).fetchone()
            if row is not None:
                targets[row[0]] = row[1]
        elif kind == "templatesendjobfinish":
            targets = _template_done(book, conn, event)
        elif kind == "subscribe_msg_sent_event":
            for item in event["notices"]:
                row = conn.execute(
                    "SELECT store_id, member_id FROM hq_messages WHERE channel = 'wechat' AND "
                    "address = ? AND template = ? AND status = 'sent' ORDER BY sent_at DESC "
                    "LIMIT 1", (openid, item.get("TemplateId", ""))).fetchone()
                if row is not None:
                    targets[row[0]] = row[1]
        elif kind == "subscribe_msg_popup_event":
            targets = dict(list(linked.items())[:1])
        if kind not in ("templatesendjobfinish", "subscribe_msg_sent_event",
                        "subscribe_msg_popup_event") or not targets:
            targets.update({s: m for s, m in linked.items() if s not in targets})
        gone = {r[0] for r in conn.execute(
            "SELECT id FROM hq_members WHERE erased = 1 AND id IN "
            f"({', '.join('?' for _ in targets) or 'NULL'})", list(targets.values()))}
        targets = {s: m for s, m in targets.items() if m not in gone}  # nothing of theirs
        for store_id, member_id in targets.items():
            book.change_in(conn, "wechat.event", {"store": store_id, "member_id": member_id,
                                                  "event": dict(event)})
    return list(targets)


def _template_done(book: HqBook, conn: HqDb, event: Event) -> dict[str, str]:
    """The store HQ sent the template message for, its copy and HQ's settled (from `sent`
    only: a late or repeated report changes nothing)."""
    row = conn.execute("SELECT id, store_id, member_id FROM hq_messages WHERE channel = "
                       "'wechat' AND provider_ref = ? AND status = 'sent'",
                       (event["msgid"],)).fetchone() if event["msgid"] else None
    if row is None:
        return {}
    ok = event["status"] == "success"
    reason = None if ok else f"WeChat: {event['status']}"[:300]
    conn.execute("UPDATE hq_messages SET status = ?, reason = ? WHERE id = ?",
                 ("delivered" if ok else "failed", reason, row[0]))
    book.change_in(conn, "message.settled", {"store": row[1], "id": row[0],
                                             "status": "delivered" if ok else "failed",
                                             "reason": reason})
    return {row[1]: row[2]}


@runtime_checkable
class QrMaker(Protocol):
    """The account's client (hub/wechat.py's WeChatAccount), which wechatpy's import makes
    too dear to load for an HQ without one."""

    def qr(self, scene: str, expire: int) -> dict[str, Any]: ...


def make_qrs(book: HqBook, account: QrMaker | None) -> int:
    """Make the follow QRs the stores asked for lately, and answer each on the feed: the QR,
    or why there is none. Each is claimed before WeChat is asked, so it is made once; one
    WeChat cannot make now is asked again next round, while its kiosk may still wait, and
    its SendFailed raised. Returns how many were answered."""
    now = book.clock()
    stale = to_iso(now - timedelta(seconds=QR_STALE_S))
    rows = book.conn.execute("SELECT scene, store_id, expires_at, asked_at FROM "
                             "hq_wechat_scenes WHERE status = 'wanted' ORDER BY asked_at "
                             "LIMIT ?", (QR_PER_ROUND,)).fetchall()
    answered = 0
    for scene, store_id, expires_at, asked_at in rows:
        with book.write() as conn:
            claimed = conn.execute("UPDATE hq_wechat_scenes SET status = ? WHERE scene = ? AND "
                                   "status = 'wanted'", ("stale" if asked_at < stale
                                                         else "making", scene)).rowcount
        if not claimed or asked_at < stale:
            continue
        answer: dict[str, Any]
        if account is None:
            answer = {"error": "HQ has no WeChat account set up ([messaging.wechat] in HQ's "
                               "settings)"}
        else:
            expire = int((from_iso(expires_at) - now).total_seconds())
            try:
                answer = account.qr(scene, max(60, min(expire, 2_592_000)))
            except SendFailed as error:
                if error.retryable:
                    log.warning("WeChat follow QR for %s: %s (again next round)", store_id,
                                error)
                    with book.write() as conn:
                        conn.execute("UPDATE hq_wechat_scenes SET status = 'wanted' WHERE "
                                     "scene = ?", (scene,))
                    raise
                answer = {"error": str(error)[:300]}
        with book.write() as conn:
            conn.execute("UPDATE hq_wechat_scenes SET status = ? WHERE scene = ?",
                         ("failed" if "error" in answer else "made", scene))
            book.change_in(conn, "wechat.qr", {"store": store_id, "scene": scene, **answer})
        answered += 1
    return answered


# -- the callback -----------------------------------------------------------------------------

def serve_wechat(url: str, clock: Callable[[], Any], settings: WeChatSettings, port: int,
                 host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve the account's callback (GET and POST /wechat/callback, as a hub's) on host:port
    until `.shutdown()`, each request in a thread of its own (a client that stalls holds only
    its own), on one book connection of the server's, opened again after a database error.
    WeChat calls only ports 80 and 443 over the internet: a reverse proxy with the domain's
    certificate forwards to this. OSError when the port cannot be had."""
    from hub import wechat

    from .book import HqBook

    books: list[HqBook] = []
    opening = threading.Lock()

    def routed(event: Event) -> list[str]:
        with opening:
            if not books:
                books.append(HqBook(url, clock))
            book = books[0]
        try:
            return route(book, event)  # the book's own lock serialises its writes
        except Exception:
            with opening, book.lock:  # a connection that is gone is not used again
                try:
                    book.conn.execute("SELECT 1")
                except Exception:
                    if books and books[0] is book:
                        books.clear()
                    with suppress(Exception):
                        book.conn.close()
            raise

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # between reads: a client that stalls holds its own thread, no other

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("wechat callback: " + format, *args)

        def _query(self) -> dict[str, str] | None:
            parts = urlsplit(self.path)
            if parts.path != "/wechat/callback":
                self._answer(404, b"not found")
                return None
            query = {k: v[0][:128] for k, v in parse_qs(parts.query).items()}
            if not wechat.signed(settings, query.get("signature", ""),
                                 query.get("timestamp", ""), query.get("nonce", ""),
                                 time.time()):
                self._answer(401, b"not signed with the account's token, or too long ago")
                return None
            return query

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = self._query()
            if query is not None:
                self._answer(200, query.get("echostr", "").encode())

        def do_POST(self) -> None:
            query = self._query()
            if query is None:
                return
            try:
                size = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                size = -1
            if not 0 < size <= MAX_EVENT_BYTES:
                self._answer(413 if size > 0 else 400, b"an event of a few hundred bytes")
                return
            xml = wechat.opened(settings, self.rfile.read(size), query.get("msg_signature", ""),
                                query.get("timestamp", ""), query.get("nonce", ""))
            if xml is None:
                self._answer(401, "安全模式: not encrypted and signed with the account's "
                                  "EncodingAESKey".encode())
                return
            try:
                event = wechat.read_event(xml)
                if event is not None and not 0 < len(event["openid"]) <= 64:
                    raise InvalidInput("a WeChat event without a valid FromUserName (OpenID)")
            except InvalidInput as error:
                self._answer(400, str(error).encode())
                return
            if event is not None:
                try:
                    stores = routed(event)
                except Exception:
                    log.exception("WeChat callback: %s not routed", event["event"])
                    self._answer(500, b"not taken: WeChat pushes it again")
                    return
                log.info("WeChat %s: to %s", event["event"], ", ".join(stores) or "no store")
            self._answer(200, b"success")  # else WeChat pushes it again

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="wechat callback", daemon=True).start()
    return server
