"""HQ -> every store: a guest known chain-wide, coupons redeemed twice flagged, chain-wide
campaigns, settings and reports."""

import json

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from sync.hq import HqBook, Receiver
from sync.protocol import events_topic
from sync.publisher import Publisher
from tests.support.chain import hand_to_hq, hq_command, make_store
from tests.support.hubproc import wait_until


def test_a_coupon_redeemed_at_two_offline_stores_is_flagged_with_both_receipts(hq_db, tmp_path):
    import json

    book = HqBook(hq_db)

    def redeem(store, order_id):
        events = [
            {"store": store, "seq": 1, "id": f"{store}-1", "type": "order.created",
             "ts": "2026-11-25T04:30:00.000Z",
             "data": {"id": order_id, "total_fen": 5000, "discount_fen": 2000,
                      "created_at": "2026-11-25T04:30:00.000Z", "store_id": store,
                      "lines": [{"dish": "面", "qty": 1, "unit_price_fen": 5000}]}},
            {"store": store, "seq": 2, "id": f"{store}-2", "type": "coupon.redeemed",
             "ts": "2026-11-25T04:30:00.000Z",
             "data": {"code": "SAMECODE", "order_id": order_id, "store_id": store,
                      "redeemed_at": "2026-11-25T04:30:00.000Z", "discount_fen": 2000}}]
        book.apply(events_topic(store), json.dumps(
            {"schema": 1, "store": store, "events": events}).encode())

    redeem("s-a", "order-a")
    assert book.flags() == []
    redeem("s-b", "order-b")
    redeem("s-b", "order-b")  # delivered again: applied once, flagged once
    [flag] = book.flags()
    assert flag["kind"] == "coupon_redeemed_twice" and flag["subject"] == "SAMECODE"
    receipts = flag["detail"]["receipts"]
    assert [(r["store_id"], r["id"]) for r in receipts] == [("s-a", "order-a"),
                                                            ("s-b", "order-b")]
    assert receipts[1]["lines"] == [{"dish": "面", "qty": 1, "unit_price_fen": 5000}]


def test_a_guest_from_store_a_is_recognised_and_served_at_store_b(hq_db, tmp_path, broker):
    from hub.domain.coupons import create_template, issue_coupon
    from hub.domain.errors import MemberNotFound
    from hub.domain.members import erase_member, link_card, member_by_card, resolve_member
    from hub.domain.replica import conflicts

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    a, b = make_store(tmp_path, "s-a", broker), make_store(tmp_path, "s-b", broker)
    b().settings.chain.key = a().settings.chain.key  # one chain, one key
    publishers = [Publisher(a).start(), Publisher(b).start()]
    try:
        guest = add_member(a(), NewMember(name="王芳", phone="13800138000",
                                          allergies=["对虾"]))
        link_card(a(), guest["id"], "0100ABCDEF")
        checkout(a(), CheckoutRequest("a-1", [Line("包桌", 1, 50_000)], member_id=guest["id"]))
        template = create_template(a(), "减20", "amount_off", amount_fen=2000)
        coupon = issue_coupon(a(), template["id"], guest["id"])

        def known_at_b():
            try:
                row = resolve_member(b(), "13800138000")
            except MemberNotFound:
                return False
            from hub.domain.members import points_balance
            return points_balance(b(), row["id"]) == 500 and b().one(
                "SELECT 1 FROM coupons WHERE code = ?", (coupon["code"],)) is not None

        wait_until(known_at_b, timeout=30)
        assert member_by_card(b(), "0100ABCDEF")["id"] == guest["id"]
        paid = checkout(b(), CheckoutRequest("b-1", [Line("面", 2, 1800)], member_id=guest["id"],
                                             redeem_points=100, coupon_code=coupon["code"]))
        assert paid["points_discount_fen"] == 1000 and paid["coupon_discount_fen"] == 2000
        wait_until(lambda: a().one("SELECT 1 FROM coupon_redemptions WHERE code = ?",
                                   (coupon["code"],)) is not None, timeout=30)
        from hub.domain.members import points_balance

        wait_until(lambda: points_balance(a(), guest["id"]) == points_balance(b(), guest["id"]),
                   timeout=30)
        erase_member(a(), guest["id"], actor="owner", reason="asked")
        wait_until(lambda: b().scalar("SELECT erased_at FROM members WHERE id = ?",
                                      (guest["id"],)) is not None, timeout=30)
        assert b().scalar("SELECT name FROM members WHERE id = ?", (guest["id"],)) is None
        assert conflicts(a()) == [] and conflicts(b()) == []
    finally:
        for publisher in publishers:
            publisher.stop()
        receiver.stop()


def test_hq_pushes_a_chain_wide_campaign_every_store_applies_once(tmp_path):
    import json

    from hub.domain.campaigns import get_campaign, list_campaigns, run_campaign
    from hub.domain.replica import apply_page

    def hq(*args, check=True):
        return hq_command(tmp_path / "hq", "push", *args, check=check)

    template_id = hq("template", '{"name": "周年庆", "kind": "amount_off", '
                                 '"amount_fen": 3000}').stdout.strip()
    spec = {"name": "周年庆 全连锁", "audience": {"tiers": ["member"]}, "control_pct": 0,
            "offer": {"type": "coupon", "template_id": template_id},
            "schedule": {"run": "once"}, "active": True}
    campaign_id = hq("campaign", json.dumps(spec)).stdout.strip()
    refused = hq("campaign", json.dumps({**spec, "offer": {"type": "coupon",
                                                          "template_id": "nope"}}), check=False)
    assert "no coupon template 'nope'" in refused.stderr and refused.returncode == 2

    book = HqBook(tmp_path / "hq" / "hq.db")
    settings = new_settings("s-b")
    with Store(tmp_path / "b.db", settings) as shop:
        guest = add_member(shop, NewMember(name="王芳", phone="13800138000"))
        page = json.loads(book.feed("s-b", 0))
        apply_page(shop, page["events"], page["position"])
        apply_page(shop, page["events"], page["position"])  # a page read twice changes nothing
        campaign = get_campaign(shop, campaign_id)
        assert campaign["origin"] == "~hq" and campaign["active"]
        assert [c["id"] for c in list_campaigns(shop)] == [campaign_id]
        assert run_campaign(shop, campaign_id)["treated"] == 1
        code = shop.scalar("SELECT code FROM coupons WHERE member_id = ?", (guest["id"],))
        assert shop.scalar("SELECT template_id FROM coupons WHERE code = ?", (code,)) == \
            template_id
        # A change from HQ arrives in order and keeps the store's own run time.
        hq("campaign", json.dumps({**spec, "id": campaign_id, "active": False}))
        page = json.loads(book.feed("s-b", page["position"]))
        apply_page(shop, page["events"], page["position"])
        changed = get_campaign(shop, campaign_id)
        assert changed["active"] is False and changed["last_run_at"] is not None
        local_elsewhere = {**changed, "id": "made-at-store-a", "origin": "s-a"}
        apply_page(shop, [{"store": "s-a", "seq": 9, "id": "x", "type": "campaign.saved",
                           "data": local_elsewhere}], page["position"])
        assert [c["id"] for c in list_campaigns(shop)] == [campaign_id], \
            "a store's own campaigns stay at that store"


def test_chain_wide_reports_at_hq_add_up_the_stores(tmp_path):
    import json

    from hub.demo_data import generate

    home = tmp_path / "hq"
    home.mkdir()
    book = HqBook(home / "hq.db")
    shops = {}
    for n, sid in enumerate(("s-a", "s-b")):
        settings = new_settings(sid)
        shop = Store(tmp_path / f"{sid}.db", settings)
        generate(shop, members=60, days=30, seed=n)  # the history HQ never saw
        for k in range(5):
            member = add_member(shop, NewMember(name=f"客{k}", phone=f"139{n}000{k:04d}"))
            checkout(shop, CheckoutRequest(f"{sid}-{k}", [Line("水煮鱼", 1, 12800),
                                                          Line("米饭", k + 1, 300)],
                                           member_id=member["id"]))
        hand_to_hq(book, shop)
        shops[sid] = shop
    done = hq_command(home, "report", "dishes", "--from", "2026-11-01", "--json")
    chain = {d["dish"]: d["qty"] for d in json.loads(done.stdout)["dishes"]}
    assert chain == {"水煮鱼": 10, "米饭": 30}, "what HQ heard of: the synced checkouts"
    assert chain["米饭"] == sum(
        shop.scalar("SELECT SUM(qty) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                    "WHERE o.idempotency_key LIKE ? AND dish = '米饭'", (f"{sid}-%",))
        for sid, shop in shops.items())
    channels = hq_command(home, "report", "channels", "--json")
    assert json.loads(channels.stdout)["channels"] == [
        {"channel": "dine_in", "platform": None, "orders": 10,
         "revenue_fen": 10 * 12800 + 30 * 300, "platform_fee_fen": 0, "delivery_fee_fen": 0,
         "voucher_commission_fen": 0, "voucher_loss_fen": 0, "net_fen": 10 * 12800 + 30 * 300}]


def test_hq_settings_reach_every_store_live_and_outlive_a_restart(tmp_path):
    from hub.domain.replica import apply_page, conflicts

    def push(spec, check=True):
        return hq_command(tmp_path / "hq", "push", "settings", spec, check=check)

    push('{"points": {"earn_per_yuan": 2}, "campaigns": {"weekly_cap": 1}}')
    assert "HQ may not set store_id" in push('{"store_id": "x"}', check=False).stderr
    assert "earn_per_yuan" in push('{"points": {"earn_per_yuan": -1}}', check=False).stderr
    book = HqBook(tmp_path / "hq" / "hq.db")
    settings = new_settings("s-c")
    with Store(tmp_path / "c.db", settings) as shop:
        guest = add_member(shop, NewMember(name="王芳", phone="13800138000"))
        page = json.loads(book.feed("s-c", 0))
        apply_page(shop, page["events"], page["position"])
        assert shop.settings.points.earn_per_yuan == 2, "live, for the running hub"
        paid = checkout(shop, CheckoutRequest("k", [Line("面", 1, 10_000)],
                                              member_id=guest["id"]))
        assert paid["points_earned"] == 200
        assert conflicts(shop) == []
    with Store(tmp_path / "c.db", new_settings("s-c")) as again:
        assert again.settings.points.earn_per_yuan == 2, "kept across a restart"
        assert again.settings.campaigns.weekly_cap == 1


def test_hqs_chain_books_are_kept_as_it_applies_and_a_report_replays_nothing_twice(tmp_path):
    from sync.chain import ChainBooks, catch_up, open_chain
    from tests.support.chain import trade

    home = tmp_path / "hq"
    home.mkdir()
    book = HqBook(home / "hq.db")
    shops = [make_store(tmp_path, sid, type("NoBroker", (), {"url": ""}))() for sid in
             ("s-a", "s-b")]
    for prefix, shop in zip(("1", "2"), shops, strict=True):
        trade(shop, prefix, 4)
        hand_to_hq(book, shop)
    keeper = ChainBooks(home, book, every_s=0.05).start()
    try:
        with open_chain(home) as chain:
            wait_until(lambda: chain.scalar("SELECT COUNT(*) FROM orders") == 8)
            trade(shops[0], "3", 2)  # more arrives while the books are kept
            hand_to_hq(book, shops[0])
            wait_until(lambda: chain.scalar("SELECT COUNT(*) FROM orders") == 10)
    finally:
        keeper.stop()
    assert keeper.state()["replayed"] == book.conn.execute(
        "SELECT COUNT(*) FROM hq_events").fetchone()[0]
    with open_chain(home) as chain:
        assert catch_up(chain, book) == 0, "a report after them replays nothing"
        assert chain.scalar("SELECT COUNT(*) FROM orders") == 10
        assert chain.scalar("SELECT SUM(total_fen) FROM orders") == sum(
            shop.scalar("SELECT SUM(total_fen) FROM orders") for shop in shops)
