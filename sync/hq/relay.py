"""Messages HQ sends for the stores, with the chain's one set of accounts.

A store with `[messaging] route = "hq"` hands each text, webhook message and e-mail to HQ
in its outbox (`message.relayed`, in the change that queued it) and keeps it `held`; HQ
sends it with its own `[messaging]` (HQ's laoke.toml, or LAOKE_MESSAGING_* in its
environment: the SMS provider, the webhook, the mail server) under the same quiet hours,
texts under the carriers' window too, and says what became of it on the feed
(`message.settled`, to that store only), in the transaction that records it. A message of a
channel HQ has not set up fails, saying so.

Nothing is sent twice. HQ takes a message once by its id, whatever batch, redelivery or
resend brings it (the intake runs in the book's apply, with the event). A message HQ was
sending when it stopped goes again only where the far end knows it: the webhook, under the
same Idempotency-Key, and Alibaba, whose client looks a text up by its OutId before any
attempt after the first; a text at Tencent or an e-mail, which cannot be asked about,
becomes `unconfirmed` for a person to check. A guest who withdrew consent or was erased before
their text went has it skipped; a stop word they answer goes back (`message.reply`) to the
store that texted them, which withdraws their consent chain-wide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.domain.clock import to_iso
from hub.domain.config import Settings
from hub.domain.outreach import (
    MISSING_ADDRESS,
    RELAYABLE,
    is_stop_word,
    open_channels,
    resent_after_crash,
    retry_pause,
)
from hub.domain.phones import normalize_phone
from hub.domain.replies import is_answer
from hub.domain.wechat import EVENT as FOLLOWER
from hub.messaging import channels_from
from hub.sending import Channel, SendFailed, Sent
from hub.sms import AliyunSms, TencentSms
from hub.workers import ThreadWorker

from .db import HqDb
from .partitions import Sole
from .wechat import QrMaker, make_qrs

if TYPE_CHECKING:
    from .book import HqBook

log = logging.getLogger(__name__)

RELAY_SCHEMA = """
CREATE TABLE IF NOT EXISTS hq_messages (
    id TEXT PRIMARY KEY, store_id TEXT NOT NULL, member_id TEXT NOT NULL, address TEXT,
    template TEXT NOT NULL, params TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL, sent_at TEXT, provider_ref TEXT, receipt_asked_at TEXT);
CREATE INDEX IF NOT EXISTS hq_messages_due ON hq_messages(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS hq_messages_member ON hq_messages(member_id);
CREATE INDEX IF NOT EXISTS hq_messages_address ON hq_messages(address);
"""
# hq_messages from before HQ sent more than texts (HqBook adds them to an older book).
RELAY_COLUMNS = (("hq_messages", "channel", "TEXT NOT NULL DEFAULT 'sms'"),
                 ("hq_messages", "subject", "TEXT NOT NULL DEFAULT ''"),
                 ("hq_messages", "campaign_id", "TEXT"),
                 ("hq_messages", "unsubscribe_url", "TEXT"),
                 ("hq_messages", "claimed_at", "TEXT"))
RELAY_EVERY_S = 2.0  # how often HQ's sender looks for messages due and receipts come
# A change HQ itself puts on the feed, inside the caller's transaction (HqBook.change_in).
Change = Callable[[HqDb, str, dict[str, Any]], int]


def take_relayed(conn: HqDb, change: Change, store_id: str, now: str,
                 events: list[tuple[str, dict[str, Any]]]) -> None:
    """What a batch of the store's events means for the texts HQ sends, in their order,
    inside the book's apply: a text handed over is taken once by its id; a guest's consent
    withdrawn, or their erasure, skips what was still waiting for them."""
    for kind, data in events:
        if kind == "message.relayed":
            conn.execute(
                "INSERT INTO hq_messages (id, store_id, member_id, channel, address, subject, "
                "template, params, body, campaign_id, unsubscribe_url, status, "
                "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "'queued', ?, ?) ON CONFLICT (id) DO NOTHING",
                (data["id"], store_id, data["member_id"], data.get("channel") or "sms",
                 data.get("address"), data.get("subject") or "", data["template"],
                 data["params"], data["body"], data.get("campaign_id"),
                 data.get("unsubscribe_url"), now, data.get("created_at") or now))
        elif kind == "member.updated" and not data.get("redacted") and \
                "marketing_consent" in data and not data["marketing_consent"]:
            _skip(conn, change, data["id"], "unsubscribed")
        elif kind == FOLLOWER and data.get("following") is False:  # WeChat consent gone
            _skip(conn, change, str(data.get("member_id")), MISSING_ADDRESS["wechat"], "wechat")
        elif kind == "member.erased":
            _skip(conn, change, data["id"], "guest erased")
            conn.execute("UPDATE hq_messages SET address = NULL, body = '', params = '' "
                         "WHERE member_id = ?", (data["id"],))


def _skip(conn: HqDb, change: Change, member_id: str, reason: str,
          channel: str | None = None) -> None:
    """What still waits for the guest (on one channel, or all) will not go."""
    only = "" if channel is None else " AND channel = ?"
    given = (member_id,) if channel is None else (member_id, channel)
    rows = conn.execute("SELECT id, store_id FROM hq_messages WHERE member_id = ? AND "
                        f"status = 'queued'{only}", given).fetchall()
    conn.execute("UPDATE hq_messages SET status = 'skipped', reason = ? WHERE member_id = ? "
                 f"AND status = 'queued'{only}", (reason, *given))
    for row in rows:
        _settled(conn, change, row["store_id"], row["id"], "skipped", reason=reason)


def _settled(conn: HqDb, change: Change, store_id: str, message_id: str, status: str,
             **more: Any) -> None:
    change(conn, "message.settled", {"store": store_id, "id": message_id, "status": status,
                                     **more})


def relayed_channels(settings: Settings) -> dict[str, Channel]:
    """The channels HQ's own settings set up for the stores' messages."""
    return {name: channel for name, channel in channels_from(settings.messaging).items()
            if name in RELAYABLE}


class Relay:
    """HQ's queue of the stores' messages: what its sender claims and settles, and where its
    SMS provider client's receipts and replies land (hub/sending.py's Receipts)."""

    def __init__(self, book: HqBook, settings: Settings) -> None:
        self.book, self.settings = book, settings
        self.channels = relayed_channels(settings)

    def now(self) -> datetime:
        return self.book.clock()

    def recover(self, claimed_before: datetime | None = None) -> int:
        """Messages caught mid-send by a relay that stopped go again where the far end knows
        them (the webhook by its Idempotency-Key, Alibaba by the text's OutId), else wait
        for a person. All of them after HQ itself stopped; with `claimed_before`, those a
        relay claimed before then (another worker's, which no send outlasts). Returns how
        many were found."""
        again = resent_after_crash(self.settings)
        stale = "" if claimed_before is None else " AND (claimed_at IS NULL OR claimed_at < ?)"
        since = () if claimed_before is None else (to_iso(claimed_before),)
        if claimed_before is not None and self.book.conn.execute(
                f"SELECT 1 FROM hq_messages WHERE status = 'sending'{stale} LIMIT 1",
                since).fetchone() is None:
            return 0  # looked at without the writers' lock, as `claim` does
        with self.book.write() as conn:
            rows = conn.execute("SELECT id, store_id, channel FROM hq_messages WHERE "
                                f"status = 'sending'{stale}", since).fetchall()
            ids = [row["id"] for row in rows]
            marks = ", ".join("?" for _ in ids) or "NULL"
            conn.execute(f"UPDATE hq_messages SET status = 'queued' WHERE id IN ({marks}) "
                         f"AND channel IN ({', '.join('?' for _ in again)})", (*ids, *again))
            reason = "HQ stopped mid-send: check the provider's console"
            conn.execute("UPDATE hq_messages SET status = 'unconfirmed', reason = ? "
                         f"WHERE id IN ({marks}) AND status = 'sending'", (reason, *ids))
            for row in rows:
                if row["channel"] not in again:
                    _settled(conn, self.book.change_in, row["store_id"], row["id"],
                             "unconfirmed", reason=reason)
        return len(rows)

    def claim(self, skip: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The next message due (not of the `skip` channels), marked `sending`; none while
        the quiet hours are, and no text while the carriers' window is shut."""
        now = self.now()
        channels = open_channels(self.settings, now, RELAYABLE, skip)
        if not channels:
            return None
        due = ("SELECT * FROM hq_messages WHERE status = 'queued' AND channel IN "
               f"({', '.join('?' for _ in channels)}) AND next_attempt_at <= ? "
               "ORDER BY next_attempt_at, id LIMIT 1", (*channels, to_iso(now)))
        if self.book.conn.execute(*due).fetchone() is None:
            return None  # looked at without the writers' lock, which an idle relay never takes
        with self.book.write() as conn:
            row = conn.execute(*due).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE hq_messages SET status = 'sending', attempts = attempts + 1, "
                         "claimed_at = ? WHERE id = ?", (to_iso(now), row["id"]))
        return {**dict(row), "attempts": row["attempts"] + 1}

    def sent(self, message: dict[str, Any], sent: Sent) -> None:
        status, at = "delivered" if sent.delivered else "sent", to_iso(self.now())
        with self.book.write() as conn:
            conn.execute("UPDATE hq_messages SET status = ?, sent_at = ?, reason = NULL, "
                         "provider_ref = COALESCE(?, provider_ref) WHERE id = ? AND "
                         "status = 'sending'", (status, at, sent.ref, message["id"]))
            _settled(conn, self.book.change_in, message["store_id"], message["id"], status,
                     sent_at=at, provider_ref=sent.ref)

    def failed(self, message: dict[str, Any], error: SendFailed) -> None:
        """Again later with a growing pause while it may help; else its fate goes back."""
        reason = str(error)[:300]
        with self.book.write() as conn:
            if error.retryable and not error.unconfirmed and \
                    message["attempts"] < self.settings.messaging.max_attempts:
                conn.execute("UPDATE hq_messages SET status = 'queued', reason = ?, "
                             "next_attempt_at = ? WHERE id = ? AND status = 'sending'",
                             (reason, to_iso(self.now() + retry_pause(message["attempts"])),
                              message["id"]))
                return
            status = "unconfirmed" if error.unconfirmed else "failed"
            conn.execute("UPDATE hq_messages SET status = ?, reason = ? WHERE id = ? AND "
                         "status = 'sending'", (status, reason, message["id"]))
            _settled(conn, self.book.change_in, message["store_id"], message["id"], status,
                     reason=reason, **({"refusal": error.refusal} if error.refusal else {}))

    def run_once(self, going: Callable[[], bool] = lambda: True) -> int:
        """Send what is due, each channel until its far end says not now, for as long as
        `going` says (this worker still holds the relay, and is not stopping); then hear
        the SMS provider's receipts and replies. Returns how many messages were tried."""
        tried = 0
        down: set[str] = set()
        account = self.channels.get("wechat")
        qrs = account if isinstance(account, QrMaker) else None
        qrs_down = False
        while going():
            if not qrs_down:
                try:  # first, and between sends: a guest at the kiosk waits for it
                    make_qrs(self.book, qrs)
                except SendFailed:
                    qrs_down = True  # WeChat cannot make one now: not before every send
            message = self.claim(tuple(down))
            if message is None:
                break
            tried += 1
            channel = self.channels.get(message["channel"])
            try:
                if channel is None:
                    raise SendFailed(f"HQ has no {message['channel']} set up ([messaging] in "
                                     "HQ's settings)", False)
                sent = channel.send(message)
            except SendFailed as error:
                log.warning("relayed message %s: %s", message["id"], error)
                self.failed(message, error)
                if error.retryable:
                    down.add(message["channel"])  # its far end is down for this round
            else:
                self.sent(message, sent)
        sms = self.channels.get("sms")
        if isinstance(sms, AliyunSms | TencentSms) and "sms" not in down:
            try:
                sms.collect(self)
            except SendFailed as error:
                log.warning("relayed texts: receipts and replies not fetched: %s", error)
        return tried

    # -- Receipts (hub/sending.py) ---------------------------------------------------------

    def awaiting(self, channel: str, since: datetime) -> list[dict[str, Any]]:
        waiting = ("SELECT * FROM hq_messages WHERE channel = ? AND status = 'sent' AND "
                   "sent_at >= ? ORDER BY COALESCE(receipt_asked_at, sent_at), id LIMIT 50",
                   (channel, to_iso(since)))
        if self.book.conn.execute(*waiting).fetchone() is None:
            return []
        with self.book.write() as conn:
            rows = conn.execute(*waiting).fetchall()
            conn.executemany("UPDATE hq_messages SET receipt_asked_at = ? WHERE id = ?",
                             [(to_iso(self.now()), row["id"]) for row in rows])
        return [dict(r) for r in rows]

    def receipt(self, message_id: str, delivered: bool, reason: str = "") -> bool:
        status = "delivered" if delivered else "failed"
        with self.book.write() as conn:
            row = conn.execute("SELECT store_id FROM hq_messages WHERE id = ? AND "
                               "status = 'sent'", (message_id,)).fetchone()
            if row is None:
                return False
            conn.execute("UPDATE hq_messages SET status = ?, reason = ? WHERE id = ?",
                         (status, reason[:300] or None, message_id))
            _settled(conn, self.book.change_in, row["store_id"], message_id, status,
                     reason=reason[:300] or None)
        return True

    def reply(self, phone: str, text: str) -> str:
        """A stop word or a bag's claim code goes back to each store that texted this
        number (the guest is named by id), which withdraws the consent or claims the order;
        HQ holds no guest's number but those of the texts it sent."""
        if not is_answer(text):
            return "none"
        number = normalize_phone(phone)  # InvalidInput: no phone, no guest of ours
        with self.book.write() as conn:
            rows = conn.execute("SELECT DISTINCT store_id, member_id FROM hq_messages "
                                "WHERE address = ?", (number,)).fetchall()
            for row in rows:
                self.book.change_in(conn, "message.reply", {
                    "store": row["store_id"], "member_id": row["member_id"],
                    "text": text.strip()})
        return ("unsubscribed" if is_stop_word(text) else "relayed") if rows else "none"


class RelaySender(ThreadWorker):
    """`laoke hq run`: sends the stores' relayed messages, on a connection of its own to the
    book. With `sole` (HQ on PostgreSQL, where several workers may share the book), only
    the worker holding the relay's lock sends, checked before each message. What another
    relay was sending is taken back once no send could still be under way (`lease_s` after
    it was claimed): a worker whose lock connection died unseen may still be sending it.
    Without `sole` (HQ's one process on SQLite), what was mid-send is taken back at once,
    when the relay starts. A round that fails on the book opens it again on the next."""

    name = "message relay"

    def __init__(self, book: HqBook, settings: Settings, every_s: float = RELAY_EVERY_S,
                 sole: Sole | None = None) -> None:
        super().__init__()
        self.url, self.clock, self.settings, self.every_s = book.url, book.clock, settings, \
            every_s
        self.sole = sole
        # the longest a send may take: a few calls (a token, the send) of the timeout each
        self.lease_s = max(60.0, 6 * settings.messaging.timeout_s)
        self.relay: Relay | None = None
        self.active = False  # whether this worker is the one that sends
        self.tried = self.rounds = 0

    def begin(self) -> None:
        self._open()

    def _open(self) -> Relay:
        from .book import HqBook

        if self.relay is None:
            self.relay = Relay(HqBook(self.url, self.clock), self.settings)
            if self.sole is None:
                found = self.relay.recover()
                if found:
                    log.warning("message relay: %d message(s) were mid-send when HQ stopped",
                                found)
        return self.relay

    def _held(self) -> bool:
        return self.sole is None or self.sole.held()

    def step(self, stop: threading.Event) -> float:
        relay = self._open()
        if not self._held():
            if self.active:
                log.warning("message relay: another HQ worker sends now")
            self.active = False
            return self.every_s
        self.active = True
        try:
            if self.sole is not None:
                found = relay.recover(relay.now() - timedelta(seconds=self.lease_s))
                if found:
                    log.warning("message relay: %d message(s) a stopped relay was sending",
                                found)
            self.tried += relay.run_once(lambda: not stop.is_set() and self._held())
        except Exception:
            self._close()  # its book may be gone: opened again next round
            raise
        self.rounds += 1
        return self.every_s

    def _close(self) -> None:
        if self.relay is not None:
            with suppress(Exception):
                self.relay.book.conn.close()
            self.relay = None
        if self.sole is not None:
            self.sole.close()  # another worker may send meanwhile
        self.active = False

    def end(self) -> None:
        self._close()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "tried": self.tried, "rounds": self.rounds,
                "active": self.active}
