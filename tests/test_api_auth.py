"""Pairing, revocation, staff PINs and the role matrix, over real HTTP."""

import httpx
import pytest

from hub.domain.devices import ROLES, may
from hub.tls import pair_link

LINES = [{"dish": "面", "qty": 1, "unit_price_fen": 1800}]


@pytest.fixture(scope="module")
def world(shared_hub):
    """A member, an order and a device of every role on the shared hub."""
    with shared_hub.client() as owner:
        member = owner.post("/members", json={"name": "测试", "phone": "136 0000 0001",
                                              "marketing_consent": True}).json()
        owner.post(f"/members/{member['id']}/topups", json={"amount_fen": 100_000})
        order = owner.post("/checkouts", json={"member_id": member["id"], "lines": LINES,
                                               "stored_value_fen": 1800},
                           headers={"Idempotency-Key": "world-1"}).json()
        owner.post("/checkins", json={"member_id": member["id"], "table": "1", "party_size": 1})
        template = owner.post("/coupon-templates", json={
            "name": "减1", "kind": "amount_off", "amount_fen": 100}).json()
        tokens = {role: owner.post("/devices", json={"name": f"{role} device", "role": role})
                  .json()["token"] for role in ROLES}
    # The guest gives their phone at the waiter's table: that tablet serves them now, so it
    # may read them (issue 16: a waiter reads only the guests they serve; issue 19's shifts).
    with shared_hub.client(tokens["waiter"]) as waiter:
        assert waiter.get("/members/lookup", params={"phone": "13600000001"}).status_code == 200
    return {"member": member["id"], "order": order["order_id"], "template": template["id"],
            "tokens": tokens}


# (method, path, json body, permission); {m} member, {o} order, {t} template
SENSITIVE = [
    ("GET", "/members/{m}", None, "member.read"),
    ("GET", "/members/search?q=136", None, "member.read"),
    ("POST", "/members", {"name": "新", "phone": "13600000099", "marketing_consent": False},
     "member.create"),
    ("PATCH", "/members/{m}", {"notes": "微辣"}, "member.update"),
    ("POST", "/checkins", {"member_id": "{m}", "table": "1", "party_size": 2},
     "checkin.create"),
    ("POST", "/checkouts", {"member_id": "{m}", "lines": LINES}, "checkout.create"),
    ("POST", "/members/{m}/topups", {"amount_fen": 100}, "stored_value.topup"),
    ("POST", "/members/{m}/points/adjustments", {"delta": 1, "reason": "test"},
     "points.adjust"),
    ("POST", "/orders/{o}/refunds", {"amount_fen": 1, "reason": "test"},
     "stored_value.refund"),
    ("POST", "/members/{m}/cards", {"number": "RM-{role}"}, "card.link"),
    ("POST", "/cards/NO-SUCH/block", {"reason": "lost"}, "card.block"),
    ("POST", "/coupons", {"template_id": "{t}"}, "coupon.issue"),
    ("POST", "/coupon-templates", {"name": "x", "kind": "amount_off", "amount_fen": 1},
     "coupon_template.manage"),
    ("GET", "/segments/lapsed", None, "segment.read"),
    ("POST", "/members/no-such-member/erase", {"reason": "test"}, "member.erase"),
    ("GET", "/devices", None, "device.manage"),
    ("POST", "/devices/pairing-codes", {"role": "waiter"}, "device.manage"),
    ("GET", "/audit", None, "audit.read"),
    ("POST", "/staff", {"name": "x", "role": "waiter", "pin": "{pin}"}, "staff.manage"),
    ("GET", "/staff", None, "staff.read"),
    ("GET", "/lan-devices", None, "device.manage"),
    ("GET", "/dashboard", None, "segment.read"),
    ("GET", "/reports/dishes", None, "report.read"),
]


def fill(value, world, role):
    if isinstance(value, str):
        return (value.replace("{m}", world["member"]).replace("{o}", world["order"])
                .replace("{t}", world["template"]).replace("{role}", role)
                .replace("{pin}", str(700000 + ROLES.index(role))))
    if isinstance(value, dict):
        return {k: fill(v, world, role) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, world, role) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, path, body, permission", SENSITIVE,
                         ids=[f"{m} {p}" for m, p, _, _ in SENSITIVE])
def test_role_matrix(shared_hub, world, role, method, path, body, permission):
    with shared_hub.client(world["tokens"][role]) as api:
        response = api.request(method, fill(path, world, role), json=fill(body, world, role),
                               headers={"Idempotency-Key": f"matrix-{role}-{path}"})
    if may(role, permission):
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "forbidden"


def test_unpaired_and_unknown_tokens_get_401(shared_hub, world):
    for token in ("", "lk_not-a-token"):
        with shared_hub.client(token) as api:
            response = api.get(f"/members/{world['member']}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_waiters_see_masked_phones(shared_hub, world):
    with shared_hub.client(world["tokens"]["waiter"]) as waiter:
        assert waiter.get(f"/members/{world['member']}").json()["phone"] == "136****0001"
        found = waiter.get("/members/search", params={"q": "0001"}).json()["members"]
        assert all("****" in m["phone"] for m in found)
        assert waiter.patch(f"/members/{world['member']}",
                            json={"phone": "13600000002"}).status_code == 403
    with shared_hub.client(world["tokens"]["cashier"]) as cashier:
        assert cashier.get(f"/members/{world['member']}").json()["phone"] == "+8613600000001"


def test_pairing_with_a_code_then_revoking(shared_hub):
    with shared_hub.client() as owner:
        code = owner.post("/devices/pairing-codes", json={"role": "waiter"}).json()
        assert len(code["code"]) == 6
        assert code["pair_url"] == pair_link(shared_hub.url, code["code"], shared_hub.pin)
        with shared_hub.client(token="") as tablet:
            paired = tablet.post("/pair", json={"code": code["code"], "name": "iPad 2"})
            assert paired.status_code == 201
            again = tablet.post("/pair", json={"code": code["code"], "name": "thief"})
            assert again.status_code == 409, "a code pairs once"
        token, device = paired.json()["token"], paired.json()["device"]
        assert device["role"] == "waiter" and device["name"] == "iPad 2"
        with shared_hub.client(token) as tablet:
            assert tablet.get("/members/search", params={"q": "0001"}).status_code == 200
        owner.delete(f"/devices/{device['id']}")
        with shared_hub.client(token) as tablet:
            assert tablet.get("/members/search", params={"q": "0001"}).status_code == 401
        listed = owner.get("/devices").json()["devices"]
        assert any(d["id"] == device["id"] and d["revoked_at"] for d in listed)


def test_a_pairing_link_pairs_the_browser(shared_hub):
    with shared_hub.client() as owner:
        added = owner.post("/devices", json={"name": "door kiosk", "role": "kiosk",
                                              "pair_link": True}).json()
    browser = httpx.Client(base_url=shared_hub.url, follow_redirects=False,
                           verify=shared_hub.verify)
    landed = browser.get(added["pair_url"].replace(added["pair_url"].split("/pair")[0], ""))
    assert landed.status_code == 303 and landed.headers["location"] == "/kiosk"
    cookie = landed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie, "never sent over plain HTTP"
    signup = browser.post("/api/v1/members", json={"name": "自助", "phone": "13600000077",
                                                   "marketing_consent": False})
    assert signup.status_code == 201, signup.text
    assert set(signup.json()) == {"id", "name", "qr", "welcome_slip"}, "nothing else"
    assert browser.get(f"/api/v1/members/{signup.json()['id']}").status_code == 403


def test_pairing_guesses_are_rate_limited(shared_hub):
    with shared_hub.client(token="") as stranger:
        statuses = [stranger.post("/pair", json={"code": f"{n:06d}"}).status_code
                    for n in range(12)]
    first_refusal = statuses.index(429)  # ten failures a minute from one address, at most
    assert 0 < first_refusal <= 10 and set(statuses[:first_refusal]) == {409}
    assert set(statuses[first_refusal:]) == {429}


def test_staff_pins_attribute_and_are_rate_limited(shared_hub, world):
    with shared_hub.client() as owner:
        owner.post("/staff", json={"name": "收银 小李", "role": "cashier", "pin": "4321"})
        assert owner.post("/staff", json={"name": "dup", "role": "cashier",
                                          "pin": "4321"}).status_code == 422
    with shared_hub.client(world["tokens"]["cashier"], **{"X-Staff-Pin": "4321"}) as till:
        topped = till.post(f"/members/{world['member']}/topups", json={"amount_fen": 1})
        assert topped.status_code == 201
    with shared_hub.client() as owner:
        entry = owner.get("/audit", params={"limit": 5}).json()["entries"][0]
        assert entry["action"] == "stored_value.topup" and "staff:" in entry["actor"]
    with shared_hub.client(world["tokens"]["waiter"]) as waiter:
        statuses = [waiter.get(f"/members/{world['member']}",
                               headers={"X-Staff-Pin": f"{n:04d}"}).status_code
                    for n in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
