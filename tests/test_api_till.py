"""The till over real HTTP: live check-in events, idempotent checkout, top-ups, coupons."""

import json
import socket
import time

import httpx

from tests.support.hubproc import EventReader, signup

LINES = [{"dish": "宫保鸡丁", "qty": 2, "unit_price_fen": 4800},
         {"dish": "米饭", "qty": 2, "unit_price_fen": 300}]


def new_guest(api, phone, **extra):
    response = signup(api, phone, marketing_consent=False, **extra)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_checkin_reaches_every_tablet_at_once(shared_hub, api):
    guest = new_guest(api, "137 0000 0001", allergies=["虾"], notes="微辣, 不放花椒",
                      spice_level="mild")
    waiter = api.post("/devices", json={"name": "waiter pad", "role": "waiter"}).json()["token"]
    tablet = EventReader(shared_hub, waiter)
    with shared_hub.client(waiter) as waiter_api:
        # The guest gives their phone at the door: the tablet finds them, then seats them.
        assert waiter_api.get("/members/lookup", params={"phone": "137 0000 0001"}
                              ).status_code == 200
        seated = waiter_api.post("/checkins", json={"member_id": guest["id"], "table": "5",
                                                    "party_size": 3})
    assert seated.status_code == 201, seated.text
    assert seated.json()["member"]["phone"] == "137****0001"
    event = tablet.wait_for("checkin.created")
    assert event["data"]["table"] == "5"
    card = event["data"]["member"]
    assert card["allergies"] == ["虾"] and card["notes"] == "微辣, 不放花椒"
    assert card["spice_label"] == "微辣" and "phone" not in card
    resumed = EventReader(shared_hub, waiter, last_id=event["id"] - 1)
    assert resumed.wait_for("checkin.created")["id"] == event["id"], "resume after sleep"


def test_unauthenticated_stream_is_refused(shared_hub):
    assert httpx.get(f"{shared_hub.url}/api/v1/events", verify=shared_hub.verify).status_code == 401


def test_checkout_retry_never_charges_twice(api):
    guest = new_guest(api, "137 0000 0002")
    assert api.post(f"/members/{guest['id']}/topups",
                    json={"amount_fen": 20000, "bonus_fen": 2000}).json() == {
        "member_id": guest["id"], "stored_value_fen": 22000}
    body = {"member_id": guest["id"], "lines": LINES, "stored_value_fen": 10200}
    first = api.post("/checkouts", json=body, headers={"Idempotency-Key": "till-1-0001"})
    assert first.status_code == 201, first.text
    result = first.json()
    for key in ("order_id", "total_fen", "discount_fen", "points_earned", "points_balance",
                "stored_value_fen"):
        assert key in result
    assert result["total_fen"] == 10200 and result["stored_value_fen"] == 11800
    again = api.post("/checkouts", json=body, headers={"Idempotency-Key": "till-1-0001"})
    assert again.status_code == 200 and again.json()["order_id"] == result["order_id"]
    assert api.get(f"/members/{guest['id']}").json()["stored_value_fen"] == 11800
    assert api.post("/checkouts", json=body).status_code == 422, "the key is required"


def test_checkout_retried_after_a_dropped_connection(shared_hub, api):
    guest = new_guest(api, "137 0000 0003")
    api.post(f"/members/{guest['id']}/topups", json={"amount_fen": 10200})
    body = json.dumps({"member_id": guest["id"], "lines": LINES, "stored_value_fen": 10200})
    raw = (f"POST /api/v1/checkouts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           f"Authorization: Bearer {shared_hub.owner_token}\r\n"
           f"Idempotency-Key: dropped-1\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()
    with socket.create_connection(("127.0.0.1", shared_hub.port)) as sock:
        sock.sendall(raw)  # the tablet loses Wi-Fi before it reads the answer
    deadline = time.monotonic() + 5
    while api.get(f"/members/{guest['id']}").json()["stored_value_fen"] and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    retry = api.post("/checkouts", content=body, headers={"Idempotency-Key": "dropped-1",
                                                          "Content-Type": "application/json"})
    assert retry.status_code in (200, 201)
    orders = api.get(f"/members/{guest['id']}/visits").json()["orders"]
    assert len(orders) == 1 and orders[0]["id"] == retry.json()["order_id"]
    assert api.get(f"/members/{guest['id']}").json()["stored_value_fen"] == 0


def test_refusals_are_409_with_the_reason(api):
    guest = new_guest(api, "137 0000 0004")
    broke = api.post("/checkouts", json={"member_id": guest["id"], "lines": LINES,
                                         "stored_value_fen": 100},
                     headers={"Idempotency-Key": "broke-1"})
    assert broke.status_code == 409 and broke.json()["error"] == "insufficient_balance"
    unknown = api.post("/checkouts", json={"member_id": "ghost", "lines": LINES},
                       headers={"Idempotency-Key": "ghost-1"})
    assert unknown.status_code == 404


def test_coupons_issue_validate_and_redeem_once(api):
    guest = new_guest(api, "137 0000 0005")
    template = api.post("/coupon-templates", json={"name": "满100减20", "kind": "amount_off",
                                                   "amount_fen": 2000,
                                                   "min_spend_fen": 10000})
    assert template.status_code == 201, template.text
    coupon = api.post("/coupons", json={"template_id": template.json()["id"],
                                        "member_id": guest["id"]}).json()
    checked = api.post("/coupons/validate", json={"code": coupon["code"],
                                                  "member_id": guest["id"], "lines": LINES})
    assert checked.json()["discount_fen"] == 2000
    forged = api.post("/coupons/validate", json={"code": "A" * 18})
    assert forged.status_code == 409 and forged.json()["error"] == "coupon_forged"
    paid = api.post("/checkouts", json={"member_id": guest["id"], "lines": LINES,
                                        "coupon_code": coupon["code"]},
                    headers={"Idempotency-Key": "coupon-1"})
    assert paid.json()["discount_fen"] == 2000
    twice = api.post(f"/coupons/{coupon['code']}/redeem", json={"member_id": guest["id"],
                                                               "lines": LINES})
    assert twice.status_code == 409 and twice.json()["error"] == "coupon_used"


def test_ledgers_history_and_lists(api):
    guest = new_guest(api, "137 0000 0006", birthday="1990-01-01")
    api.post(f"/members/{guest['id']}/topups", json={"amount_fen": 5000})
    api.post("/checkouts", json={"member_id": guest["id"], "lines": LINES},
             headers={"Idempotency-Key": "hist-1"})
    points = api.get(f"/members/{guest['id']}/points").json()
    assert points["balance"] == 102 and points["entries"][0]["kind"] == "earn"
    value = api.get(f"/members/{guest['id']}/stored-value").json()
    assert value["balance_fen"] == 5000
    adjusted = api.post(f"/members/{guest['id']}/points/adjustments",
                        json={"delta": -2, "reason": "typo"})
    assert adjusted.json()["points_balance"] == 100
    for name in ("lapsed", "birthday"):
        listed = api.get(f"/segments/{name}", params={"days": 365}).json()
        assert listed["count"] == len(listed["member_ids"])
    assert api.get("/segments/nonsense").status_code == 404
    audit = api.get("/audit").json()["entries"]
    assert {"stored_value.topup", "points.adjust"} <= {e["action"] for e in audit}
