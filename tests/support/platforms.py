"""美团外卖 and 饿了么 as they push to a shop's callback URL: signed as each platform signs
(written here from their documentation, apart from hub.domain.delivery, so a mistake in one
shows against the other)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx


class Meituan:
    """Form posts to URL/api/v1/delivery/meituan/{event}, sig = md5(url?sorted k=v + secret)."""

    def __init__(self, base: str, app_id: str, secret: str, verify: Any = True) -> None:
        self.base, self.app_id, self.secret, self.verify = base, app_id, secret, verify

    def signed(self, url: str, fields: dict[str, Any], secret: str | None = None,
               timestamp: int | str | None = None) -> dict[str, str]:
        params = {k: str(v) for k, v in fields.items()}
        params.update(app_id=self.app_id, timestamp=str(timestamp or int(time.time())))
        plain = url + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["sig"] = hashlib.md5((plain + (secret or self.secret)).encode()).hexdigest()
        return params

    def push(self, event: str, fields: dict[str, Any], **signing: Any) -> httpx.Response:
        url = f"{self.base}/api/v1/delivery/meituan/{event}"
        return httpx.post(url, content=urlencode(self.signed(url, fields, **signing)),
                          headers={"Content-Type": "application/x-www-form-urlencoded"},
                          timeout=10, verify=self.verify)

    @staticmethod
    def order(order_id: str, dishes: list[tuple[str, int, str]], *, shipping_fee: str = "3.5",
              commission_fen: int = 420, ctime: int = 1_780_000_000) -> dict[str, Any]:
        """A new order as Meituan pushes it: a privacy number for the phone, amounts in yuan
        except poi_receive_detail's, which are in fen."""
        return {
            "order_id": order_id, "wm_order_id_view": order_id, "app_poi_code": "shop-1",
            "ctime": ctime, "shipping_fee": shipping_fee,
            "recipient_phone": "13812345678_1234", "recipient_name": "王(先生)",
            "recipient_address": "北京市朝阳区某路1号",
            "detail": json.dumps([{"food_name": name, "quantity": qty, "price": price,
                                   "app_food_code": ""} for name, qty, price in dishes],
                                 ensure_ascii=False),
            "poi_receive_detail": json.dumps({"foodShareFeeChargeByPoi": commission_fen}),
        }


class Eleme:
    """JSON posts to URL/api/v1/delivery/eleme: {requestId, type, appId, message, shopId,
    timestamp, userId, signature}, signature = MD5(sorted k=v joined by nothing + secret)."""

    def __init__(self, base: str, app_id: str, secret: str, verify: Any = True) -> None:
        self.base, self.app_id, self.secret, self.verify = base, app_id, secret, verify

    def signed(self, kind: int, message: dict[str, Any], *, user_id: int = 0,
               secret: str | None = None, request_id: str | None = None,
               timestamp: int | None = None) -> dict[str, Any]:
        push: dict[str, Any] = {
            "requestId": request_id or uuid.uuid4().hex, "type": kind,
            "appId": self.app_id, "message": json.dumps(message, ensure_ascii=False),
            "shopId": 1001, "timestamp": timestamp or int(time.time() * 1000),
            "userId": user_id}
        plain = "".join(f"{k}={push[k]}" for k in sorted(push))
        push["signature"] = hashlib.md5((plain + (secret or self.secret)).encode()) \
            .hexdigest().upper()
        return push

    def push(self, push: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}/api/v1/delivery/eleme", json=push, timeout=10,
                          verify=self.verify)

    @staticmethod
    def order(order_id: str, items: list[tuple[str, int, float]], *,
              created_at: str = "2026-06-01T12:00:00") -> dict[str, Any]:
        return {"id": order_id, "createdAt": created_at, "phoneList": ["13812345678,1234"],
                "address": "上海市某路2号", "deliverFee": 4.0, "serviceFee": -5.6,
                "groups": [{"name": "1号篮子", "type": "normal", "items": [
                    {"name": name, "quantity": qty, "price": price} for name, qty, price in
                    items]}]}
