"""美团外卖 and 饿了么 as they push to a shop's callback URL, and 美团/大众点评's group-buy voucher
API as a shop calls it: signed as each platform signs (written here from their documentation,
apart from hub.domain.delivery, so a mistake in one shows against the other)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from .httpstandin import QuietHandler, serve


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


class GroupBuy:
    """美团/大众点评's group-buy voucher API (团购券): form posts to
    /tuangou/receipt/{prepare,consume,reverseconsume} signed with Meituan's sig (checked here
    from the platform's documentation, apart from the hub's), answered {code, msg, data} with
    prices in yuan; consume is idempotent by `requestid`, as the platform's is."""

    def __init__(self, app_key: str, secret: str) -> None:
        self.app_key, self.secret = app_key, secret
        self.deals: dict[str, tuple[str, str, str]] = {}  # code: title, market price, price
        self.consumed: dict[str, str] = {}  # code: the requestid that consumed it
        self.calls: list[tuple[str, dict[str, str]]] = []
        stand_in = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                params = dict(parse_qsl(body, keep_blank_values=True))
                url = f"http://{self.headers['Host']}{self.path}"
                self.send_json(200, stand_in.answer(url, self.path.rsplit("/", 1)[-1], params))

        self.server, self.url = serve(Handler)

    def sell(self, code: str, title: str, market_price: str, price: str) -> None:
        """A guest bought the deal on the platform: the code exists, unused."""
        self.deals[code] = (title, market_price, price)

    def answer(self, url: str, operation: str, params: dict[str, str]) -> dict[str, Any]:
        given = params.pop("sig", "")
        plain = url + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
        if given != hashlib.md5((plain + self.secret).encode()).hexdigest() or \
                params.get("app_key") != self.app_key:
            return {"code": 603, "msg": "签名验证失败"}
        self.calls.append((operation, params))
        code = params.get("receipt_code", "")
        if code not in self.deals:
            return {"code": 1008, "msg": "券码不存在"}
        title, market, price = self.deals[code]
        deal = {"receipt_code": code, "deal_id": 1, "deal_title": title,
                "deal_marketprice": market, "deal_price": price, "count": 1}
        rid = params.get("requestid", "")
        if operation == "prepare":
            return {"code": 1007, "msg": "券码已使用"} if code in self.consumed else \
                {"code": 200, "msg": "成功", "data": deal}
        if operation == "consume":
            if self.consumed.get(code, rid) != rid:
                return {"code": 1007, "msg": "券码已使用"}
            self.consumed[code] = rid
            return {"code": 200, "msg": "成功", "data": [deal]}
        if operation == "reverseconsume":
            if self.consumed.get(code) != rid:
                return {"code": 1009, "msg": "券码未验证，不能撤销"}
            del self.consumed[code]
            return {"code": 200, "msg": "成功", "data": {"receipt_code": code}}
        return {"code": 404, "msg": "no such operation"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
