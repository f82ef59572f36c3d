"""Personal words in campaign messages (favourite dish, last visit, tier, points, the coupon's
value and expiry, the store) and the preview over a sample of the audience: on a real
store, and through `laoke campaign preview` as a user runs it."""

from __future__ import annotations

import json
import tomllib
from datetime import timedelta

import pytest
import tomli_w
from click.testing import CliRunner

from hub.cli import cli
from hub.domain.campaigns import create_campaign, preview_campaign
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import SmsTemplate
from hub.domain.coupons import Line, create_template
from hub.domain.errors import InvalidInput
from hub.domain.members import NewMember, add_member, points_balance
from hub.domain.outreach import check_template

WORDING = ("亲爱的{name}，{store}想您了！您上次{last_visit}来，最爱的{dish}还在。您是{tier}，"
           "有{points}积分，送您{offer}，{until}前有效。回T退订")


def regular(store, clock):
    """王芳 came twice and loves 酸汤肥牛; 李雷 joined and never came."""
    a = add_member(store, NewMember(name="王芳", phone="13800138000", marketing_consent=True))
    add_member(store, NewMember(name="李雷", phone="13900139000", marketing_consent=True))
    for key, lines in (("k1", [Line("酸汤肥牛", 2, 6800), Line("米饭", 3, 300)]),
                       ("k2", [Line("酸汤肥牛", 1, 6800), Line("蒜蓉西兰花", 1, 2800)])):
        checkout(store, CheckoutRequest(idempotency_key=key, lines=lines, member_id=a["id"]))
        clock.advance(days=3)
    return a


def campaign(store, channels=("sms",)):
    template = create_template(store, "想您券", "amount_off", amount_fen=3000, valid_days=14)
    return create_campaign(store, {
        "name": "想您了", "audience": {}, "control_pct": 0,
        "offer": {"type": "coupon", "template_id": template["id"]}, "message_zh": WORDING,
        "channels": list(channels), "schedule": {"run": "once"}})


def test_the_preview_shows_each_guests_own_words_and_writes_nothing(store, clock):
    sms = store.settings.messaging.sms
    sms.provider, sms.sign_name = "aliyun", "老客小馆"
    sms.templates = [SmsTemplate(code="SMS_900001", text=WORDING)]
    a = regular(store, clock)
    made = campaign(store, channels=("sms", "receipt"))
    counts = {t: store.scalar(f"SELECT COUNT(*) FROM {t}") for t in ("coupons", "messages")}
    shown = preview_campaign(store, made["id"], sample=5)
    assert counts == {t: store.scalar(f"SELECT COUNT(*) FROM {t}") for t in counts}
    assert shown["count"] == 2
    first = {(m["member_id"], m["channel"]): m for m in shown["messages"]}
    until = (clock.current + timedelta(days=14)).strftime("%Y-%m-%d")
    last = (clock.current - timedelta(days=3)).strftime("%Y-%m-%d")
    points = points_balance(store, a["id"])
    assert points > 0
    text = first[(a["id"], "sms")]["text"]
    assert text == (f"【老客小馆】亲爱的王芳，老客小馆想您了！您上次{last}来，最爱的酸汤肥牛还在。"
                    f"您是普通会员，有{points}积分，送您30.00元，{until}前有效。回T退订")
    assert first[(a["id"], "sms")]["template"] == "SMS_900001"
    assert first[(a["id"], "sms")]["params"]["dish"] == "酸汤肥牛"
    assert first[(a["id"], "receipt")]["text"] == text.removeprefix("【老客小馆】")
    assert first[(a["id"], "sms")]["status"] == "queued"
    assert preview_campaign(store, made["id"], sample=1)["messages"][0]["member_id"] == a["id"]
    with pytest.raises(InvalidInput, match="sample"):
        preview_campaign(store, made["id"], sample=51)


def test_unknown_placeholders_still_name_the_known_ones():
    with pytest.raises(InvalidInput, match="dish, last_visit, tier, points"):
        check_template("{favourite}", "message_zh")


def laoke(home, *args):
    """The command in this process (a fresh interpreter per call costs seconds here)."""
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_laoke_campaign_preview_prints_the_exact_text(tmp_path):
    laoke(tmp_path, "member", "add", "--name", "王芳", "--phone", "13800138000",
          "--marketing-consent")
    config = tmp_path / "laoke.toml"
    settings = tomllib.loads(config.read_text(encoding="utf-8"))
    settings["messaging"]["sms"].update(provider="tencent", sign_name="老客小馆", templates=[
        {"code": "2100001", "text": "{name}，{store}想您了，拒收请回复R"}])
    config.write_text(tomli_w.dumps(settings), encoding="utf-8")
    made = json.loads(laoke(tmp_path, "campaign", "create", json.dumps({
        "name": "想您了", "audience": {}, "message_zh": "{name}，{store}想您了，拒收请回复R",
        "channels": ["sms"], "schedule": {"run": "once"}}), "--json").stdout)
    out = laoke(tmp_path, "campaign", "preview", made["id"]).stdout
    assert "【老客小馆】王芳，老客小馆想您了，拒收请回复R" in out
    assert 'template 2100001 {"name": "王芳", "store": "老客小馆"}' in out
    shown = json.loads(laoke(tmp_path, "campaign", "preview", made["id"], "--json").stdout)
    assert shown["count"] == 1 and shown["messages"][0]["params"] == {"name": "王芳",
                                                                      "store": "老客小馆"}
