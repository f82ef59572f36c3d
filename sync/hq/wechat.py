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
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from hub.domain.clock import from_iso, to_iso
from hub.domain.config import WeChatSettings
from hub.domain.errors import InvalidInput
from hub.domain.wechat import EVENT as FOLLOWER
from hub.domain.wechat import QR_WANTED
from hub.domain.wechat_events import FOLLOWS, Event
from hub.sending import SendFailed

from .db import HqDb

if TYPE_CHECKING:
    from .book import HqBook

log = logging.getLogger(__name__)

WECHAT_SCHEMA = """
CREATE TABLE IF NOT EXISTS hq_wechat_followers (
    openid TEXT NOT NULL, store_id TEXT NOT NULL, member_id TEXT NOT NULL,
    PRIMARY KEY (openid, store_id));
CREATE INDEX IF NOT EXISTS hq_wechat_followers_member ON hq_wechat_followers(member_id);
CREATE TABLE IF NOT EXISTS hq_wechat_scenes (
    scene TEXT PRIMARY KEY, store_id TEXT NOT NULL, member_id TEXT NOT NULL,
    expires_at TEXT NOT NULL, asked_at TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_member ON hq_wechat_scenes(member_id);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_status ON hq_wechat_scenes(status, asked_at);
CREATE INDEX IF NOT EXISTS hq_wechat_scenes_expiry ON hq_wechat_scenes(expires_at);
"""
QR_STALE_S = 60  # a QR asked for longer ago than this: the kiosk that asked has given up
QR_PER_ROUND = 20
MAX_EVENT_BYTES = 64 * 1024  # WeChat's events are a few hundred bytes
_KEYS = {FOLLOWER: ("openid",), QR_WANTED: ("scene", "expires_at")}


def take_wechat(conn: HqDb, store_id: str, now: str, kind: str, data: dict[str, Any]) -> None:
    """What one of a store's events means for routing the account's events, inside the
    book's apply: who follows through which store, the scenes it asked QRs for, and an
    erasure, after which HQ routes nothing of the guest."""
    if kind in (FOLLOWER, QR_WANTED) and not all(
            isinstance(data.get(key), str) for key in ("member_id", *_KEYS[kind])):
        log.warning("a %s event of %s without its fields: not routed", kind, store_id)
    elif kind == FOLLOWER and data["openid"] != "erased":
        conn.execute("DELETE FROM hq_wechat_followers WHERE store_id = ? AND (member_id = ? "
                     "OR openid = ?)", (store_id, data["member_id"], data["openid"]))
        conn.execute("INSERT INTO hq_wechat_followers (openid, store_id, member_id) VALUES "
                     "(?, ?, ?)", (data["openid"], store_id, data["member_id"]))
    elif kind == QR_WANTED:  # the scenes that expired go, as at the store
        conn.execute("DELETE FROM hq_wechat_scenes WHERE expires_at < ?", (now,))
        conn.execute("INSERT INTO hq_wechat_scenes (scene, store_id, member_id, expires_at, "
                     "asked_at, status) VALUES (?, ?, ?, ?, ?, 'wanted') ON CONFLICT (scene) "
                     "DO NOTHING", (data["scene"], store_id, data["member_id"],
                                    data["expires_at"], now))
    elif kind == "member.erased":
        conn.execute("DELETE FROM hq_wechat_followers WHERE member_id = ?", (data["id"],))
        conn.execute("DELETE FROM hq_wechat_scenes WHERE member_id = ?", (data["id"],))


def route(book: HqBook, event: Event) -> list[str]:
    """Hand the event to the stores it is for, in one change; returns them. A follow or scan
    goes to the store whose live scene it carries, else (and every other event) to each store
    that linked the OpenID. A template message's outcome settles HQ's own copy too."""
    now = to_iso(book.clock())
    with book.write() as conn:
        targets: dict[str, str] = {}
        if event["event"] in FOLLOWS and event["scene"]:
            row = conn.execute("SELECT store_id, member_id FROM hq_wechat_scenes WHERE "
                               "scene = ? AND expires_at >= ?", (event["scene"], now)).fetchone()
            if row is not None:
                targets[row[0]] = row[1]
        if not targets:
            targets = {r[0]: r[1] for r in conn.execute(
                "SELECT store_id, member_id FROM hq_wechat_followers WHERE openid = ? "
                "ORDER BY store_id", (event["openid"],))}
        if event["event"] == "templatesendjobfinish" and event["msgid"]:
            conn.execute("UPDATE hq_messages SET status = ? WHERE channel = 'wechat' AND "
                         "provider_ref = ? AND status = 'sent'",
                         ("delivered" if event["status"] == "success" else "failed",
                          event["msgid"]))
        for store_id, member_id in targets.items():
            book.change_in(conn, "wechat.event", {"store": store_id, "member_id": member_id,
                                                  "event": dict(event)})
    return list(targets)


@runtime_checkable
class QrMaker(Protocol):
    """The account's client (hub/wechat.py's WeChatAccount), which wechatpy's import makes
    too dear to load for an HQ without one."""

    def qr(self, scene: str, expire: int) -> dict[str, Any]: ...


def make_qrs(book: HqBook, account: QrMaker | None) -> int:
    """Make the follow QRs the stores asked for lately, and answer each on the feed: the QR,
    or why there is none. One WeChat cannot make now waits for the next round while its
    kiosk may still wait. Returns how many were answered."""
    now = book.clock()
    rows = book.conn.execute("SELECT scene, store_id, expires_at, asked_at FROM "
                             "hq_wechat_scenes WHERE status = 'wanted' ORDER BY asked_at "
                             "LIMIT ?", (QR_PER_ROUND,)).fetchall()
    stale = [r[0] for r in rows if from_iso(r[3]) < now - timedelta(seconds=QR_STALE_S)]
    if stale:
        with book.write() as conn:
            conn.executemany("UPDATE hq_wechat_scenes SET status = 'stale' WHERE scene = ?",
                             [(scene,) for scene in stale])
    rows = [r for r in rows if r[0] not in stale]
    answered = 0
    for scene, store_id, expires_at, _ in rows:
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
                    break
                answer = {"error": str(error)[:300]}
        with book.write() as conn:
            conn.execute("UPDATE hq_wechat_scenes SET status = ? WHERE scene = ?",
                         ("failed" if "error" in answer else "made", scene))
            book.change_in(conn, "wechat.qr", {"store": store_id, "scene": scene, **answer})
        answered += 1
    return answered


# -- the callback -----------------------------------------------------------------------------

def serve_wechat(url: str, clock: Callable[[], Any], settings: WeChatSettings, port: int,
                 host: str = "127.0.0.1") -> HTTPServer:
    """Serve the account's callback (GET and POST /wechat/callback, as a hub's) on host:port
    until `.shutdown()`, one request at a time on a book connection of its own. WeChat calls
    only ports 80 and 443 over the internet: a reverse proxy with the domain's certificate
    forwards to this. OSError when the port cannot be had."""
    from hub import wechat

    from .book import HqBook

    state: dict[str, HqBook] = {}

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that stalls holds the callback no longer than this

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
                if "book" not in state:
                    state["book"] = HqBook(url, clock)
                stores = route(state["book"], event)
                log.info("WeChat %s: to %s", event["event"], ", ".join(stores) or "no store")
            self._answer(200, b"success")  # else WeChat pushes it again

    server = HTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="wechat callback", daemon=True).start()
    return server
