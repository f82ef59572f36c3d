"""Guests over real HTTP: sign-up, lookup in every form, profile, edits, cards, robustness."""

import pytest

from tests.support.hubproc import signup

PHONE = "138 0013 8000"


def test_health_needs_no_token(shared_hub):
    with shared_hub.client(token="") as anonymous:
        health = anonymous.get("/health").json()
    assert health["status"] == "ok" and health["version"] and health["store_id"]
    assert health["schema"].startswith("00") and "backlog" in health["sync"]


def test_the_hubs_health_as_prometheus_metrics_needs_no_token(shared_hub):
    """A chain's Prometheus scrapes /api/v1/metrics: /health's figures, no addresses."""
    from prometheus_client.parser import text_string_to_metric_families

    with shared_hub.client(token="") as anonymous:
        health = anonymous.get("/health").json()
        answer = anonymous.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples}
    info = next(labels for name, labels in samples if name == "laoke_hub_info")
    assert dict(info) == {"store": health["store_id"], "version": health["version"],
                          "schema": health["schema"]}
    assert samples[("laoke_hub_sync_backlog_events", ())] == health["sync"]["backlog"]
    assert samples[("laoke_hub_sync_conflicts", ())] == health["sync"]["conflicts"]
    workers = {dict(labels)["worker"]: value for (name, labels), value in samples.items()
               if name == "laoke_hub_worker_running"}
    assert workers == {w["name"]: int(w["state"] == "running") for w in health["workers"]}
    assert "url" not in answer.text and "tcp://" not in answer.text


def test_signup_lookup_and_profile(api):
    created = signup(api, "139 0000 0001", allergies=["对虾"], notes="微辣, 不放花椒",
                     birthday="1990-05-01")
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["phone"] == "+8613900000001" and member["consent"]["version"]
    for form in ("13900000001", "+86 139-0000-0001", "8613900000001"):
        found = api.get("/members/lookup", params={"phone": form})
        assert found.status_code == 200 and found.json()["id"] == member["id"]
    assert api.post(f"/members/{member['id']}/cards",
                    json={"number": "0100ABCDEF"}).status_code == 201
    assert api.get("/members/lookup", params={"card": "0100ABCDEF"}).json()["id"] == member["id"]
    qr = api.get(f"/members/{member['id']}/qr").json()["payload"]
    assert api.get("/members/lookup", params={"qr": qr}).json()["id"] == member["id"]
    # The last character changed for certain (a fixed "0" left one signature in 16 intact).
    tampered = api.get("/members/lookup",
                       params={"qr": qr[:-1] + ("1" if qr.endswith("0") else "0")})
    assert tampered.status_code == 422 and "signature" in tampered.json()["message"]
    profile = api.get(f"/members/{member['id']}").json()
    for key in ("allergies", "notes", "birthday", "last_visit_at", "favourite_dishes",
                "usable_coupons", "points_balance", "stored_value_fen", "tier"):
        assert key in profile
    found = api.get("/members/search", params={"q": "0001"}).json()["members"]
    assert [m["id"] for m in found] == [member["id"]]


def test_duplicates_bad_phones_and_unknowns(api):
    assert signup(api, "139 0000 0002").status_code == 201
    taken = signup(api, "+86 139-0000-0002")
    assert taken.status_code == 409 and taken.json()["error"] == "phone_taken"
    bad = signup(api, "12345")
    assert bad.status_code == 422 and "phone" in bad.json()["message"]
    assert api.get("/members/lookup", params={"phone": "13700000000"}).status_code == 404
    assert api.get("/members/lookup", params={"phone": "12"}).status_code == 422
    assert api.get("/members/lookup").status_code == 422
    assert api.get("/members/nope").status_code == 404
    assert api.patch("/members/nope", json={"notes": "x"}).status_code == 404


@pytest.mark.parametrize("content, content_type, status", [
    (b"{not json", "application/json", 400),
    (b'{"name": "x", "phone": "13900000003", "marketing_consent": true, "hack": 1}',
     "application/json", 422),
    (b'{"name": 5, "phone": "13900000003", "marketing_consent": true}', "application/json",
     422),
    (b'{"name": "x", "phone": "13900000003", "marketing_consent": "yes"}',
     "application/json", 422),
    (b'{"name": "x", "phone": "13900000003"}', "application/json", 422),
    (b"[]", "application/json", 422),
    (b"\xff\xfe", "application/json", 400),
    (b"x" * 300_000, "application/json", 413),
])
def test_bad_bodies_get_4xx_with_a_message_and_write_nothing(api, content, content_type,
                                                             status):
    before = api.get("/health").json()["sync"]["backlog"]
    response = api.post("/members", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert api.get("/health").json()["sync"]["backlog"] == before


def test_edit_taste_notes(api):
    member = signup(api, "139 0000 0004").json()
    changed = api.patch(f"/members/{member['id']}", json={"notes": "不要香菜",
                                                          "spice_level": "hot"})
    assert changed.status_code == 200 and changed.json()["spice_label"] == "特辣"
    assert api.patch(f"/members/{member['id']}", json={}).status_code == 422
    assert api.patch(f"/members/{member['id']}", json={"tier": "gold"}).status_code == 422


def test_blocked_cards_are_refused_with_the_reason(api):
    member = signup(api, "139 0000 0005").json()
    api.post(f"/members/{member['id']}/cards", json={"number": "CARD-LOST"})
    assert api.post("/cards/CARD-LOST/block", json={"reason": "丢失"}).status_code == 200
    refused = api.get("/members/lookup", params={"card": "CARD-LOST"})
    assert refused.status_code == 409 and "丢失" in refused.json()["message"]
