"""The console's only way to the store: the hub's HTTP API and event stream.

Every call blocks, so the console runs them in worker threads; failures come back as one
`HubError` with a message a cashier can read.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from hub.domain.errors import InvalidInput
from hub.domain.members import MemberView
from hub.domain.profiles import GuestHistory, MemberProfile
from hub.tls import pinned_context

if TYPE_CHECKING:  # the console shows reports without loading their queries
    from hub.domain.reports import Report
    from hub.domain.stock import PurchaseList

Json = dict[str, Any]


class HubError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def tls_context(url: str, pin: str | None) -> ssl.SSLContext | None:
    """How to trust the hub at `url` before it gets the token: its pinned key, else (no pin)
    the system's CAs with host names checked; None for plain HTTP."""
    if not url.startswith("https:"):
        if pin:
            raise HubError(f"{url}: a pinned hub is spoken to over https only")
        return None
    if pin is None:
        return ssl.create_default_context()
    try:
        return pinned_context(url, pin)
    except InvalidInput as error:
        raise HubError(error.message) from None


class HubClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0,
                 pin: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        # one context (and one pooled connection) for the client's life: the pin is checked
        # once, before the first request carries the token
        self.tls = tls_context(self.url, pin)
        self.http = httpx.Client(base_url=f"{self.url}/api/v1", timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"},
                                 verify=self.tls or True)
        self._socket: socket.socket | None = None

    def _call(self, method: str, path: str, raw: bool = False, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            hint = " (give the hub's pin: --pin, from its pairing link or `laoke tls show`)" \
                if "CERTIFICATE_VERIFY_FAILED" in str(error) else ""
            raise HubError(f"the hub at {self.url} cannot be reached ({error}){hint}") \
                from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise HubError(message, response.status_code)
        if raw:
            return response.content
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()

    # -- the store -----------------------------------------------------------------------

    def health(self) -> Json:
        return self._call("GET", "/health")

    def dashboard(self) -> Json:
        return self._call("GET", "/dashboard")

    def search(self, query: str, limit: int = 20) -> list[MemberView]:
        return self._call("GET", "/members/search", params={"q": query, "limit": limit})[
            "members"]

    def member(self, member_id: str) -> MemberProfile:
        return self._call("GET", f"/members/{member_id}")

    def update_member(self, member_id: str, changes: Json) -> MemberProfile:
        return self._call("PATCH", f"/members/{member_id}", json=changes)

    def history(self, member_id: str) -> GuestHistory:
        return self._call("GET", f"/members/{member_id}/visits", params={"limit": 20})

    def points(self, member_id: str) -> Json:
        return self._call("GET", f"/members/{member_id}/points")

    def stored_value(self, member_id: str) -> Json:
        return self._call("GET", f"/members/{member_id}/stored-value")

    def top_up(self, member_id: str, amount_fen: int, bonus_fen: int = 0) -> Json:
        return self._call("POST", f"/members/{member_id}/topups",
                          json={"amount_fen": amount_fen, "bonus_fen": bonus_fen})

    def link_card(self, member_id: str, number: str) -> MemberProfile:
        return self._call("POST", f"/members/{member_id}/cards", json={"number": number})

    def block_card(self, number: str, reason: str) -> Json:
        return self._call("POST", f"/cards/{number}/block", json={"reason": reason})

    def templates(self) -> list[Json]:
        return self._call("GET", "/coupon-templates")["templates"]

    def send_coupon(self, template_id: str, member_id: str, reason: str) -> Json:
        return self._call("POST", "/coupons", json={"template_id": template_id,
                                                    "member_id": member_id, "reason": reason})

    def current_shift(self) -> Json | None:
        return self._call("GET", "/shifts/current")["shift"]

    def open_shift(self, pin: str) -> Json:
        return self._call("POST", "/shifts", json={"pin": pin})

    def close_shift(self, shift_id: str) -> None:
        self._call("DELETE", f"/shifts/{shift_id}")

    def apologise(self, feedback_id: str) -> Json:
        return self._call("POST", f"/feedback/{feedback_id}/apology")

    def checkout(self, body: Json, key: str) -> Json:
        return self._call("POST", "/checkouts", json=body, headers={"Idempotency-Key": key})

    def segment(self, name: str, days: int | None = None) -> Json:
        params = {"limit": 200} | ({"days": days} if days is not None else {})
        return self._call("GET", f"/segments/{name}", params=params)

    def call_list(self, limit: int = 100) -> list[Json]:
        return self._call("GET", "/calls", params={"limit": limit})["guests"]

    def log_call(self, body: Json) -> Json:
        return self._call("POST", "/calls", json=body)

    def stock_purchase(self, days: int = 7) -> PurchaseList:
        """What to buy, the restock alerts and the days of stock left (the stock pane)."""
        return self._call("GET", "/stock/purchase", params={"days": days})

    def stock_variance(self) -> list[Json]:
        return self._call("GET", "/stock/variance")["variance"]

    def stock_file(self, fmt: str, days: int = 7) -> bytes:
        """The purchase list as XLSX, or its chart as PNG, for saving on this machine."""
        return self._call("GET", "/stock/purchase/export", params={"days": days,
                                                                     "format": fmt}, raw=True)

    def report(self, name: str, start: str | None = None, end: str | None = None,
               category: str | None = None) -> Report:
        params = {k: v for k, v in (("from", start), ("to", end), ("category", category)) if v}
        return self._call("GET", f"/reports/{name}", params=params)

    def report_file(self, name: str, fmt: str, start: str | None = None,
                    end: str | None = None, category: str | None = None) -> bytes:
        """The report as a file (XLSX, zipped CSV, or PNG), for saving on this machine."""
        params = {"format": fmt} | {k: v for k, v in (("from", start), ("to", end),
                                                      ("category", category)) if v}
        return self._call("GET", f"/reports/{name}/export", params=params, raw=True)

    def preview(self, rules: Json) -> Json:
        return self._call("POST", "/segments/preview", json=rules)

    def campaigns(self) -> list[Json]:
        return self._call("GET", "/campaigns")["campaigns"]

    def update_campaign(self, campaign_id: str, changes: Json) -> Json:
        return self._call("PATCH", f"/campaigns/{campaign_id}", json=changes)

    def run_campaign(self, campaign_id: str) -> Json:
        return self._call("POST", f"/campaigns/{campaign_id}/run")

    def campaign_results(self, campaign_id: str) -> Json:
        return self._call("GET", f"/campaigns/{campaign_id}/results")

    def campaign_preview(self, campaign_id: str, sample: int = 5) -> Json:
        return self._call("GET", f"/campaigns/{campaign_id}/preview",
                          params={"sample": sample})

    def menu(self) -> list[Json]:
        return self._call("GET", "/menu")["dishes"]

    def save_dish(self, code: str, fields: Json) -> Json:
        return self._call("PUT", f"/menu/dishes/{code}", json=fields)

    def sold_out(self, code: str, sold_out: bool) -> Json:
        return self._call("POST", f"/menu/dishes/{code}/sold-out", json={"sold_out": sold_out})

    def sync_conflicts(self) -> list[Json]:
        return list(self._call("GET", "/sync/conflicts")["conflicts"])

    def joinable_orders(self) -> list[Json]:
        return list(self._call("GET", "/delivery/joinable-orders"))

    def platform_identities(self, member_id: str) -> list[Json]:
        return list(self._call("GET", f"/members/{member_id}/platform-identities"))

    def join_platform_user(self, platform: str, user_id: str, member_id: str) -> Json:
        return self._call("POST", "/delivery/joins", json={
            "platform": platform, "platform_user_id": user_id, "member_id": member_id})

    def unjoin_platform_user(self, platform: str, user_id: str) -> Json:
        return self._call("DELETE", f"/delivery/joins/{platform}/{quote(user_id, safe='')}")

    def flagged_vouchers(self) -> list[Json]:
        return list(self._call("GET", "/group-buy/vouchers", params={"state": "flagged"}))

    def resolve_voucher(self, voucher_id: str, resolution: str) -> Json:
        return self._call("POST", f"/group-buy/vouchers/{voucher_id}/resolution",
                          json={"resolution": resolution})

    def portions(self, code: str, left: int | None) -> Json:
        return self._call("POST", f"/menu/dishes/{code}/portions", json={"left": left})

    def retire(self, code: str) -> Json:
        return self._call("DELETE", f"/menu/dishes/{code}")

    def devices(self) -> list[Json]:
        return self._call("GET", "/devices")["devices"]

    def pairing_code(self, role: str) -> Json:
        return self._call("POST", "/devices/pairing-codes", json={"role": role})

    def revoke(self, device_id: str) -> Json:
        return self._call("DELETE", f"/devices/{device_id}")

    def printers(self) -> list[Json]:
        return self._call("GET", "/printers")["printers"]

    def print_test(self, printer: str | None = None) -> Json:
        return self._call("POST", "/print/test", json={"printer": printer})

    def print_jobs(self) -> list[Json]:
        return self._call("GET", "/print/jobs", params={"limit": 20})["jobs"]

    def events(self, last_id: int | None = None) -> Iterator[Json]:
        """Live events until the hub closes the stream; raises HubError when it drops.

        A plain socket rather than httpx, so that `stop_events` from another thread can end
        a read that is waiting for the next event.
        """
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1",
                                                parts.port or 80, timeout=60) \
            if self.tls is None else http.client.HTTPSConnection(
                parts.hostname or "127.0.0.1", parts.port or 443, timeout=60,
                context=self.tls)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        try:
            connection.connect()
            self._socket = connection.sock
            connection.request("GET", "/api/v1/events", headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise HubError(f"event stream refused ({response.status})", response.status)
            while True:
                raw = response.fp.readline()
                if not raw:
                    return
                if raw.startswith(b"data: "):
                    yield json.loads(raw[6:])
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise HubError(f"event stream lost ({error})") from None
        finally:
            self._socket = None
            connection.close()

    def stop_events(self) -> None:
        """End a stream another thread is reading (when the console quits)."""
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
