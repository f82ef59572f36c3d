"""Group-buy vouchers (团购券) at checkout against a stand-in of the platform's voucher API on
127.0.0.1: consumed once however often the till retries, a forged or used code refused with
nothing written, given back on a refund, taken offline and settled when the link is back."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from hub.domain.checkout import CheckoutRequest, Tender, checkout
from hub.domain.coupons import Line
from hub.domain.errors import InvalidInput, PlatformUnreachable, VoucherRefused
from hub.domain.groupbuy import request_id, vouchers
from hub.groupbuy import (
    Platform,
    VoucherVerifier,
    checkout_with_vouchers,
    reverse_order,
    verify_pending,
)
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub
from tests.support.platforms import GroupBuy

KEY, SECRET = "dp-app-1", "dp-secret-1"
CODE, OTHER = "123456789012", "998877665544"


@pytest.fixture(scope="module")
def platform() -> Iterator[GroupBuy]:
    stand_in = GroupBuy(KEY, SECRET)
    yield stand_in
    stand_in.close()


@pytest.fixture
def meituan(platform: GroupBuy) -> GroupBuy:
    platform.deals.clear()
    platform.consumed.clear()
    platform.calls.clear()
    platform.sell(CODE, "双人套餐 100 元代金券", "100.00", "88.00")
    platform.sell(OTHER, "单人午市套餐", "50", "39.9")
    return platform


@pytest.fixture
def shop(store, meituan):
    settings = store.settings.group_buy
    settings.url, settings.app_key, settings.app_secret = meituan.url, KEY, SECRET
    settings.shop_id, settings.commission_pct = "shop-uuid-1", 8.0
    return store


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def bill(key: str, code: str = CODE, voucher_fen: int = 10_000, cash_fen: int = 2_000,
         **more) -> CheckoutRequest:
    return CheckoutRequest(key, [Line("烤鸭", 1, voucher_fen + cash_fen)], tenders=[
        Tender("voucher", voucher_fen, code=code), Tender("cash", cash_fen)], **more)


def pay(store, req: CheckoutRequest, url: str | None = None):
    settings = store.settings.group_buy
    live = Platform(settings if url is None else settings.model_copy(update={"url": url}))
    return checkout_with_vouchers(store, live, req, lambda r: checkout(store, r))


def events(store, kind: str) -> list[str]:
    return [row[0] for row in store.conn.execute(
        "SELECT type FROM outbox WHERE type LIKE ? ORDER BY seq", (kind,))]


def test_a_retried_checkout_consumes_the_voucher_once(shop, meituan):
    first = pay(shop, bill("till-1"))
    again = pay(shop, bill("till-1"))
    assert again["order_id"] == first["order_id"] and again["replayed"]
    assert [op for op, _p in meituan.calls] == ["prepare", "consume"]
    assert [t["method"] for t in first["tenders"]] == ["voucher", "cash"]
    [voucher] = vouchers(shop, order_id=first["order_id"])
    assert (voucher["state"], voucher["deal_title"], voucher["face_value_fen"],
            voucher["paid_fen"], voucher["commission_fen"], voucher["tender_fen"]) == \
        ("consumed", "双人套餐 100 元代金券", 10_000, 8_800, 704, 10_000)
    assert meituan.calls[1][1]["open_shop_uuid"] == "shop-uuid-1"
    assert events(shop, "group_voucher.%") == ["group_voucher.consumed"]


@pytest.mark.parametrize("case", ["forged", "used", "bad_secret", "above_face_value"])
def test_a_voucher_the_platform_refuses_writes_nothing(shop, meituan, case):
    code, voucher_fen = {"forged": ("111122223333", 10_000), "used": (CODE, 10_000),
                         "bad_secret": (CODE, 10_000), "above_face_value": (OTHER, 6_000)}[case]
    if case == "used":
        pay(shop, bill("till-1"))
    if case == "bad_secret":
        shop.settings.group_buy.app_secret = "not-the-secret"
    orders = shop.scalar("SELECT COUNT(*) FROM orders")
    outbox = shop.scalar("SELECT COUNT(*) FROM outbox")
    with pytest.raises(VoucherRefused) as refused:
        pay(shop, bill("till-2", code, voucher_fen))
    assert {"forged": "券码不存在", "used": "already taken here", "bad_secret": "签名验证失败",
            "above_face_value": "covers 5000 fen"}[case] in refused.value.message
    assert shop.scalar("SELECT COUNT(*) FROM orders") == orders
    assert shop.scalar("SELECT COUNT(*) FROM outbox") == outbox
    assert set(meituan.consumed) == ({CODE} if case == "used" else set())
    if case == "above_face_value":
        assert [op for op, _p in meituan.calls] == ["prepare"]


def test_a_code_consumed_here_and_used_elsewhere_is_refused_by_the_platform(shop, meituan):
    meituan.consumed[CODE] = "another-shop"
    with pytest.raises(VoucherRefused, match="券码已使用"):
        pay(shop, bill("till-1"))
    assert shop.scalar("SELECT COUNT(*) FROM orders") == 0


def test_a_consume_whose_answer_was_lost_is_the_retried_checkouts_own(shop, meituan):
    meituan.consumed[CODE] = request_id("till-1", CODE)  # consumed, then the hub went down
    paid = pay(shop, bill("till-1"))
    assert vouchers(shop, order_id=paid["order_id"])[0]["state"] == "consumed"
    assert [op for op, _p in meituan.calls] == ["prepare", "consume"]


def test_a_checkout_refused_after_the_consume_gives_the_code_back(shop, meituan):
    with pytest.raises(InvalidInput, match="tenders add up"):
        pay(shop, CheckoutRequest("till-1", [Line("烤鸭", 1, 20_000)], tenders=[
            Tender("voucher", 10_000, code=CODE), Tender("cash", 500)]))
    assert CODE not in meituan.consumed
    assert [op for op, _p in meituan.calls] == ["prepare", "consume", "reverseconsume"]
    assert shop.scalar("SELECT COUNT(*) FROM group_vouchers") == 0


def test_a_refund_reverses_the_voucher_and_the_code_may_be_taken_again(shop, meituan):
    paid = pay(shop, bill("till-1"))
    assert reverse_order(shop, Platform(shop.settings.group_buy), paid["order_id"], "staff:1",
                         "菜品问题退款") == 1
    assert CODE not in meituan.consumed
    [voucher] = vouchers(shop, order_id=paid["order_id"])
    assert voucher["state"] == "reversed"
    assert events(shop, "group_voucher.%") == ["group_voucher.consumed",
                                               "group_voucher.reversed"]
    assert shop.scalar("SELECT COUNT(*) FROM audit_log WHERE action = "
                       "'group_voucher.reversed'") == 1
    assert reverse_order(shop, Platform(shop.settings.group_buy), paid["order_id"], "staff:1",
                         "again") == 0
    assert pay(shop, bill("till-2"))["order_id"] != paid["order_id"]


def test_a_refund_waits_while_the_platform_is_out_of_reach(shop, meituan):
    paid = pay(shop, bill("till-1"))
    offline = Platform(shop.settings.group_buy.model_copy(update={"url": closed_port()}))
    with pytest.raises(PlatformUnreachable):
        reverse_order(shop, offline, paid["order_id"], "staff:1", "退款")
    assert vouchers(shop, order_id=paid["order_id"])[0]["state"] == "consumed"


def test_offline_the_voucher_is_pending_then_verified_when_the_link_is_back(shop, meituan):
    paid = pay(shop, bill("till-1"), url=closed_port())
    assert paid["due_fen"] == 12_000
    [voucher] = vouchers(shop, state="pending")
    assert voucher["order_id"] == paid["order_id"] and voucher["face_value_fen"] is None
    offline = Platform(shop.settings.group_buy.model_copy(update={"url": closed_port()}))
    with pytest.raises(PlatformUnreachable):
        verify_pending(shop, offline)
    assert meituan.calls == []
    assert verify_pending(shop, Platform(shop.settings.group_buy)) == 1
    [voucher] = vouchers(shop, order_id=paid["order_id"])
    assert (voucher["state"], voucher["paid_fen"], voucher["commission_fen"]) == \
        ("consumed", 8_800, 704)
    assert meituan.consumed[CODE] == voucher["request_id"]
    assert events(shop, "group_voucher.%") == ["group_voucher.pending",
                                               "group_voucher.consumed"]
    assert verify_pending(shop, Platform(shop.settings.group_buy)) == 0


def test_a_verification_whose_answer_was_lost_is_not_flagged(shop, meituan):
    pay(shop, bill("till-1"), url=closed_port())
    [pending] = vouchers(shop, state="pending")
    meituan.consumed[CODE] = pending["request_id"]  # consumed; the answer never came back
    assert verify_pending(shop, Platform(shop.settings.group_buy)) == 1
    assert vouchers(shop, order_id=pending["order_id"])[0]["state"] == "consumed"


def test_offline_then_refused_by_the_platform_is_flagged(shop, meituan):
    paid = pay(shop, bill("till-1", code="555566667777"), url=closed_port())
    assert verify_pending(shop, Platform(shop.settings.group_buy)) == 1
    [flagged] = vouchers(shop, state="refused")
    assert flagged["order_id"] == paid["order_id"] and "券码不存在" in flagged["refusal"]
    assert shop.scalar("SELECT COUNT(*) FROM audit_log WHERE action = "
                       "'group_voucher.refused'") == 1
    assert events(shop, "group_voucher.%") == ["group_voucher.pending",
                                               "group_voucher.refused"]


def test_a_pending_voucher_refunded_is_never_consumed(shop, meituan):
    paid = pay(shop, bill("till-1"), url=closed_port())
    assert reverse_order(shop, Platform(shop.settings.group_buy), paid["order_id"], "staff:1",
                         "退款") == 1
    assert verify_pending(shop, Platform(shop.settings.group_buy)) == 0
    assert meituan.calls == []


def test_a_hub_restored_from_hq_knows_its_vouchers(shop, meituan, tmp_path, clock):
    from hub.domain.restore import restore_event
    from hub.domain.store import Store

    pay(shop, bill("till-1"))
    pay(shop, bill("till-2", code=OTHER, voucher_fen=5_000), url=closed_port())
    events = [{"type": r["type"], "data": json.loads(r["data"])}
              for r in shop.conn.execute("SELECT type, data FROM outbox ORDER BY seq")]
    with Store(tmp_path / "restored.db", shop.settings, clock) as restored:
        with restored.write():
            for event in events:
                restore_event(restored, event)
        assert [(v["code"], v["state"]) for v in vouchers(restored)] == [
            (CODE, "consumed"), (OTHER, "pending")]
        with pytest.raises(VoucherRefused, match="already taken here"):
            pay(restored, bill("till-3"))


def test_a_voucher_code_must_be_digits_and_verified(store):
    with pytest.raises(InvalidInput, match="8 to 20 digits"):
        checkout(store, bill("till-1", code="FAKE-CODE"))
    with pytest.raises(InvalidInput, match="not verified"):
        checkout(store, bill("till-1"))
    with pytest.raises(InvalidInput, match="only a voucher"):
        checkout(store, CheckoutRequest("till-1", [Line("烤鸭", 1, 100)],
                                        tenders=[Tender("cash", 100, code=CODE)]))
    assert store.scalar("SELECT COUNT(*) FROM orders") == 0


def test_a_pos_bill_takes_a_voucher_exactly_as_the_till_does(shop, meituan):
    from hub.domain.pos import PosBill, PosLine, bill_request, post_bill

    def send(bill_id, code=CODE, url=None):
        settings = shop.settings.group_buy
        live = Platform(settings if url is None else settings.model_copy(update={"url": url}))
        bill = PosBill(bill_id, [PosLine("A12", "烤鸭", 1, 12_000)], tenders=[
            Tender("voucher", 10_000, code=code), Tender("cash", 2_000)])
        return checkout_with_vouchers(shop, live, bill_request(shop, bill),
                                      lambda req: post_bill(shop, req))

    first, again = send("POS-1"), send("POS-1")
    assert again["order_id"] == first["order_id"] and again["bill_id"] == "POS-1"
    assert [operation for operation, _ in meituan.calls] == ["prepare", "consume"], \
        "the POS's retry asks the platform nothing"
    [voucher] = vouchers(shop, order_id=first["order_id"])
    assert (voucher["state"], voucher["commission_fen"]) == ("consumed", 704)
    with pytest.raises(VoucherRefused):
        send("POS-2")  # the same code on another bill
    assert shop.scalar("SELECT COUNT(*) FROM pos_bills") == 1
    offline = send("POS-3", code=OTHER, url=closed_port())
    assert vouchers(shop, order_id=offline["order_id"])[0]["state"] == "pending"


def test_the_channels_report_nets_the_vouchers_commission_out_of_takings(shop, meituan, clock):
    from hub.domain.reports import report

    pay(shop, bill("till-1"))  # consumed: the platform keeps 8% of the 88.00 paid
    pay(shop, bill("till-2", code=OTHER, voucher_fen=5_000), url=closed_port())  # pending
    day = clock().date()
    [dine_in] = report(shop, "channels", day, day)["channels"]
    assert (dine_in["orders"], dine_in["revenue_fen"], dine_in["voucher_commission_fen"],
            dine_in["net_fen"]) == (2, 19_000, 704, 19_000 - 704), \
        "a voucher pending verification has no commission yet"


def test_the_owner_settles_a_flagged_voucher_once_audited(shop, meituan, tmp_path, clock):
    from hub.domain.errors import Conflict
    from hub.domain.groupbuy import resolve
    from hub.domain.reports import report
    from hub.domain.restore import restore_event
    from hub.domain.store import Store

    pay(shop, bill("till-1", code="555566667777"), url=closed_port())
    paid = pay(shop, bill("till-2"))
    verify_pending(shop, Platform(shop.settings.group_buy))  # the platform refuses the first
    [flagged] = vouchers(shop, state="flagged")
    with pytest.raises(InvalidInput):
        resolve(shop, flagged["id"], "paid", "owner")
    resolve(shop, flagged["id"], "loss", "owner", note="客人已离开")
    assert vouchers(shop, state="flagged") == []
    day = clock().date()
    [dine_in] = report(shop, "channels", day, day)["channels"]
    lost = vouchers(shop, state="refused")[0]["tender_fen"]
    assert (dine_in["voucher_loss_fen"], dine_in["net_fen"]) == (
        lost, dine_in["revenue_fen"] - dine_in["voucher_commission_fen"] - lost), \
        "a voucher settled as a loss paid nothing: the shop's takings are less by it"
    [settled] = vouchers(shop, state="refused")
    assert (settled["resolution"], settled["resolved_by"]) == ("loss", "owner")
    assert json.loads(shop.scalar(
        "SELECT detail FROM audit_log WHERE action = 'group_voucher.resolved'")) == {
        "code": "555566667777", "resolution": "loss", "note": "客人已离开"}
    with pytest.raises(Conflict):
        resolve(shop, flagged["id"], "reverified", "owner")
    with pytest.raises(Conflict):  # a consumed one was never flagged
        resolve(shop, vouchers(shop, order_id=paid["order_id"])[0]["id"], "loss", "owner")
    events = [{"type": r["type"], "data": json.loads(r["data"])}
              for r in shop.conn.execute("SELECT type, data FROM outbox ORDER BY seq")]
    assert events[-1]["type"] == "group_voucher.resolved"
    with Store(tmp_path / "restored.db", shop.settings, clock) as restored:
        with restored.write():
            for event in events:
                restore_event(restored, event)
        assert vouchers(restored, state="flagged") == [], "HQ's copy knows it was settled"


def test_the_verifier_settles_what_was_taken_offline(shop, meituan):
    pay(shop, bill("till-1"), url=closed_port())
    verifier = VoucherVerifier(lambda: shop)
    assert verifier.step(threading.Event()) == shop.settings.group_buy.verify_every_s
    assert vouchers(shop, state="pending") == [] and CODE in meituan.consumed


# -- the hub: the till over HTTPS, the platform's stand-in on loopback -----------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory, platform):
    running = RunningHub(tmp_path_factory.mktemp("groupbuy") / "home", env={
        "LAOKE_GROUP_BUY_URL": platform.url, "LAOKE_GROUP_BUY_APP_KEY": KEY,
        "LAOKE_GROUP_BUY_APP_SECRET": SECRET, "LAOKE_GROUP_BUY_COMMISSION_PCT": "6"}).start()
    yield running
    running.stop()


def till(owner, key: str, code: str):
    return owner.post("/checkouts", headers={"Idempotency-Key": key}, json={
        "lines": [{"dish": "烤鸭", "qty": 1, "unit_price_fen": 12_000}],
        "tenders": [{"method": "voucher", "amount_fen": 10_000, "code": code},
                    {"method": "cash", "amount_fen": 2_000}]})


def test_the_till_takes_a_voucher_once_refuses_a_forgery_and_a_refund_gives_it_back(
        hub, meituan, capsys):
    with hub.client() as owner:
        first, again = till(owner, "api-1", CODE), till(owner, "api-1", CODE)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["order_id"] == first.json()["order_id"]
        assert [op for op, _p in meituan.calls] == ["prepare", "consume"]
        forged = till(owner, "api-2", "111122223333")
        assert forged.status_code == 409 and forged.json()["error"] == "voucher_refused"
        with home_db(hub.home) as db:
            assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 1
            assert db.execute("SELECT state, commission_fen FROM group_vouchers").fetchall() \
                == [("consumed", 528)]
        order_id = first.json()["order_id"]
        refund = owner.post(f"/orders/{order_id}/voucher-reversals", json={"reason": "退菜"})
        assert refund.status_code == 201 and refund.json()["reversed"] == 1
        assert CODE not in meituan.consumed
        assert owner.get("/group-buy/vouchers", params={"state": "reversed"}).json()[0][
            "order_id"] == order_id
        assert owner.get("/group-buy/vouchers").json() == []
    from hub.cli import main

    main(["--home", str(hub.home), "delivery", "vouchers", "--state", "reversed", "--json"])
    assert [v["code"] for v in json.loads(capsys.readouterr().out)] == [CODE]
    main(["--home", str(hub.home), "delivery", "vouchers"])
    assert "no flagged vouchers" in capsys.readouterr().out
