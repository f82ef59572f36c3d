"""Local stand-ins of Alibaba Cloud SMS (Dysmsapi, V3 signature) and Tencent Cloud SMS
(API 3.0, TC3 signature) on 127.0.0.1.

Each checks every request's signature from what arrived on the wire (not from what the
client meant to sign) with the secret it was given, answers with the provider's own codes
and shapes, keeps the approved templates in the provider's own syntax (Alibaba's ${name},
Tencent's {1}), and records each text as the phone would show it. Faults on purpose:
`fail_next` (HTTP 503, nothing taken), `throttle_next` (the provider's throttling code,
nothing taken), `lose_answer_next` (taken, then the connection drops without an answer),
`hold_next` (taken, then no answer until the client gives up). Tencent's pushes
(`pushed_reports`, `pushed_reply`) are the JSON its callbacks POST.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from zoneinfo import ZoneInfo

from .httpstandin import QuietHandler, serve

CHINA = ZoneInfo("Asia/Shanghai")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Standin:
    def __init__(self) -> None:
        self.texts: list[dict[str, Any]] = []  # what phones received, in order
        self.requests: list[str] = []  # the actions called, in order
        self.fail_next = self.throttle_next = self.lose_answer_next = self.hold_next = 0
        self.released = threading.Event()
        self.lock = threading.Lock()
        standin = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with standin.lock:
                    status, answer, drop = standin.handle(self, body)
                if drop == "hold":
                    standin.released.wait(2)
                if drop:
                    self.close_connection = True
                    return
                self.send_json(status, answer, "application/json;charset=utf-8")

        self.server, self.url = serve(Handler)

    def handle(self, request: BaseHTTPRequestHandler,
               body: bytes) -> tuple[int, dict[str, Any], str]:
        raise NotImplementedError

    def fault(self) -> str | None:
        """The fault to play on this SendSms, if one is due."""
        for name in ("fail_next", "throttle_next", "lose_answer_next", "hold_next"):
            if getattr(self, name):
                setattr(self, name, getattr(self, name) - 1)
                return name
        return None

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class AliyunStandin(_Standin):
    """Dysmsapi 2017-05-25: SendSms and QuerySendDetails, RPC parameters in the query."""

    def __init__(self, key_id: str, secret: str, sign_name: str,
                 templates: dict[str, str]) -> None:
        self.key_id, self.secret, self.sign_name = key_id, secret, sign_name
        self.templates = templates  # TemplateCode -> approved text with ${var}
        self.nonces: set[str] = set()
        super().__init__()

    def _error(self, status: int, code: str, message: str) -> tuple[int, dict[str, Any], str]:
        return status, {"Code": code, "Message": message, "RequestId": "standin"}, ""

    def _signature_problem(self, request: BaseHTTPRequestHandler, body: bytes) -> str | None:
        auth = request.headers.get("Authorization", "")
        match = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),"
                             r"Signature=([0-9a-f]{64})", auth)
        if not match:
            return "IncompleteSignature"
        key_id, signed, signature = match.groups()
        names = signed.split(";")
        if key_id != self.key_id:
            return "InvalidAccessKeyId.NotFound"
        required = {"host", "x-acs-action", "x-acs-version", "x-acs-date",
                    "x-acs-signature-nonce", "x-acs-content-sha256"}
        if not required <= set(names) or names != sorted(names):
            return "IncompleteSignature"
        if request.headers.get("x-acs-content-sha256") != _sha(body):
            return "SignatureDoesNotMatch"
        when = datetime.strptime(request.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        if abs(time.time() - when.replace(tzinfo=UTC).timestamp()) > 900:
            return "InvalidTimeStamp.Expired"
        url = urllib.parse.urlsplit(request.path)
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        quote = lambda t: urllib.parse.quote(t, safe="-_.~")  # noqa: E731
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(pairs))
        headers = "".join(f"{n}:{(request.headers.get(n) or '').strip()}\n" for n in names)
        canonical = f"POST\n{url.path or '/'}\n{query}\n{headers}\n{signed}\n{_sha(body)}"
        expected = hmac.new(self.secret.encode(),
                            f"ACS3-HMAC-SHA256\n{_sha(canonical.encode())}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "SignatureDoesNotMatch"
        nonce = request.headers["x-acs-signature-nonce"]
        if nonce in self.nonces:
            return "SignatureNonceUsed"
        self.nonces.add(nonce)
        return None

    def handle(self, request: BaseHTTPRequestHandler,
               body: bytes) -> tuple[int, dict[str, Any], str]:
        problem = self._signature_problem(request, body)
        if problem:
            return self._error(400 if problem != "InvalidAccessKeyId.NotFound" else 404,
                               problem, "the request's signature does not check")
        action = request.headers["x-acs-action"]
        self.requests.append(action)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))
        if action == "SendSms":
            return self._send(query)
        if action == "QuerySendDetails":
            return self._details(query)
        return self._error(404, "InvalidAction.NotFound", action)

    def _send(self, query: dict[str, str]) -> tuple[int, dict[str, Any], str]:
        fault = self.fault()
        if fault == "fail_next":
            return self._error(503, "ServiceUnavailable", "the service is unavailable")
        if fault == "throttle_next":
            return self._error(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        if query.get("SignName") != self.sign_name:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = self.templates.get(query.get("TemplateCode", ""))
        if template is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        params = json.loads(query.get("TemplateParam") or "{}")
        names = set(re.findall(r"\$\{(\w+)\}", template))
        if set(params) != names:
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if not re.fullmatch(r"1\d{10}", query.get("PhoneNumbers", "")):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        text = re.sub(r"\$\{(\w+)\}", lambda m: str(params[m.group(1)]), template)
        biz_id = f"{len(self.texts) + 1:06d}^0"
        self.texts.append({"BizId": biz_id, "OutId": query.get("OutId", ""),
                           "PhoneNum": query["PhoneNumbers"], "TemplateCode":
                           query["TemplateCode"], "params": params,
                           "Content": f"【{self.sign_name}】{text}", "SendStatus": 1,
                           "ErrCode": "", "SendDate": datetime.now(CHINA).strftime("%Y%m%d")})
        if fault in ("lose_answer_next", "hold_next"):
            return 0, {}, "hold" if fault == "hold_next" else "drop"
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id,
                     "RequestId": "standin"}, ""

    def _details(self, query: dict[str, str]) -> tuple[int, dict[str, Any], str]:
        rows = [{k: t[k] for k in ("OutId", "PhoneNum", "TemplateCode", "Content",
                                   "SendStatus", "ErrCode")}
                for t in self.texts if t["PhoneNum"] == query.get("PhoneNumber")
                and t["SendDate"] == query.get("SendDate")
                and query.get("BizId", t["BizId"]) == t["BizId"]]
        return 200, {"Code": "OK", "Message": "OK", "TotalCount": len(rows),
                     "SmsSendDetailDTOs": {"SmsSendDetailDTO": rows}}, ""

    def carrier_reports(self, delivered: bool = True) -> None:
        """Every text still waiting gets its carrier's report."""
        with self.lock:
            for text in self.texts:
                if text["SendStatus"] == 1:
                    text["SendStatus"] = 3 if delivered else 2
                    text["ErrCode"] = "DELIVERED" if delivered else "MK:0001"


class TencentStandin(_Standin):
    """SMS 2021-01-11: SendSms, PullSmsSendStatus, PullSmsReplyStatus."""

    def __init__(self, secret_id: str, secret_key: str, app_id: str, sign_name: str,
                 templates: dict[str, str]) -> None:
        self.secret_id, self.secret_key = secret_id, secret_key
        self.app_id, self.sign_name = app_id, sign_name
        self.templates = templates  # TemplateId -> approved text with {1}, {2}, ...
        self.receipts: list[dict[str, Any]] = []  # waiting to be pulled
        self.replies: list[dict[str, Any]] = []
        super().__init__()

    def _error(self, code: str, message: str) -> tuple[int, dict[str, Any], str]:
        return 200, {"Response": {"Error": {"Code": code, "Message": message},
                                  "RequestId": "standin"}}, ""

    def _signature_problem(self, request: BaseHTTPRequestHandler, body: bytes) -> str | None:
        auth = request.headers.get("Authorization", "")
        match = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/"
                             r"tc3_request, SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})",
                             auth)
        if not match:
            return "AuthFailure.InvalidAuthorization"
        secret_id, date, signed, signature = match.groups()
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        timestamp = int(request.headers.get("X-TC-Timestamp") or 0)
        if abs(time.time() - timestamp) > 300:
            return "AuthFailure.SignatureExpire"
        if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date:
            return "AuthFailure.SignatureFailure"
        names = signed.split(";")
        if not {"content-type", "host"} <= set(names):
            return "AuthFailure.SignatureFailure"
        headers = "".join(f"{n}:{(request.headers.get(n) or '').strip().lower()}\n"
                          for n in names)
        canonical = f"POST\n/\n\n{headers}\n{signed}\n{_sha(body)}"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n" \
                  f"{_sha(canonical.encode())}"
        key = f"TC3{self.secret_key}".encode()
        for part in (date, "sms", "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "AuthFailure.SignatureFailure"
        return None

    def handle(self, request: BaseHTTPRequestHandler,
               body: bytes) -> tuple[int, dict[str, Any], str]:
        problem = self._signature_problem(request, body)
        if problem:
            return self._error(problem, "the request's signature does not check")
        if request.headers.get("X-TC-Version") != "2021-01-11":
            return self._error("InvalidParameter", "X-TC-Version")
        action = request.headers.get("X-TC-Action", "")
        self.requests.append(action)
        payload = json.loads(body)
        if payload.get("SmsSdkAppId") != self.app_id:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId")
        if action == "SendSms":
            return self._send(payload)
        if action in ("PullSmsSendStatus", "PullSmsReplyStatus"):
            pending = self.receipts if action == "PullSmsSendStatus" else self.replies
            taken, pending[:] = pending[: payload.get("Limit", 10)], \
                pending[payload.get("Limit", 10):]
            key = "PullSmsSendStatusSet" if action == "PullSmsSendStatus" \
                else "PullSmsReplyStatusSet"
            return 200, {"Response": {key: taken, "RequestId": "standin"}}, ""
        return self._error("InvalidAction", action)

    def _send(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        fault = self.fault()
        if fault == "fail_next":
            return 503, {}, ""
        if fault == "throttle_next":
            return self._error("RequestLimitExceeded", "请求的次数超过了频率限制")
        template = self.templates.get(payload.get("TemplateId", ""))
        if payload.get("SignName") != self.sign_name:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批")
        if template is None:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批")
        params = payload.get("TemplateParamSet") or []
        if len(params) != len(re.findall(r"\{\d+\}", template)):
            return self._error("InvalidParameterValue.TemplateParameterFormatError",
                               "模板参数个数不匹配")
        [phone] = payload["PhoneNumberSet"]
        text = re.sub(r"\{(\d+)\}", lambda m: str(params[int(m.group(1)) - 1]), template)
        serial = f"2640:{len(self.texts) + 1:08d}"
        self.texts.append({"SerialNo": serial, "PhoneNumber": phone, "params": params,
                           "SessionContext": payload.get("SessionContext", ""),
                           "Content": f"【{self.sign_name}】{text}"})
        if fault in ("lose_answer_next", "hold_next"):
            return 0, {}, "hold" if fault == "hold_next" else "drop"
        return 200, {"Response": {"SendStatusSet": [{
            "SerialNo": serial, "PhoneNumber": phone, "Fee": 1,
            "SessionContext": payload.get("SessionContext", ""), "Code": "Ok",
            "Message": "send success", "IsoCode": "CN"}], "RequestId": "standin"}}, ""

    def carrier_reports(self, delivered: bool = True) -> None:
        """Every text not reported yet gets its carrier's report, waiting to be pulled."""
        with self.lock:
            for text in self.texts:
                if text.setdefault("reported", False):
                    continue
                text["reported"] = True
                self.receipts.append({
                    "UserReceiveTime": "2026-12-01 10:00:00", "CountryCode": "86",
                    "SubscriberNumber": text["PhoneNumber"][3:],
                    "PhoneNumber": text["PhoneNumber"], "SerialNo": text["SerialNo"],
                    "ReportStatus": "SUCCESS" if delivered else "FAIL",
                    "Description": "用户接收成功" if delivered else "空号",
                    "SessionContext": text["SessionContext"]})

    def pushed_reports(self, delivered: bool = True) -> list[dict[str, Any]]:
        """What Tencent POSTs to the status callback URL for every text sent so far: a list,
        each naming the text by its SerialNo (`sid`)."""
        return [{"user_receive_time": "2026-12-01 10:00:00", "nationcode": "86",
                 "mobile": text["PhoneNumber"][3:],
                 "report_status": "SUCCESS" if delivered else "FAIL",
                 "errmsg": "DELIVRD" if delivered else "MK:0001",
                 "description": "用户短信送达成功" if delivered else "空号",
                 "sid": text["SerialNo"]} for text in self.texts]

    def pushed_reply(self, phone: str, text: str) -> dict[str, Any]:
        """What Tencent POSTs to the reply callback URL: one object per reply."""
        return {"extend": "", "mobile": phone[3:], "nationcode": "86",
                "sign": self.sign_name, "text": text, "time": int(time.time())}

    def guest_replies(self, phone: str, text: str) -> None:
        with self.lock:
            self.replies.append({"ExtendCode": "", "CountryCode": "86",
                                 "SubscriberNumber": phone[3:], "PhoneNumber": phone,
                                 "ReplyContent": text, "ReplyTime": "2026-12-01 10:05:00",
                                 "ReplyUnixTime": int(time.time()),
                                 "SignName": self.sign_name})
