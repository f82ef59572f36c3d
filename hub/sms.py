"""SMS through the providers Chinese restaurants use: Alibaba Cloud (Dysmsapi 2017-05-25) and
Tencent Cloud (SMS 2021-01-11).

Each is a small HTTP client of our own rather than the vendor's SDK: an API call is one
signed POST, and the SDKs bring a stack of their own runtimes to do it. Alibaba's requests
carry the V3 signature (ACS3-HMAC-SHA256), the one its current SDKs (the tea-openapi ones
behind alibabacloud-dysmsapi20170525) use; Tencent's the TC3-HMAC-SHA256 signature of its
API 3.0. A text goes out as the approved template's id and its parameters under the
registered signature, never as free text.

Nothing is sent twice. A refused connection, an HTTP 5xx or a throttling code means the
provider did not take the text, so it is tried again later. An answer lost after the request
went (a timeout, a dropped connection) is different: Alibaba lists every text it took under
our OutId (QuerySendDetails), so before any retry the text is looked up there and only sent
if it is not found; Tencent has no such list (its receipts come only once the carrier
reports), so such a text becomes `unconfirmed` for a person to check.

Delivery receipts are polled (Alibaba: QuerySendDetails per text; Tencent:
PullSmsSendStatus); replies too where the provider lets a store pull them (Tencent:
PullSmsReplyStatus), and a stop word withdraws consent as a webhook gateway's reply does;
Alibaba hands replies out only by pushing them, so the hub takes its callbacks too
(`aliyun_pushed`), and its delivery reports the same way where the hub is reachable; so
does Tencent's where it is set to push (`tencent_pushed`), polling staying the fallback.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .domain.clock import from_iso
from .domain.config import SmsSettings
from .domain.errors import InvalidInput
from .domain.outreach import mark_receipt, mark_receipt_by_ref
from .domain.replies import reply_from
from .domain.store import Store
from .sending import Receipts, SendFailed, Sent, StoreReceipts

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com"
ALIYUN_VERSION = "2017-05-25"
TENCENT_ENDPOINT = "https://sms.tencentcloudapi.com"
TENCENT_VERSION = "2021-01-11"
CHINA = ZoneInfo("Asia/Shanghai")  # the providers' dates (SendDate) are Beijing time
RECEIPT_DAYS = 3  # a receipt not come after this long will not come

# Codes that mean "not now": frequency control, throttling, a passing fault on their side,
# a balance the owner can top up.
ALIYUN_LATER = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "Throttling",
                "Throttling.User", "Throttling.Api", "ServiceUnavailable", "InternalError",
                "isp.SYSTEM_ERROR", "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE"}
TENCENT_LATER_PREFIXES = ("RequestLimitExceeded", "InternalError", "LimitExceeded",
                          "FailedOperation.InsufficientBalanceInSmsPackage")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def percent(text: str) -> str:
    """RFC 3986 encoding as both providers sign it: only A-Z a-z 0-9 - _ . ~ stay."""
    return urllib.parse.quote(text, safe="-_.~")


def aliyun_authorization(key_id: str, secret: str, method: str, query: dict[str, str],
                         headers: dict[str, str], body: bytes) -> str:
    """The ACS3-HMAC-SHA256 Authorization header for a request to path "/"; `headers` are
    the ones signed (host and every x-acs-*), lower-case names."""
    canonical_query = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(query.items()))
    names = sorted(headers)
    canonical = "\n".join([method, "/", canonical_query,
                           "".join(f"{n}:{headers[n].strip()}\n" for n in names),
                           ";".join(names), _sha256(body)])
    to_sign = f"ACS3-HMAC-SHA256\n{_sha256(canonical.encode())}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={';'.join(names)},"
            f"Signature={signature}")


def tencent_authorization(secret_id: str, secret_key: str, host: str, action: str,
                          timestamp: int, content_type: str, body: bytes) -> str:
    """The TC3-HMAC-SHA256 Authorization header for a POST to "/" of the sms service."""
    date = datetime.fromtimestamp(timestamp, ZoneInfo("UTC")).strftime("%Y-%m-%d")
    signed = "content-type;host;x-tc-action"
    canonical = (f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n"
                 f"x-tc-action:{action.lower()}\n\n{signed}\n{_sha256(body)}")
    scope = f"{date}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256(canonical.encode())}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), "sms"), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}")


def _post(url: str, headers: dict[str, str], body: bytes, timeout: float,
          provider: str) -> tuple[int, dict[str, Any]]:
    """The answer's status and JSON. Raises SendFailed: retryable when the provider cannot
    have taken the request; `unconfirmed` when it went and no answer came back."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read(1 << 20)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(1 << 20)
        if status >= 500:
            raise SendFailed(f"{provider} answered {status}", True) from None
    except urllib.error.URLError as error:  # no connection was made: nothing went
        raise SendFailed(f"{provider} unreachable: {error.reason}", True) from None
    except (OSError, http.client.HTTPException) as error:  # it went; the answer did not come
        raise SendFailed(f"{provider} did not answer: {error or type(error).__name__}", True,
                         unconfirmed=True) from None
    try:
        answer_json = json.loads(raw)
    except ValueError:
        raise SendFailed(f"{provider} answered {status} with no JSON", status >= 500) from None
    if not isinstance(answer_json, dict):
        raise SendFailed(f"{provider} answered {status} with unexpected JSON", False)
    return status, answer_json


def mainland_or_international(phone: str) -> str:
    """Alibaba's form of an E.164 number: 11 digits in mainland China, else the country
    code and number without "+"."""
    return phone[3:] if phone.startswith("+86") else phone.lstrip("+")


def _params(message: dict[str, Any]) -> dict[str, str]:
    try:
        params = json.loads(message["params"] or "{}")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise SendFailed("the message has no template parameters", False)
    return {str(k): str(v) for k, v in params.items()}


class AliyunSms:
    def __init__(self, settings: SmsSettings, timeout: float) -> None:
        self.settings, self.timeout = settings, timeout
        self.endpoint = (settings.endpoint or ALIYUN_ENDPOINT).rstrip("/")
        self.host = urllib.parse.urlsplit(self.endpoint).netloc

    def call(self, action: str, query: dict[str, str]) -> dict[str, Any]:
        """One signed RPC call (its parameters in the query); the answer's JSON when its
        Code is OK, else SendFailed."""
        headers = {"host": self.host, "x-acs-action": action, "x-acs-version": ALIYUN_VERSION,
                   "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   # One per request: Alibaba refuses a nonce it has seen (SignatureNonceUsed).
                   "x-acs-signature-nonce": uuid.uuid4().hex,
                   "x-acs-content-sha256": _sha256(b"")}
        authorization = aliyun_authorization(self.settings.access_key_id,
                                             self.settings.access_key_secret, "POST", query,
                                             headers, b"")
        url = f"{self.endpoint}/?" + "&".join(f"{percent(k)}={percent(v)}"
                                              for k, v in sorted(query.items()))
        try:
            status, answer = _post(url, {**headers, "Authorization": authorization,
                                         "Accept": "application/json"}, b"", self.timeout,
                                   "Alibaba SMS")
        except SendFailed as error:
            if error.unconfirmed:  # the retry asks Alibaba first (`_taken`)
                raise SendFailed(str(error), True) from None
            raise
        code = str(answer.get("Code", ""))
        if code != "OK":
            raise SendFailed(f"Alibaba SMS {action}: {code or status} {answer.get('Message', '')}"
                             .strip(), code in ALIYUN_LATER)
        return answer

    def _details(self, phone: str, day: str, biz_id: str = "") -> list[dict[str, Any]]:
        """What Alibaba lists of the texts to `phone` on `day` (YYYYMMDD, Beijing)."""
        query = {"PhoneNumber": phone, "SendDate": day,
                 "PageSize": "50", "CurrentPage": "1", **({"BizId": biz_id} if biz_id else {})}
        found = self.call("QuerySendDetails", query).get("SmsSendDetailDTOs") or {}
        rows = (found.get("SmsSendDetailDTO") or []) if isinstance(found, dict) else []
        return [r for r in rows if isinstance(r, dict)]

    def _taken(self, message: dict[str, Any], phone: str) -> Sent | None:
        """The text as Alibaba took it on an earlier attempt (by our OutId), if it did."""
        now = datetime.now(CHINA)
        # Retries end within a day (the backoff tops out at hours), so the text went on the
        # day it was written, yesterday or today.
        days = dict.fromkeys(d.strftime("%Y%m%d") for d in (
            from_iso(message["created_at"]).astimezone(CHINA), now - timedelta(days=1), now))
        for day in days:
            for row in self._details(phone, day):
                if row.get("OutId") == message["id"]:
                    return Sent(delivered=row.get("SendStatus") == 3)
        return None

    def send(self, message: dict[str, Any]) -> Sent:
        phone = mainland_or_international(message["address"])
        if message["attempts"] > 1:
            taken = self._taken(message, phone)
            if taken is not None:
                return taken
        answer = self.call("SendSms", {
            "PhoneNumbers": phone, "SignName": self.settings.sign_name,
            "TemplateCode": message["template"],
            "TemplateParam": json.dumps(_params(message), ensure_ascii=False),
            "OutId": message["id"]})
        return Sent(ref=str(answer.get("BizId") or "") or None)

    def poll(self, store: Store) -> int:
        return self.collect(StoreReceipts(store))

    def collect(self, book: Receipts) -> int:
        """Delivery receipts of the texts still waiting for one; returns how many came."""
        settled = 0
        since = book.now() - timedelta(days=RECEIPT_DAYS)
        for message in book.awaiting("sms", since):
            phone = mainland_or_international(message["address"] or "")
            day = from_iso(message["sent_at"]).astimezone(CHINA).strftime("%Y%m%d")
            rows = self._details(phone, day, message["provider_ref"] or "")
            for row in rows:
                if row.get("OutId") != message["id"] or row.get("SendStatus") not in (2, 3):
                    continue
                settled += book.receipt(message["id"], row["SendStatus"] == 3,
                                        "" if row["SendStatus"] == 3 else
                                        f"carrier: {row.get('ErrCode', '')}")
        return settled


class TencentSms:
    def __init__(self, settings: SmsSettings, timeout: float) -> None:
        self.settings, self.timeout = settings, timeout
        self.endpoint = (settings.endpoint or TENCENT_ENDPOINT).rstrip("/")
        self.host = urllib.parse.urlsplit(self.endpoint).netloc

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One signed API 3.0 call; its Response when it holds no Error, else SendFailed."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        content_type = "application/json; charset=utf-8"
        timestamp = int(time.time())
        authorization = tencent_authorization(
            self.settings.access_key_id, self.settings.access_key_secret, self.host, action,
            timestamp, content_type, body)
        status, answer = _post(f"{self.endpoint}/", {
            "Authorization": authorization, "Content-Type": content_type, "Host": self.host,
            "X-TC-Action": action, "X-TC-Version": TENCENT_VERSION,
            "X-TC-Timestamp": str(timestamp), "X-TC-Region": self.settings.region},
            body, self.timeout, "Tencent SMS")
        response = answer.get("Response")
        if not isinstance(response, dict):
            raise SendFailed(f"Tencent SMS {action}: answered {status} without a Response",
                             False)
        error = response.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", ""))
            raise SendFailed(f"Tencent SMS {action}: {code} {error.get('Message', '')}".strip(),
                             code.startswith(TENCENT_LATER_PREFIXES))
        return response

    def send(self, message: dict[str, Any]) -> Sent:
        params = _params(message)
        try:
            response = self.call("SendSms", {
                "PhoneNumberSet": [message["address"]], "SmsSdkAppId": self.settings.sdk_app_id,
                "SignName": self.settings.sign_name, "TemplateId": message["template"],
                "TemplateParamSet": list(params.values()), "SessionContext": message["id"]})
        except SendFailed as error:
            if error.unconfirmed:  # Tencent cannot be asked whether it took the text
                raise SendFailed(f"{error}; it may have gone: check the Tencent console",
                                 False, unconfirmed=True) from None
            raise
        statuses = response.get("SendStatusSet") or [{}]
        status = statuses[0] if isinstance(statuses[0], dict) else {}
        code = str(status.get("Code", ""))
        if code != "Ok":
            raise SendFailed(f"Tencent SMS: {code} {status.get('Message', '')}".strip(),
                             code.startswith(TENCENT_LATER_PREFIXES))
        return Sent(ref=str(status.get("SerialNo") or "") or None)

    def poll(self, store: Store) -> int:
        return self.collect(StoreReceipts(store))

    def collect(self, book: Receipts) -> int:
        """Delivery receipts and replies waiting at Tencent (each is handed out once);
        returns how many receipts settled a message."""
        app = {"SmsSdkAppId": self.settings.sdk_app_id, "Limit": 100}
        settled = 0
        for row in self.call("PullSmsSendStatus", app).get("PullSmsSendStatusSet") or []:
            if isinstance(row, dict) and row.get("SessionContext"):
                ok = row.get("ReportStatus") == "SUCCESS"
                settled += book.receipt(str(row["SessionContext"]), ok,
                                        "" if ok else f"carrier: {row.get('Description', '')}")
        for row in self.call("PullSmsReplyStatus", app).get("PullSmsReplyStatusSet") or []:
            if not isinstance(row, dict):
                continue
            try:
                book.reply(str(row.get("PhoneNumber", "")), str(row.get("ReplyContent")))
            except InvalidInput:
                continue  # a number that is no phone is no guest of ours
        return settled


def aliyun_pushed(store: Store, kind: str, items: list[dict[str, Any]]) -> int:
    """What Alibaba pushed to the callback URL: delivery reports ("reports", SmsReport) or
    guests' replies ("replies", SmsUp); returns how many changed something. An item not of
    the expected shape is passed over: Alibaba does not resend an answered push, and one
    odd item must not cost the others."""
    changed = 0
    for item in items:
        if kind == "reports" and isinstance(item.get("out_id"), str):
            ok = item.get("success") is True
            changed += mark_receipt(store, item["out_id"], ok,
                                    "" if ok else f"carrier: {item.get('err_code', '')}")
        elif kind == "replies" and isinstance(item.get("phone_number"), str):
            try:
                changed += reply_from(store, item["phone_number"],
                                      str(item.get("content", ""))) != "none"
            except InvalidInput:
                continue
    return changed


def tencent_pushed(store: Store, kind: str, body: Any) -> int:
    """What Tencent pushed to the callback URL: delivery reports ("reports", a list, each
    naming the text by the SerialNo SendSms answered, as `sid`) or a guest's reply
    ("replies", one object, or a list); returns how many changed something. Odd items are
    passed over, as at Alibaba; polling stays the fallback for whatever a push missed."""
    changed = 0
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, dict):
            continue
        if kind == "reports" and isinstance(item.get("sid"), str):
            ok = item.get("report_status") == "SUCCESS"
            why = f"carrier: {item.get('errmsg', '')} {item.get('description', '')}".strip()
            changed += mark_receipt_by_ref(store, item["sid"], ok, "" if ok else why)
        elif kind == "replies" and isinstance(item.get("mobile"), str):
            mobile = item["mobile"]
            phone = mobile if mobile.startswith("+") else f"+{item.get('nationcode') or 86}" \
                f"{mobile}"
            try:
                changed += reply_from(store, phone, str(item.get("text", ""))) != "none"
            except InvalidInput:
                continue
    return changed


def sms_channel(settings: SmsSettings, timeout: float) -> AliyunSms | TencentSms:
    return AliyunSms(settings, timeout) if settings.provider == "aliyun" else \
        TencentSms(settings, timeout)
