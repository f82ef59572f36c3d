"""How campaign messages leave the hub: an HTTP webhook (SMS gateway, WeChat relay), SMTP,
the SMS providers (hub/sms.py) and the WeChat Official Account (hub/wechat.py).

Every channel keeps the contract of hub/sending.py. The campaign scheduler runs the
`Dispatcher` in its own thread, never in a request.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from .domain.config import MessagingSettings
from .domain.outreach import claim_due, mark_failed, mark_sent, release, unsubscribe_link
from .domain.store import Store
from .domain.wechat import refused
from .sending import Channel, Polled, SendFailed, Sent
from .sms import sms_channel

__all__ = ["Channel", "Dispatcher", "SendFailed", "channels_from"]

log = logging.getLogger(__name__)


class WebhookChannel:
    """POSTs {"id", "to", "text", ...} as JSON; the message id doubles as Idempotency-Key, so
    a gateway that saw a message before a lost answer does not send it twice."""

    def __init__(self, url: str, token: str = "", timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, message: dict[str, Any]) -> Sent:
        body = json.dumps({"id": message["id"], "to": message["address"],
                           "text": message["body"], "campaign_id": message["campaign_id"],
                           "member_id": message["member_id"]}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message["id"],
            **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                reply = answer.read(4096)
        except urllib.error.HTTPError as error:
            retryable = error.code >= 500 or error.code in (408, 429)
            raise SendFailed(f"webhook answered {error.code}", retryable) from None
        except (urllib.error.URLError, OSError) as error:
            raise SendFailed(f"webhook unreachable: {error}", True) from None
        try:
            return Sent(json.loads(reply or b"{}").get("status") == "delivered")
        except (ValueError, AttributeError):
            return Sent()


class _Smtp(smtplib.SMTP):
    """smtplib's client, knowing whether the mail itself went out: after that, a lost
    answer may mean the server took it."""

    mail_sent = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.mail_sent = True
        return super().data(msg)


class SmtpChannel:
    """E-mail over SMTP. A mail the server answered for is sent or refused as it said; one
    whose answer was lost once its body went out may have been taken, so it is not sent
    again (`unconfirmed`); a reply to QUIT, after the server took the mail, changes
    nothing."""

    def __init__(self, settings: MessagingSettings) -> None:
        self.settings = settings

    def send(self, message: dict[str, Any]) -> Sent:
        s = self.settings
        mail = EmailMessage()
        mail["From"] = s.smtp_sender or s.smtp_username
        mail["To"] = message["address"]
        mail["Subject"] = message["subject"] or "老客"
        # The message id is ours, so a mail system that keeps ids can recognise a resend.
        mail["Message-ID"] = make_msgid(idstring=message["id"], domain="laoke.local")
        if message.get("unsubscribe_url"):  # one click in the mail client (RFC 8058)
            mail["List-Unsubscribe"] = f"<{message['unsubscribe_url']}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message["body"])
        smtp: _Smtp | None = None
        taken = False
        try:
            with _Smtp(s.smtp_host, s.smtp_port, timeout=s.timeout_s) as smtp:
                if s.smtp_starttls:
                    # Verify the server's certificate and name: without a context, starttls()
                    # encrypts to whoever answers, and the password goes to them.
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(mail)
                taken = True
        except smtplib.SMTPResponseException as error:
            if taken:  # QUIT answered oddly: the mail was taken before
                return Sent()
            raise SendFailed(f"mail server: {error.smtp_code} {error.smtp_error!r}",
                             error.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as error:
            if taken:
                return Sent()
            if smtp is not None and smtp.mail_sent and \
                    not isinstance(error, smtplib.SMTPRecipientsRefused):
                raise SendFailed(f"the mail server did not answer for the mail: {error}; "
                                 "it may have gone", False, unconfirmed=True) from None
            raise self._refused(error) from None
        return Sent()

    @staticmethod
    def _refused(error: Exception) -> SendFailed:
        """A mail the server did not take, and whether trying again may help."""
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return SendFailed("the mail server refused the address", False)
        if isinstance(error, ssl.SSLCertVerificationError):
            return SendFailed(f"the mail server's certificate does not verify: "
                              f"{error.verify_message}", True)
        return SendFailed(f"mail server unreachable: {error}", True)


def channels_from(settings: MessagingSettings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.webhook_url:
        channels["webhook"] = WebhookChannel(settings.webhook_url, settings.webhook_token,
                                             settings.timeout_s)
    if settings.smtp_host:
        channels["smtp"] = SmtpChannel(settings)
    if settings.sms.provider:
        channels["sms"] = sms_channel(settings.sms, settings.timeout_s)
    if settings.wechat.configured:
        # wechatpy (and requests) cost a hub start half a second of CPU: only a hub with an
        # account loads them.
        from .wechat import wechat_account

        channels["wechat"] = wechat_account(settings.wechat, settings.timeout_s)
    return channels


class Dispatcher:
    def __init__(self, store: Store, channels: dict[str, Channel]) -> None:
        self.store = store
        self.channels = channels

    def run_once(self) -> int:
        """Send what is due now, then hear what the channels have to report; returns how
        many messages were tried. A channel that fails in a way worth retrying is left
        alone for the rest of the round."""
        tried = 0
        down: set[str] = set()
        while batch := claim_due(self.store, skip=tuple(down)):
            for message in batch:
                tried += 1
                channel = self.channels.get(message["channel"])
                if channel is None:
                    mark_failed(self.store, message["id"], "the channel is switched off", False)
                    continue
                if message["channel"] in down:
                    release(self.store, message["id"])
                    continue
                try:
                    sent = channel.send(
                        {**message, "unsubscribe_url": unsubscribe_link(
                            self.store, message["member_id"])})
                except SendFailed as error:
                    log.warning("message %s: %s", message["id"], error)
                    with self.store.write():
                        mark_failed(self.store, message["id"], str(error), error.retryable,
                                    error.unconfirmed)
                        if error.refusal is not None:
                            try:  # its own savepoint: the failure is written whatever
                                refused(self.store, error.refusal, message)
                            except Exception:
                                log.exception("message %s: what its refusal means for the "
                                              "guest was not written", message["id"])
                    if error.retryable:
                        down.add(message["channel"])
                else:
                    mark_sent(self.store, message["id"], sent.delivered, sent.ref)
        for name, channel in self.channels.items():
            if not isinstance(channel, Polled) or name in down:
                continue
            try:
                channel.poll(self.store)
            except SendFailed as error:
                log.warning("%s: receipts and replies not fetched: %s", name, error)
        return tried
