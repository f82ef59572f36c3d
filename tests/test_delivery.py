"""Delivery platforms' orders in the books: the generic file, the platforms' signed pushes,
one order however often it arrives, cancellations and refunds followed, dish names mapped."""

from __future__ import annotations

import hashlib
import json

import pytest

from hub.domain.delivery import (
    end_order,
    import_orders,
    map_dish,
    receive_eleme,
    receive_meituan,
    unmapped_dishes,
)
from hub.domain.errors import InvalidInput, PushRefused
from hub.domain.menu import save_dish
from tests.support.homedb import home_db
from tests.support.hubproc import RunningHub
from tests.support.platforms import Eleme, Meituan

SECRET_MT, SECRET_ELM = "mt-secret-1", "elm-secret-1"
URL = "https://shop.example/api/v1/delivery/meituan/order"


def rows(*lines):
    return [dict(zip(("platform_order_id", "created_at", "customer_id", "phone", "dish", "qty",
                      "unit_price_fen", "platform_fee_fen"), line, strict=True))
            for line in lines]


FILE = rows(("MT-1", "2026-11-25T12:00:00+08:00", "u-77", "138****5678", "宫保鸡丁", "2",
             "3800", "900"),
            ("MT-1", "2026-11-25T12:00:00+08:00", "u-77", "138****5678", "米饭", "2", "300", ""),
            ("MT-2", "2026-11-25T18:10:00", "", "13812345678_123456", "酸辣汤", "1", "2200",
             "300"))


@pytest.fixture
def secrets(settings):
    settings.delivery.meituan.app_secret = SECRET_MT
    settings.delivery.eleme.app_secret = SECRET_ELM
    return settings


def orders(store):
    return [dict(r) for r in store.conn.execute(
        "SELECT d.*, o.channel, o.total_fen, o.created_at FROM delivery_orders d "
        "JOIN orders o ON o.id = d.order_id ORDER BY d.platform_order_id")]


def test_the_generic_file_lands_once_with_fees_and_no_phone(store):
    save_dish(store, {"code": "GB01", "name": "宫保鸡丁", "price_fen": 4200}, actor="test")
    map_dish(store, "meituan", "宫保鸡丁", "GB01", actor="test")
    assert import_orders(store, "meituan", FILE) == {
        "added": 2, "unchanged": 0, "ended": 0, "refunded": 0}
    assert import_orders(store, "meituan", FILE) == {
        "added": 0, "unchanged": 2, "ended": 0, "refunded": 0}
    landed = orders(store)
    assert [(o["platform_order_id"], o["channel"], o["total_fen"], o["commission_fen"])
            for o in landed] == [("MT-1", "delivery", 8200, 900), ("MT-2", "delivery", 2200, 300)]
    assert landed[1]["created_at"] == "2026-11-25T10:10:00.000Z", "local time without offset"
    lines = store.conn.execute("SELECT dish, code, unit_price_fen FROM order_lines WHERE "
                               "order_id = ? ORDER BY line_no", (landed[0]["order_id"],))
    assert [tuple(r) for r in lines] == [("宫保鸡丁", "GB01", 3800), ("米饭", None, 300)], \
        "the platform's price stands; a mapped name takes the menu's code"
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.order'") == 2
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'order.created'") == 2
    kept = [str(tuple(r)) for table in ("outbox", "audit_log", "delivery_orders", "orders",
                                        "order_lines") for r in store.conn.execute(
        f"SELECT * FROM {table}")]
    assert not [row for row in kept if "5678" in row], \
        "neither a masked phone nor a privacy number is kept"
    assert [(d["platform"], d["name"]) for d in unmapped_dishes(store)] == [
        ("meituan", "米饭"), ("meituan", "酸辣汤")]


def test_a_bad_row_refuses_the_whole_file_naming_it(store):
    bad = FILE[:2] + rows(("MT-3", "2026-11-25T12:00:00+08:00", "", "", "酸辣汤", "0", "2200",
                           ""))
    with pytest.raises(InvalidInput, match=r"row 4: .*qty"):
        import_orders(store, "meituan", bad)
    assert orders(store) == []


def test_meituan_push_signed_once_and_again_is_one_order_then_cancelled(store, secrets, clock):
    platform = Meituan("unused", "app-1", SECRET_MT)
    now = int(clock().timestamp())
    push = platform.signed(URL, Meituan.order("MT-9", [("宫保鸡丁", 1, "38.5")]), timestamp=now)
    assert receive_meituan(store, URL, "order", push).changed is True
    assert receive_meituan(store, URL, "order", push).changed is False, "the same push again"
    again = platform.signed(URL, Meituan.order("MT-9", [("宫保鸡丁", 1, "38.5")]),
                            timestamp=now + 1)
    assert receive_meituan(store, URL, "order", again).changed is False, "the platform's retry"
    [order] = orders(store)
    assert (order["total_fen"], order["commission_fen"], order["delivery_fee_fen"]) == \
        (3850, 420, 350)
    cancel_url = URL.replace("/order", "/cancel")
    cancel = platform.signed(cancel_url, {"order_id": "MT-9", "reason_code": "1001"},
                             timestamp=now)
    assert receive_meituan(store, cancel_url, "cancel", cancel).changed is True
    [order] = orders(store)
    assert order["state"] == "cancelled" and order["ended_at"]
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.ended'") == 1
    assert end_order(store, "meituan", "MT-9", "refunded") is False, "it already ended"


def test_a_forged_stale_or_wrong_url_meituan_push_records_nothing(store, secrets, clock):
    platform = Meituan("unused", "app-1", SECRET_MT)
    now = int(clock().timestamp())
    fields = Meituan.order("MT-5", [("米饭", 1, "3")])
    before = store.scalar("SELECT COUNT(*) FROM outbox")
    for url, push in [
            (URL, platform.signed(URL, fields, secret="guessed", timestamp=now)),
            (URL, platform.signed(URL, fields, timestamp=now - 3600)),
            (URL, platform.signed(URL, fields, timestamp="nan")),
            (URL, {**platform.signed(URL, fields, timestamp=now), "shipping_fee": "0"}),
            (URL.replace("shop.example", "other.example"), platform.signed(URL, fields,
                                                                            timestamp=now))]:
        with pytest.raises(PushRefused):
            receive_meituan(store, url, "order", push)
    assert orders(store) == [] and store.scalar("SELECT COUNT(*) FROM delivery_pushes") == 0
    assert store.scalar("SELECT COUNT(*) FROM outbox") == before


def test_no_secret_configured_refuses_even_an_unsigned_push(store, clock):
    platform = Eleme("unused", "app-2", "")
    with pytest.raises(PushRefused):
        receive_eleme(store, platform.signed(10, Eleme.order("E-1", [("米饭", 1, 3)]),
                                             timestamp=int(clock().timestamp() * 1000)))


def test_eleme_order_and_refund(store, secrets, clock):
    platform = Eleme("unused", "app-2", SECRET_ELM)
    ms = int(clock().timestamp() * 1000)
    new = platform.signed(10, Eleme.order("E-7", [("酸辣汤", 2, 22.0)]), user_id=5551,
                          timestamp=ms)
    assert receive_eleme(store, new).changed is True
    assert receive_eleme(store, new).changed is False
    [order] = orders(store)
    assert (order["total_fen"], order["commission_fen"], order["delivery_fee_fen"],
            order["platform_user_id"]) == (4400, 560, 400, "5551")
    assert not receive_eleme(store, platform.signed(12, {"orderId": "E-7"}, timestamp=ms)).changed
    assert receive_eleme(store, platform.signed(33, {"orderId": "E-7"}, timestamp=ms)).changed
    assert orders(store)[0]["state"] == "refunded"
    with pytest.raises(PushRefused):
        receive_eleme(store, {**platform.signed(33, {"orderId": "E-8"}, timestamp=ms),
                              "type": 10})


def test_an_eleme_push_without_a_request_id_is_refused_not_taken_as_the_last_one(store, secrets,
                                                                                clock):
    """Ele.me's requestId is what tells a retry from a new push: two pushes without one must
    not be taken as one (the second dropped, answered ok)."""
    platform = Eleme("unused", "app-2", SECRET_ELM)
    ms = int(clock().timestamp() * 1000)

    def without_id(order_id: str) -> dict:
        push = platform.signed(10, Eleme.order(order_id, [("米饭", 1, 3.0)]), timestamp=ms)
        del push["requestId"], push["signature"]
        plain = "".join(f"{k}={push[k]}" for k in sorted(push))
        return {**push, "signature": hashlib.md5((plain + SECRET_ELM).encode()).hexdigest()
                .upper()}

    for order_id in ("E-20", "E-21"):
        with pytest.raises(InvalidInput, match="requestId"):
            receive_eleme(store, without_id(order_id))
    assert orders(store) == [] and store.scalar("SELECT COUNT(*) FROM delivery_pushes") == 0


# -- the hub: real HTTPS on loopback, the platforms posting as they do ------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    running = RunningHub(tmp_path_factory.mktemp("delivery") / "home", env={
        "LAOKE_DELIVERY_MEITUAN_APP_SECRET": SECRET_MT,
        "LAOKE_DELIVERY_ELEME_APP_SECRET": SECRET_ELM}).start()
    yield running
    running.stop()


def laoke(hub, *args):
    """The command line in this process (a second interpreter costs seconds), on the hub's
    home while the hub runs, as an owner's shell would."""
    from hub.cli import main

    main(["--home", str(hub.home), *args])


def test_pushes_over_https_answer_each_platform_and_a_forgery_401(hub, tmp_path, capsys):
    meituan = Meituan(hub.url, "app-1", SECRET_MT, verify=hub.verify)
    fields = Meituan.order("MT-100", [("宫保鸡丁", 1, "38")], ctime=1_764_560_000)
    forged = meituan.push("order", fields, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    with home_db(hub.home) as db:
        assert db.execute("SELECT COUNT(*) FROM delivery_orders").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM delivery_pushes").fetchone()[0] == 0
    for _ in range(2):
        answer = meituan.push("order", fields)
        assert answer.status_code == 200 and answer.json() == {"data": "ok"}
    eleme = Eleme(hub.url, "app-2", SECRET_ELM, verify=hub.verify)
    answer = eleme.push(eleme.signed(10, Eleme.order("E-100", [("米饭", 1, 3.0)])))
    assert answer.status_code == 200 and answer.json() == {"message": "ok"}
    assert eleme.push(eleme.signed(10, {"id": "E-101"}, secret="x")).status_code == 401
    export = tmp_path / "meituan.csv"
    export.write_text("platform_order_id,created_at,customer_id,phone,dish,qty,unit_price_fen,"
                      "platform_fee_fen\nMT-100,2025-12-01T11:33:20+08:00,,,宫保鸡丁,1,3800,0\n",
                      encoding="utf-8")
    laoke(hub, "delivery", "import", str(export), "--platform", "meituan")
    assert "0 orders added, 1 already in" in capsys.readouterr().out
    with home_db(hub.home) as db:
        assert db.execute("SELECT platform, platform_order_id FROM delivery_orders ORDER BY 1"
                          ).fetchall() == [("eleme", "E-100"), ("meituan", "MT-100")]
    laoke(hub, "delivery", "unmapped", "--json")
    assert sorted((d["platform"], d["name"]) for d in json.loads(capsys.readouterr().out)) == [
        ("eleme", "米饭"), ("meituan", "宫保鸡丁")]


def test_no_bearer_token_opens_the_push_paths_or_anything_else(hub):
    with hub.client() as owner:
        answer = owner.post("/delivery/eleme", json={"type": 10, "message": "{}"})
    assert answer.status_code == 401, "the owner's token is no platform's signature"


def test_a_hub_restored_from_hq_knows_its_platform_orders(store, tmp_path, settings, clock):
    from tests.support.replay import replayed

    import_orders(store, "meituan", FILE)
    end_order(store, "meituan", "MT-2", "cancelled")
    with replayed(store, tmp_path / "restored.db", settings, clock) as restored:
        assert import_orders(restored, "meituan", FILE) == {
            "added": 0, "unchanged": 2, "ended": 0, "refunded": 0}
        assert [(o["platform_order_id"], o["state"]) for o in orders(restored)] == [
            ("MT-1", "placed"), ("MT-2", "cancelled")]


def test_the_channels_report_splits_delivery_by_platform_and_drops_what_was_cancelled(store):
    from datetime import date

    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line
    from hub.domain.reports import report

    checkout(store, CheckoutRequest(idempotency_key="till-1",
                                    lines=[Line("水煮鱼", 1, 12800)]))
    import_orders(store, "meituan", FILE)
    import_orders(store, "eleme", rows(("E-1", "2026-11-25T13:00:00+08:00", "", "", "米饭",
                                        "3", "300", "150")))
    end_order(store, "meituan", "MT-2", "cancelled")
    figures = report(store, "channels", date(2026, 11, 25), date(2026, 11, 25))["channels"]
    assert [(c["channel"], c["platform"], c["orders"], c["revenue_fen"], c["platform_fee_fen"])
            for c in figures] == [("delivery", "eleme", 1, 900, 150),
                                  ("delivery", "meituan", 1, 8200, 900),
                                  ("dine_in", None, 1, 12800, 0)]


# -- platform guests: a claim, a person's join, an erasure -----------------------------------

def test_a_claim_joins_the_order_and_its_platform_user_to_the_member_who_enters_it(store,
                                                                                   guest):
    from hub.domain.delivery import claim, member_of
    from hub.domain.errors import ClaimTaken, NotFound
    from hub.domain.members import NewMember, add_member

    import_orders(store, "meituan", FILE)
    import_orders(store, "meituan", rows(("MT-3", "2026-11-26T12:00:00+08:00", "u-77", "",
                                          "米饭", "1", "300", "")))
    code = store.scalar("SELECT claim_code FROM delivery_orders WHERE platform_order_id = "
                        "'MT-1'")
    assert len(code) == 8
    typed = f"{code[:4].lower()}-{code[4:]}"  # as a guest types it off the slip
    assert claim(store, typed, guest["id"], actor="kiosk") == {
        "platform": "meituan", "platform_order_id": "MT-1", "member_id": guest["id"]}
    assert member_of(store, "meituan", "MT-1") == guest["id"]
    assert member_of(store, "meituan", "MT-3") == guest["id"], "the same platform user"
    assert member_of(store, "meituan", "MT-2") is None, "another guest's order"
    assert claim(store, code, guest["id"], actor="kiosk")["member_id"] == guest["id"]
    other = add_member(store, NewMember(name="李雷", phone="139 0013 9000"))
    with pytest.raises(ClaimTaken):
        claim(store, code, other["id"], actor="kiosk")
    with pytest.raises(NotFound):
        claim(store, "ZZZZZZZZ", other["id"], actor="kiosk")
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type IN ('delivery.claimed', "
                        "'delivery.joined')") == 2


def test_a_person_joins_and_unjoins_a_platform_user_audited(store, guest):
    from hub.domain.delivery import join, member_of, unjoin

    import_orders(store, "meituan", FILE)
    join(store, "meituan", "u-77", guest["id"], actor="manager")
    assert member_of(store, "meituan", "MT-1") == guest["id"]
    assert unjoin(store, "meituan", "u-77", actor="manager") is True
    assert member_of(store, "meituan", "MT-1") is None
    assert unjoin(store, "meituan", "u-77", actor="manager") is False
    assert [r[0] for r in store.conn.execute(
        "SELECT action FROM audit_log WHERE action LIKE 'delivery.%join' ORDER BY at")] == [
        "delivery.join", "delivery.unjoin"]


def test_a_meituan_push_with_an_open_uid_joins_that_users_later_orders(store, secrets, clock,
                                                                       guest):
    from hub.domain.delivery import claim, member_of

    platform = Meituan("unused", "app-1", SECRET_MT)
    now = int(clock().timestamp())
    for order_id in ("MT-31", "MT-32"):
        fields = {**Meituan.order(order_id, [("米饭", 1, "3")]), "openUid": "ou-5150"}
        receive_meituan(store, URL, "order", platform.signed(URL, fields, timestamp=now))
        if order_id == "MT-31":
            code = store.scalar("SELECT claim_code FROM delivery_orders")
            claim(store, code, guest["id"], actor="guest:kiosk")
    assert member_of(store, "meituan", "MT-32") == guest["id"], "the claim covers the user"
    receive_meituan(store, URL, "order", platform.signed(
        URL, Meituan.order("MT-33", [("米饭", 1, "3")]), timestamp=now))
    assert member_of(store, "meituan", "MT-33") is None, "without openUid: that order only"


def test_erasing_a_member_removes_their_platform_identities_here_and_in_events(store, guest):
    from hub.domain.delivery import join
    from hub.domain.members import erase_member

    import_orders(store, "meituan", FILE)
    join(store, "meituan", "u-77", guest["id"], actor="manager")
    erase_member(store, guest["id"], actor="owner")
    assert store.scalar("SELECT COUNT(*) FROM platform_identities") == 0
    assert store.scalar("SELECT COUNT(*) FROM delivery_orders WHERE platform_user_id = "
                        "'u-77'") == 0
    events = " ".join(r[0] for r in store.conn.execute("SELECT data FROM outbox"))
    assert "u-77" not in events
    assert store.scalar("SELECT COUNT(*) FROM outbox WHERE type = 'member.erased'") == 1


def test_the_kiosk_claims_an_order_over_https(hub):
    eleme = Eleme(hub.url, "app-2", SECRET_ELM, verify=hub.verify)
    assert eleme.push(eleme.signed(10, Eleme.order("E-200", [("米饭", 2, 3.0)]),
                                   user_id=9001)).status_code == 200
    with home_db(hub.home) as db:
        code, slip = db.execute(
            "SELECT d.claim_code, j.preview FROM delivery_orders d JOIN print_jobs j ON "
            "j.subject = d.order_id AND j.kind = 'receipt' WHERE d.platform_order_id = 'E-200'"
        ).fetchone()
    assert f"{code[:4]}-{code[4:]}" in slip and "饿了么" in slip, "the bag's slip carries it"
    assert "9001" not in slip and "1234" not in slip
    with hub.client() as owner:
        signed_up = owner.post("/members", json={"name": "韩梅梅", "phone": "137 0013 7000",
                                                 "marketing_consent": False})
        assert signed_up.status_code == 201, signed_up.text
        member = signed_up.json()
        kiosk = owner.post("/devices", json={"name": "门口", "role": "kiosk"}).json()["token"]
    with hub.client(kiosk) as device:
        wrong = device.post("/delivery/claims", json={"code": "00000000",
                                                      "member_id": member["id"]})
        assert wrong.status_code == 404
        done = device.post("/delivery/claims", json={"code": code, "member_id": member["id"]})
    assert done.status_code == 200, done.text
    assert done.json() == {"platform": "eleme", "platform_order_id": "E-200",
                           "member_id": member["id"]}
    with home_db(hub.home) as db:
        assert db.execute("SELECT member_id FROM platform_identities WHERE platform = 'eleme' "
                          "AND platform_user_id = '9001'").fetchone()[0] == member["id"]


def test_wrong_claim_codes_cost_the_device_its_tries_and_nobody_else(hub):
    """Five wrong codes in ten minutes and the device waits, with a 429 that says so; a
    kiosk's screen at another address, and another device, still claim; a right code takes
    back only its own try."""
    import httpx

    eleme = Eleme(hub.url, "app-2", SECRET_ELM, verify=hub.verify)
    for order in ("E-300", "E-301"):
        assert eleme.push(eleme.signed(10, Eleme.order(order, [("米饭", 1, 3.0)]),
                                       user_id=9300)).status_code == 200
    with home_db(hub.home) as db:
        codes = dict(db.execute("SELECT platform_order_id, claim_code FROM delivery_orders "
                                "WHERE platform_order_id IN ('E-300', 'E-301')").fetchall())
    with hub.client() as owner:
        member = owner.post("/members", json={"name": "周小丽", "phone": "136 0013 6000",
                                              "marketing_consent": False}).json()
        kiosk, waiter = (owner.post("/devices", json={"name": name, "role": role}).json()[
            "token"] for name, role in (("门口二号", "kiosk"), ("二楼", "waiter")))

    def screen(address):
        return httpx.Client(base_url=f"{hub.url}/api/v1", timeout=10,
                            headers={"Authorization": f"Bearer {kiosk}"},
                            transport=httpx.HTTPTransport(local_address=address,
                                                          verify=hub.verify))

    def claim_with(client, code):
        return client.post("/delivery/claims", json={"code": code, "member_id": member["id"]})

    with screen("127.0.0.2") as door:
        assert [claim_with(door, f"{n:08d}").status_code for n in range(5)] == [404] * 5
        refused = claim_with(door, codes["E-300"])  # even the right code waits now
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "too_many_attempts"
        assert "too many wrong claim codes" in refused.json()["message"]
        assert 0 < int(refused.headers["Retry-After"]) <= 600
    with screen("127.0.0.3") as other_screen:  # the same kiosk token on another screen
        assert [claim_with(other_screen, f"1{n:07d}").status_code for n in range(4)] == \
            [404] * 4
        assert claim_with(other_screen, codes["E-300"]).status_code == 200
        assert claim_with(other_screen, "19999999").status_code == 404, \
            "the right code took back its own try, not the wrong ones"
        assert claim_with(other_screen, "19999998").status_code == 429
    with hub.client(waiter) as tablet:
        assert claim_with(tablet, codes["E-301"]).status_code == 200


def test_meituans_member_card_endpoint_answers_it_and_refuses_a_forgery(hub):
    """The card's calls as Meituan makes them (tests/test_platform_members.py: the rules)."""
    with hub.client() as owner:
        signed_up = owner.post("/members", json={
            "name": "张三", "phone": "13600136100", "marketing_consent": False})
    assert signed_up.status_code == 201, signed_up.text
    member = signed_up.json()
    platform = Meituan(hub.url, "app-1", SECRET_MT, verify=hub.verify)
    forged = platform.push("member/query", {"mobile": "13600136100"}, secret="not-it")
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    with home_db(hub.home) as db:
        assert db.execute("SELECT COUNT(*) FROM platform_phones").fetchone()[0] == 0
    answer = platform.push("member/query", {"mobile": "13600136100"})
    assert answer.status_code == 200
    assert answer.json() == {"data": {"is_poi_member": True, "poi_member_id": member["id"],
                                      "card_code": "", "level_code": "member"}}
    privacy = platform.push("member/open", {"mobile": "13600136100_1234"})
    assert privacy.status_code == 422 and privacy.json()["error"] == "phone_invalid"
    assert platform.push("member/delete", {"mobile": "13600136100"}).status_code == 404


def test_the_profile_shows_one_guest_across_the_table_and_the_platforms(store, guest):
    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line
    from hub.domain.delivery import claim, join
    from hub.domain.profiles import member_profile

    checkout(store, CheckoutRequest(idempotency_key="till-1", member_id=guest["id"],
                                    lines=[Line("宫保鸡丁", 1, 4200)]))
    import_orders(store, "meituan", FILE)
    import_orders(store, "eleme", rows(("E-1", "2026-11-25T13:00:00+08:00", "e-5", "",
                                        "宫保鸡丁", "1", "4000", "")))
    join(store, "meituan", "u-77", guest["id"], actor="manager")  # MT-1 is theirs
    code = store.scalar("SELECT claim_code FROM delivery_orders WHERE platform_order_id = "
                        "'E-1'")
    claim(store, code, guest["id"], actor="tablet")
    end_order(store, "eleme", "E-1", "refunded")  # a refunded order is not how they came
    profile = member_profile(store, guest["id"])
    assert profile["channel_mix"] == [
        {"channel": "delivery", "platform": "meituan", "orders": 1},
        {"channel": "dine_in", "platform": None, "orders": 1}]
    assert profile["favourite_dishes"][0] == {"dish": "宫保鸡丁", "qty": 3}, \
        "one at the table, two from Meituan"


def test_the_order_file_may_be_xlsx_with_extra_columns(store, tmp_path):
    from openpyxl import Workbook

    from hub.domain.delivery import FILE_COLUMNS, REQUIRED_COLUMNS
    from hub.sheets import read_sheet

    book = Workbook()
    sheet = book.active
    sheet.append(["Platform_Order_ID", "created_at", "dish", "qty", "unit_price_fen",
                  "platform_fee_fen", "备注"])
    sheet.append(["E-9", "2026-11-25T12:00:00+08:00", "米饭", 2, 300, 120, "多放辣"])
    path = tmp_path / "eleme.xlsx"
    book.save(path)
    rows_read = read_sheet(path, "an order file", REQUIRED_COLUMNS, FILE_COLUMNS, 100)
    assert import_orders(store, "eleme", rows_read) == {
        "added": 1, "unchanged": 0, "ended": 0, "refunded": 0}
    assert [(o["platform_order_id"], o["total_fen"], o["commission_fen"])
            for o in orders(store)] == [("E-9", 600, 120)]
    (tmp_path / "bad.csv").write_text("platform_order_id,dish\nE-1,米饭\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no created_at, qty column"):
        read_sheet(tmp_path / "bad.csv", "an order file", REQUIRED_COLUMNS, FILE_COLUMNS, 100)


def test_pushes_are_kept_only_while_a_replay_could_pass_the_window(store, secrets, clock):
    platform = Meituan("unused", "app-1", SECRET_MT)
    now = int(clock().timestamp())
    first = platform.signed(URL, Meituan.order("MT-41", [("米饭", 1, "3")]), timestamp=now)
    assert receive_meituan(store, URL, "order", first).changed
    window = store.settings.delivery.push_window_s
    clock.advance(seconds=2 * window + 1)
    later = int(clock().timestamp())
    receive_meituan(store, URL, "order", platform.signed(
        URL, Meituan.order("MT-42", [("米饭", 1, "3")]), timestamp=later))
    assert store.scalar("SELECT COUNT(*) FROM delivery_pushes") == 1, "the first one went"
    with pytest.raises(PushRefused):  # and coming again, the window refuses it
        receive_meituan(store, URL, "order", first)
    assert store.scalar("SELECT COUNT(*) FROM delivery_orders") == 2
