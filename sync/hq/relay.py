"""Texts HQ sends for the stores, with the chain's one provider account.

A store with `[messaging] route = "hq"` hands each SMS to HQ in its outbox
(`message.relayed`, in the change that queued it) and keeps it `held`; HQ sends it with its
own `[messaging.sms]` (HQ's laoke.toml, or LAOKE_MESSAGING_SMS_* in its environment) under
the same quiet hours and carriers' window, and says what became of it on the feed
(`message.settled`, to that store only), in the transaction that records it.

Nothing is sent twice. HQ takes a text once by its message id, whatever batch, redelivery
or resend brings it (the intake runs in the book's apply, with the event). A text HQ was
sending when it stopped goes again only at Alibaba, whose client looks it up by its OutId
before any attempt after the first; at Tencent, which cannot be asked, it becomes
`unconfirmed` for a person to check. A guest who withdrew consent or was erased before
their text went has it skipped; a stop word they answer goes back (`message.reply`) to the
store that texted them, which withdraws their consent chain-wide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.domain.clock import to_iso
from hub.domain.config import Settings
from hub.domain.outreach import carrier_closed_until, is_stop_word, quiet_until, retry_pause
from hub.domain.phones import normalize_phone
from hub.domain.replies import is_answer
from hub.sending import SendFailed, Sent
from hub.sms import sms_channel
from hub.workers import ThreadWorker

from .db import HqDb

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
RELAY_EVERY_S = 2.0  # how often HQ's sender looks for texts due and receipts come
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
                "INSERT INTO hq_messages (id, store_id, member_id, address, template, params, "
                "body, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                "'queued', ?, ?) ON CONFLICT (id) DO NOTHING",
                (data["id"], store_id, data["member_id"], data.get("address"),
                 data["template"], data["params"], data["body"], now,
                 data.get("created_at") or now))
        elif kind == "member.updated" and not data.get("redacted") and \
                "marketing_consent" in data and not data["marketing_consent"]:
            _skip(conn, change, data["id"], "unsubscribed")
        elif kind == "member.erased":
            _skip(conn, change, data["id"], "guest erased")
            conn.execute("UPDATE hq_messages SET address = NULL, body = '', params = '' "
                         "WHERE member_id = ?", (data["id"],))


def _skip(conn: HqDb, change: Change, member_id: str, reason: str) -> None:
    rows = conn.execute("SELECT id, store_id FROM hq_messages WHERE member_id = ? AND "
                        "status = 'queued'", (member_id,)).fetchall()
    conn.execute("UPDATE hq_messages SET status = 'skipped', reason = ? WHERE member_id = ? "
                 "AND status = 'queued'", (reason, member_id))
    for row in rows:
        _settled(conn, change, row["store_id"], row["id"], "skipped", reason=reason)


def _settled(conn: HqDb, change: Change, store_id: str, message_id: str, status: str,
             **more: Any) -> None:
    change(conn, "message.settled", {"store": store_id, "id": message_id, "status": status,
                                     **more})


class Relay:
    """HQ's queue of the stores' texts: what its sender claims and settles, and where its
    provider client's receipts and replies land (hub/sending.py's Receipts)."""

    def __init__(self, book: HqBook, settings: Settings) -> None:
        self.book, self.settings = book, settings
        sms = settings.messaging.sms
        self.channel = sms_channel(sms, settings.messaging.timeout_s) if sms.provider \
            else None

    def now(self) -> datetime:
        return self.book.clock()

    def recover(self) -> int:
        """After HQ stopped: texts caught mid-send go again where the provider can be asked
        first (Alibaba), else wait for a person. Returns how many were found."""
        again = self.settings.messaging.sms.provider == "aliyun"
        with self.book.write() as conn:
            rows = conn.execute("SELECT id, store_id FROM hq_messages WHERE "
                                "status = 'sending'").fetchall()
            if again:
                conn.execute("UPDATE hq_messages SET status = 'queued' "
                             "WHERE status = 'sending'")
                return len(rows)
            reason = "HQ stopped mid-send: check the provider's console"
            conn.execute("UPDATE hq_messages SET status = 'unconfirmed', reason = ? "
                         "WHERE status = 'sending'", (reason,))
            for row in rows:
                _settled(conn, self.book.change_in, row["store_id"], row["id"],
                         "unconfirmed", reason=reason)
        return len(rows)

    def claim(self) -> dict[str, Any] | None:
        """The next text due, marked `sending`; none while the hours or the carriers'
        window are shut."""
        now = self.now()
        if quiet_until(self.settings, now) is not None or \
                carrier_closed_until(self.settings, now) is not None:
            return None
        with self.book.write() as conn:
            row = conn.execute("SELECT * FROM hq_messages WHERE status = 'queued' AND "
                               "next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
                               (to_iso(now),)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE hq_messages SET status = 'sending', attempts = attempts + 1 "
                         "WHERE id = ?", (row["id"],))
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
                     reason=reason)

    def run_once(self) -> int:
        """Send what is due, until the provider says not now; then hear its receipts and
        replies. Returns how many texts were tried."""
        if self.channel is None:
            return 0
        tried = 0
        while (message := self.claim()) is not None:
            tried += 1
            try:
                sent = self.channel.send(message)
            except SendFailed as error:
                log.warning("relayed text %s: %s", message["id"], error)
                self.failed(message, error)
                if error.retryable:
                    break  # the provider is down for this round
            else:
                self.sent(message, sent)
        try:
            self.channel.collect(self)
        except SendFailed as error:
            log.warning("relayed texts: receipts and replies not fetched: %s", error)
        return tried

    # -- Receipts (hub/sending.py) ---------------------------------------------------------

    def awaiting(self, channel: str, since: datetime) -> list[dict[str, Any]]:
        with self.book.write() as conn:
            rows = conn.execute(
                "SELECT * FROM hq_messages WHERE status = 'sent' AND sent_at >= ? "
                "ORDER BY COALESCE(receipt_asked_at, sent_at), id LIMIT 50",
                (to_iso(since),)).fetchall()
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
    """`laoke hq run` with `[messaging.sms]` in HQ's settings: sends the stores' relayed
    texts, on a connection of its own to the book."""

    name = "sms relay"

    def __init__(self, book: HqBook, settings: Settings,
                 every_s: float = RELAY_EVERY_S) -> None:
        super().__init__()
        self.url, self.clock, self.settings, self.every_s = book.url, book.clock, settings, \
            every_s
        self.relay: Relay | None = None
        self.tried = self.rounds = 0

    def begin(self) -> None:
        from .book import HqBook

        self.relay = Relay(HqBook(self.url, self.clock), self.settings)
        found = self.relay.recover()
        if found:
            log.warning("sms relay: %d text(s) were mid-send when HQ stopped", found)

    def step(self, stop: threading.Event) -> float:
        assert self.relay is not None
        self.tried += self.relay.run_once()
        self.rounds += 1
        return self.every_s

    def end(self) -> None:
        if self.relay is not None:
            self.relay.book.conn.close()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "tried": self.tried, "rounds": self.rounds}
