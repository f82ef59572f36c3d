"""Every role against every operation of the hub's API, generated from /openapi.json.

RULES names what each operation needs. An operation the OpenAPI document lists without a rule
here fails the first test: a new endpoint gets a rule before it ships. Then every role calls
every operation with placeholder ids and an empty body: a role without the permission must get
403 before anything else is looked at; a role with it must get past the check (to a 404 or a
422 for the placeholder input), and nothing may answer 5xx.
"""

from __future__ import annotations

import re

import httpx
import pytest

from hub.domain.devices import ROLES, may

PUBLIC = "public"  # no token needed
GATEWAY = "gateway"  # the SMS gateway's own token, never a device's
SIGNED = "signed"  # a delivery platform's signature over the push; no token opens it

RULES: dict[str, str] = {
    "GET /health": PUBLIC,
    "GET /metrics": PUBLIC,  # the figures /health answers anyone, for a chain's Prometheus
    "POST /pair": PUBLIC,
    "POST /messages/replies": GATEWAY,
    "POST /sms/aliyun/{kind}": GATEWAY,
    "POST /sms/tencent/{kind}": GATEWAY,
    "GET /wechat/callback": SIGNED,
    "POST /wechat/callback": SIGNED,
    "POST /wechat/follow-qr": "wechat.follow",
    "POST /devices": "device.manage",
    "POST /devices/pairing-codes": "device.manage",
    "GET /devices": "device.manage",
    "GET /sync/conflicts": "sync.read",
    "DELETE /devices/{device_id}": "device.manage",
    "GET /lan-devices": "device.manage",
    "POST /print/test": "device.manage",
    "POST /staff": "staff.manage",
    "GET /staff": "staff.read",
    "GET /audit": "audit.read",
    "GET /segments/{name}": "segment.read",
    "POST /segments/preview": "segment.read",
    "GET /dashboard": "segment.read",
    "POST /print/shift": "segment.read",
    "GET /reports/{name}": "report.read",
    "GET /reports/{name}/export": "export",
    "GET /campaigns": "campaign.manage",
    "POST /campaigns": "campaign.manage",
    "GET /campaigns/{campaign_id}": "campaign.manage",
    "PATCH /campaigns/{campaign_id}": "campaign.manage",
    "POST /campaigns/{campaign_id}/run": "campaign.manage",
    "GET /campaigns/{campaign_id}/results": "campaign.manage",
    "GET /campaigns/{campaign_id}/preview": "campaign.manage",
    "GET /messages": "campaign.manage",
    "POST /members": "member.create",
    "GET /members/lookup": "member.read",
    "GET /members/search": "member.read",
    "GET /members/{member_id}": "member.read",
    "GET /members/{member_id}/qr": "member.read",
    "GET /members/{member_id}/points": "member.read",
    "GET /members/{member_id}/stored-value": "member.read",
    "GET /members/{member_id}/visits": "member.read",
    "GET /members/{member_id}/coupons": "member.read",
    "PATCH /members/{member_id}": "member.update",
    "POST /members/{member_id}/cards": "card.link",
    "POST /cards/{number}/block": "card.block",
    "POST /members/{member_id}/erase": "member.erase",
    "POST /checkins": "checkin.create",
    "POST /checkouts": "checkout.create",
    "POST /members/{member_id}/topups": "stored_value.topup",
    "POST /members/{member_id}/points/adjustments": "points.adjust",
    "POST /orders/{order_id}/refunds": "stored_value.refund",
    "POST /coupons/validate": "coupon.validate",
    "GET /coupon-templates": "coupon.validate",
    "POST /coupons/{code}/redeem": "coupon.redeem",
    "POST /coupons": "coupon.issue",
    "POST /coupon-templates": "coupon_template.manage",
    "GET /qr.svg": "qr.render",
    "GET /menu": "menu.read",
    "GET /stock/levels": "stock.read",
    "GET /stock/variance": "stock.read",
    "GET /stock/purchase": "stock.read",
    "GET /stock/purchase/export": "stock.read",
    "POST /stock/deliveries": "stock.manage",
    "POST /stock/waste": "stock.manage",
    "POST /stock/counts": "stock.manage",
    "PUT /menu/dishes/{code}": "menu.manage",
    "PUT /pos/dishes": "menu.manage",
    "POST /menu/dishes/{code}/sold-out": "menu.sold_out",
    "POST /menu/dishes/{code}/portions": "menu.sold_out",
    "DELETE /menu/dishes/{code}": "menu.manage",
    "PUT /menu/combos/{name}": "menu.manage",
    "PUT /menu/sets/{code}": "menu.manage",
    "POST /display/bill": "checkout.create",
    "DELETE /display/bill": "checkout.create",
    "GET /display": "display.read",
    "POST /pos/bills": "checkout.create",
    "GET /tables": "table.read",
    "PUT /tables/{name}": "table.manage",
    "POST /tabs": "checkin.create",
    "GET /tabs/{tab_id}": "table.read",
    "POST /tabs/{tab_id}/items": "order.add",
    "POST /tabs/{tab_id}/send": "order.add",
    "POST /tabs/{tab_id}/checkout": "checkout.create",
    "POST /print/receipt": "print.receipt",
    "POST /print/coupon": "print.receipt",
    "GET /print/jobs": "print.receipt",
    "POST /print/jobs/{job_id}/cancel": "print.receipt",
    "POST /print/kitchen": "print.kitchen",
    "GET /printers": "print.kitchen",
    "GET /events": "events.read",
    "POST /shifts": "shift.open",
    "GET /shifts/current": "shift.open",
    "GET /shifts/on-duty": "member.create",
    "DELETE /shifts/{shift_id}": "shift.open",
    "GET /shifts": "staff.read",
    "POST /feedback": "feedback.create",
    "POST /feedback/signed": PUBLIC,
    "POST /feedback/{feedback_id}/apology": "coupon.issue",
    "GET /signup/offers": "member.create",
    "POST /mystery-boxes": "checkout.create",
    "GET /calls": "calls.manage",
    "POST /calls": "calls.manage",
    "GET /members/{member_id}/calls": "calls.manage",
    "POST /delivery/meituan/{event}": SIGNED,
    "POST /delivery/meituan/member/{action}": SIGNED,
    "POST /delivery/eleme": SIGNED,
    "POST /delivery/claims": "delivery.claim",
    "GET /delivery/joinable-orders": "delivery.join",
    "GET /members/{member_id}/platform-identities": "delivery.join",
    "POST /delivery/joins": "delivery.join",
    "DELETE /delivery/joins/{platform}/{platform_user_id}": "delivery.join",
    "POST /orders/{order_id}/voucher-reversals": "voucher.reverse",
    "GET /group-buy/vouchers": "report.read",
    "POST /group-buy/vouchers/{voucher_id}/resolution": "voucher.reverse",
}


@pytest.fixture(scope="module")
def tokens(shared_hub):
    with shared_hub.client() as owner:
        return {role: owner.post("/devices", json={"name": f"matrix {role}", "role": role})
                .json()["token"] for role in ROLES}


def operations(doc: dict) -> set[str]:
    return {f"{method.upper()} {path.removeprefix('/api/v1')}"
            for path, methods in doc["paths"].items() for method in methods
            if path.startswith("/api/v1/")}


def test_every_operation_has_a_rule(shared_hub):
    listed = operations(httpx.get(f"{shared_hub.url}/openapi.json", timeout=10,
                                   verify=shared_hub.verify).json())
    assert sorted(listed - set(RULES)) == [], "operations without a rule in RULES"
    assert sorted(set(RULES) - listed) == [], "rules for operations that no longer exist"


def call(hub, operation: str, token: str | None) -> httpx.Response:
    method, path = operation.split(" ", 1)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{hub.url}/api/v1{re.sub(r'{[^}]+}', 'no-such-id', path)}"
    body = {} if method in ("POST", "PUT", "PATCH") else None
    with httpx.Client(headers=headers, timeout=10, verify=hub.verify) as client, client.stream(
            method, url, json=body, headers={"Idempotency-Key": f"matrix-{operation}"}) as answer:
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            return answer  # a live stream: its status is all this test needs
        answer.read()
        return answer


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(RULES))
def test_every_role_meets_every_rule(shared_hub, tokens, role, operation):
    rule = RULES[operation]
    answer = call(shared_hub, operation, tokens[role])
    assert answer.status_code < 500, answer.text
    if rule == PUBLIC:
        assert answer.status_code not in (401, 403)
    elif rule == GATEWAY:
        assert answer.status_code in (401, 422), "a device token is not the gateway's"
    elif rule == SIGNED:
        assert answer.status_code in (401, 404), "a device token is no platform's signature"
    elif may(role, rule):
        refused = answer.status_code == 403 and answer.json().get("error") == "forbidden"
        assert answer.status_code != 401 and not refused, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "forbidden"


@pytest.mark.parametrize("operation", sorted(op for op, rule in RULES.items()
                                              if rule not in (PUBLIC, GATEWAY, SIGNED)))
def test_no_operation_answers_without_a_token(shared_hub, operation):
    assert call(shared_hub, operation, None).status_code == 401
