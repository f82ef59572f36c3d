"""Campaigns through the running hub: preview, make, switch on, run, results, unsubscribe."""

from __future__ import annotations

import httpx
import pytest

from tests.support.hubproc import RunningHub, wait_until


@pytest.fixture
def hub(tmp_path, gateway):
    home = tmp_path / "home"
    running = RunningHub(home, env={"LAOKE_MESSAGING_WEBHOOK_URL": gateway.url,
                                    "LAOKE_MESSAGING_WEBHOOK_TOKEN": "gw-secret",
                                    "LAOKE_MESSAGING_SMS_CALLBACK_TOKEN": "cb-secret",
                                    "LAOKE_CAMPAIGNS_QUIET_START": "00:00",
                                    "LAOKE_CAMPAIGNS_QUIET_END": "00:00"})
    running.env["LAOKE_CAMPAIGNS_PUBLIC_URL"] = running.url
    yield running.start()
    running.stop()


def test_campaign_from_preview_to_results(hub, gateway):
    with hub.client() as api:
        for n, consent in enumerate((True, True, False)):
            assert api.post("/members", json={"name": f"客人{n}", "phone": f"1390000000{n}",
                                              "marketing_consent": consent}).status_code == 201
        builtins = api.get("/campaigns").json()["campaigns"]
        assert {c["kind"] for c in builtins} >= {"win_back", "birthday", "member_day"}
        preview = api.post("/segments/preview", json={"tiers": ["member"], "consent": True})
        assert preview.status_code == 200 and preview.json()["count"] == 2
        bad = api.post("/segments/preview", json={"lapsed_days": "soon"})
        assert bad.status_code == 422 and "lapsed_days" in bad.json()["message"]
        refused = api.post("/campaigns", json={"name": "x", "kind": "member_day"})
        assert refused.status_code == 422 and "schedule.run" in refused.json()["message"]

        made = api.post("/campaigns", json={
            "name": "新品尝鲜", "audience": {"tiers": ["member"]}, "control_pct": 0,
            "message_zh": "{name}，新菜上市！{unsubscribe}", "channels": ["webhook"],
            "schedule": {"run": "once"}})
        assert made.status_code == 201, made.text
        campaign_id = made.json()["id"]
        assert made.json()["active"] is False
        switched = api.patch(f"/campaigns/{campaign_id}", json={"active": True})
        assert switched.json()["active"] is True

        # The hub's scheduler runs a switched-on `once` campaign by itself and sends.
        wait_until(lambda: len(gateway.texts) == 2)
        assert api.post(f"/campaigns/{campaign_id}/run").json()["new"] == 0
        messages = api.get("/messages", params={"campaign_id": campaign_id}).json()["messages"]
        assert {m["status"] for m in messages} == {"delivered"}
        results = api.get(f"/campaigns/{campaign_id}/results").json()
        assert results["arms"]["treated"]["guests"] == 2
        assert results["messages"]["delivered"] == 2

        text = next(iter(gateway.texts.values()))["text"]
        link = text.split("退订: ")[1]
        assert link.startswith(f"{hub.url}/unsubscribe/")
        member_id = next(iter(gateway.texts.values()))["member_id"]
        mail = httpx.Client(verify=hub.verify)
        page = mail.get(link)  # what a mail scanner does: it must not unsubscribe anyone
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert api.get(f"/members/{member_id}").json()["marketing_consent"] is True
        done = mail.post(link)  # the button, or the mail client's one-click POST
        assert done.status_code == 200 and "已退订" in done.text
        assert api.get(f"/members/{member_id}").json()["marketing_consent"] is False
        assert mail.get(f"{hub.url}/unsubscribe/forged.token").status_code == 400

        assert api.post("/members", json={"name": "回信", "phone": "13900000009",
                                          "marketing_consent": True}).status_code == 201
        replies = f"{hub.url}/api/v1/messages/replies"
        gate = {"Authorization": "Bearer gw-secret"}
        sms = httpx.Client(verify=hub.verify)  # the SMS gateway relaying replies
        assert sms.post(replies, json={"from": "13900000009", "text": "TD"},
                          headers={"Authorization": "Bearer guess"}).status_code == 401
        assert sms.post(replies, json={"from": "13900000009", "text": "好的"},
                          headers=gate).json() == {"action": "none"}
        assert sms.post(replies, json={"from": "13900000009", "text": " td "},
                          headers=gate).json() == {"action": "unsubscribed"}
        assert sms.post(replies, json={"from": "13900000009", "text": "TD"},
                          headers=gate).json() == {"action": "none"}, "already out"
        assert sms.post(replies, json={"from": "12", "text": "TD"},
                          headers=gate).status_code == 422

        # Tencent pushes a reply as it does (one JSON object), with the URL's token.
        assert api.post("/members", json={"name": "腾讯", "phone": "13900000008",
                                          "marketing_consent": True}).status_code == 201
        tencent = f"{hub.url}/api/v1/sms/tencent"
        reply = {"extend": "", "mobile": "13900000008", "nationcode": "86", "sign": "老客",
                 "text": "R", "time": 1764554700}
        assert sms.post(f"{tencent}/replies", json=reply).status_code == 401
        assert sms.post(f"{tencent}/replies?token=guess", json=reply).status_code == 401
        assert sms.post(f"{tencent}/replies?token=cb-secret", json=reply).json() == \
            {"result": 0, "errmsg": "OK"}
        found = api.get("/members/lookup", params={"phone": "13900000008"}).json()
        assert found["marketing_consent"] is False
        report = [{"sid": "no-such-text", "report_status": "SUCCESS", "mobile": "13900000008",
                   "nationcode": "86", "errmsg": "DELIVRD", "description": "ok",
                   "user_receive_time": "2026-12-01 10:00:00"}]
        assert sms.post(f"{tencent}/reports?token=cb-secret", json=report).json() == \
            {"result": 0, "errmsg": "OK"}, "a report of no text here is taken, changes nothing"
        assert sms.post(f"{tencent}/other?token=cb-secret", json=report).status_code == 422
        broken = sms.post(f"{tencent}/reports?token=cb-secret", content=b"[{",
                          headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
        waiter = api.post("/devices", json={"name": "pad", "role": "waiter"}).json()["token"]
    with hub.client(waiter) as pad:
        assert pad.get("/campaigns").status_code == 403
