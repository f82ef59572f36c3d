"""美团/大众点评 group-buy vouchers (团购券) asked of the platform at checkout, on a refund and by
the verifier; hub.domain.groupbuy records what it answered.

The platform's voucher API: form posts to `[group_buy] url` + `/tuangou/receipt/prepare`
(look a code up: the deal, its face value `deal_marketprice` and the price the guest paid
`deal_price`, in yuan), `/consume` (idempotent by `requestid`) and `/reverseconsume`, signed
as Meituan's open platform signs (`sig` = md5 of the URL, `?`, the parameters sorted as k=v
joined by `&`, then the app secret: hub.domain.delivery.meituan_sig), answered
`{"code": 200, "msg", "data"}`; any other code is the platform's refusal. The standard
library speaks it, as the weather source does: no HTTP client on the Pi for three calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from .domain import groupbuy as book
from .domain.checkout import CheckoutRequest, Tender
from .domain.config import GroupBuySettings
from .domain.delivery import meituan_sig
from .domain.errors import InvalidInput, PlatformUnreachable, VoucherRefused
from .domain.money import to_fen
from .domain.store import Store
from .workers import ThreadWorker

log = logging.getLogger(__name__)
Paid = TypeVar("Paid")  # what the checkout run with the vouchers answers


class Platform:
    """The platform's voucher API for this shop."""

    def __init__(self, settings: GroupBuySettings) -> None:
        self.settings = settings

    def _call(self, operation: str, fields: dict[str, str]) -> Any:
        settings = self.settings
        if not settings.url:
            raise PlatformUnreachable("group-buy: [group_buy] url is not set")
        url = f"{settings.url.rstrip('/')}/tuangou/receipt/{operation}"
        params = {**fields, "app_key": settings.app_key, "open_shop_uuid": settings.shop_id,
                  "timestamp": str(int(time.time()))}
        params["sig"] = meituan_sig(url, params, settings.app_secret)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_s) as answer:
                body = json.loads(answer.read())
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            raise PlatformUnreachable(f"group-buy: {operation} could not be asked: "
                                      f"{error}") from None
        if not isinstance(body, dict):
            raise PlatformUnreachable(f"group-buy: {operation} answered no JSON object")
        if body.get("code") != 200:
            raise VoucherRefused(f"group-buy: the platform refused {fields['receipt_code']}: "
                                 f"{body.get('msg') or body.get('code')}")
        return body.get("data")

    @staticmethod
    def _deal(data: Any, operation: str) -> book.Deal:
        one = data[0] if isinstance(data, list) and data else data
        try:
            return book.Deal(str(one["deal_title"]), to_fen(str(one["deal_marketprice"])),
                             to_fen(str(one["deal_price"])))
        except (KeyError, TypeError, ValueError):
            raise PlatformUnreachable(f"group-buy: {operation} answered no deal") from None

    def prepare(self, code: str) -> book.Deal:
        return self._deal(self._call("prepare", {"receipt_code": code}), "prepare")

    def consume(self, code: str, request_id: str) -> book.Deal:
        return self._deal(self._call("consume", {"receipt_code": code, "requestid": request_id,
                                                 "count": "1"}), "consume")

    def reverse(self, code: str, request_id: str) -> None:
        self._call("reverseconsume", {"receipt_code": code, "requestid": request_id})


def take(store: Store, platform: Platform, code: str, request_id: str,
         amount_fen: int) -> book.Deal:
    """Look the code up, check it covers the tender, consume it (VoucherRefused if the platform
    or this store will not)."""
    if book.live(store, code):
        raise VoucherRefused(f"voucher {code} was already taken here")
    return consume(platform, code, request_id, amount_fen)


def consume(platform: Platform, code: str, request_id: str, amount_fen: int) -> book.Deal:
    """Look the code up, check it covers `amount_fen`, consume it. A code the platform calls
    used may have been consumed under this very request id before its answer was lost (a crash,
    a dropped link): consume is asked again with it, which the platform answers as the first
    time only if it was ours."""
    try:
        looked_up: book.Deal | None = platform.prepare(code)
    except VoucherRefused:
        looked_up = None
    if looked_up is not None:
        book.check_amount(code, looked_up, amount_fen)
        return platform.consume(code, request_id)
    deal = platform.consume(code, request_id)  # refused again unless it was ours
    try:
        book.check_amount(code, deal, amount_fen)
    except VoucherRefused:
        _give_back(platform, book.Taken(code, request_id, deal))
        raise
    return deal


def checkout_with_vouchers(store: Store, platform: Platform, req: CheckoutRequest,
                           run: Callable[[CheckoutRequest], Paid]) -> Paid:
    """`run` (the checkout, or a POS's bill) with its voucher tenders taken from the platform
    first; offline, taken pending. A retry of a checkout made already asks nothing (the first
    stands); a checkout refused after a code was consumed gives the code back."""
    codes = [tender for tender in req.tenders or () if tender.code is not None]
    if not codes or store.one("SELECT 1 FROM orders WHERE idempotency_key = ?",
                              (req.idempotency_key,)):
        return run(req)
    consumed: list[book.Taken] = []
    taken: list[book.Taken] = []
    try:
        for tender in codes:
            code = book.voucher_code(tender.code)
            rid = book.request_id(req.idempotency_key, code)
            try:
                one = book.Taken(code, rid, take(store, platform, code, rid, tender.amount_fen))
                consumed.append(one)
            except PlatformUnreachable as error:
                log.warning("voucher %s taken pending verification: %s", code, error.message)
                one = book.Taken(code, rid, None)
            taken.append(one)
        return run(replace(req, tenders=[_canonical(t) for t in req.tenders or ()],
                           vouchers=taken))
    except BaseException:
        for one in consumed:
            _give_back(platform, one)
        raise


def _canonical(tender: Tender) -> Tender:
    return tender if tender.code is None else replace(tender, code=book.voucher_code(tender.code))


def _give_back(platform: Platform, one: book.Taken) -> None:
    try:
        platform.reverse(one.code, one.request_id)
    except (PlatformUnreachable, VoucherRefused) as error:
        log.error("voucher %s was consumed for a checkout that failed and could not be given "
                  "back: %s", one.code, error.message)


def reverse_order(store: Store, platform: Platform, order_id: str, actor: str,
                  reason: str) -> int:
    """A refund of the order gives its vouchers back: each consumed one reversed on the
    platform (PlatformUnreachable if it cannot be asked: the refund waits for the link), each
    pending one never consumed. Returns how many were given back."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a refund needs a reason")
    if store.one("SELECT 1 FROM orders WHERE id = ?", (order_id,)) is None:
        raise InvalidInput(f"no order {order_id!r}")
    given = 0
    for row in book.vouchers(store, order_id=order_id):
        if row["state"] == "consumed":
            platform.reverse(row["code"], row["request_id"])
        elif row["state"] != "pending":
            continue
        book.mark_reversed(store, row["id"], actor, reason.strip())
        given += 1
    return given


def verify_pending(store: Store, platform: Platform) -> int:
    """Settle every voucher taken offline; stops at the first the platform cannot be asked
    about (PlatformUnreachable: the link is still down). Returns how many were settled."""
    settled = 0
    for row in book.vouchers(store, state="pending"):
        try:
            book.settle(store, row["id"], consume(platform, row["code"], row["request_id"],
                                                  row["tender_fen"]), None)
        except VoucherRefused as refused:
            book.settle(store, row["id"], None, refused.message)
        settled += 1
    return settled


class VoucherVerifier(ThreadWorker):
    """Verifies vouchers taken offline every `verify_every_s`; the platform still out of reach
    is the worker's last error (for /health), and the next pass tries again."""

    name = "group-buy"

    def __init__(self, store: Callable[[], Store]) -> None:
        super().__init__()
        self.store = store  # this thread's own connection, as every worker has

    def step(self, stop: threading.Event) -> float:
        store = self.store()
        settled = verify_pending(store, Platform(store.settings.group_buy))
        if settled:
            log.info("group-buy: %d vouchers taken offline settled", settled)
        return store.settings.group_buy.verify_every_s
