"""A seeded soak of the chain (issue 15): sign-ups, edits, erasures, top-ups and checkouts
with stored value and points at random stores, with links cut and restored at random, over a
real mosquitto and HQ; then the invariants every fault test also keeps.

LAOKE_SOAK_STEPS sets its size (120 in the suite; `LAOKE_SOAK_STEPS=5000` for a long one),
LAOKE_SOAK_SEED its seed.
"""

import json
import os
import random

import pytest

from hub.domain.authority import ASSETS, release_unused_approvals, slice_left
from hub.domain.checkout import CheckoutRequest, authorise, checkout
from hub.domain.coupons import Line
from hub.domain.errors import LaokeError
from hub.domain.ledgers import adjust_points, top_up
from hub.domain.members import NewMember, add_member, erase_member, update_member
from hub.domain.replica import conflicts, feed_position
from sync.hq import HqBook, Receiver
from sync.publisher import Publisher
from tests.support.chain import make_store
from tests.support.hubproc import wait_until

STEPS = int(os.environ.get("LAOKE_SOAK_STEPS", "120"))
SEED = int(os.environ.get("LAOKE_SOAK_SEED", "15"))
STORES = ("s-a", "s-b", "s-c")


def known_at(shop, member_id):
    return shop.one("SELECT erased_at FROM members WHERE id = ?", (member_id,))


@pytest.mark.slow
def test_a_seeded_soak_keeps_every_invariant(hq_db, tmp_path, broker):
    rng = random.Random(SEED)
    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url, slice_fen=3_000, slice_points=40).start()
    shops = {sid: make_store(tmp_path, sid, broker) for sid in STORES}
    key = shops["s-a"]().settings.chain.key
    for shop in shops.values():
        shop().settings.chain.key = key
    publishers = {sid: Publisher(shop).start() for sid, shop in shops.items()}
    guests: list[str] = []
    erased: dict[str, str] = {}  # id -> name
    names: dict[str, str] = {}
    paid: list[str] = []  # idempotency keys of checkouts a till answered
    try:
        for step in range(STEPS):
            sid = rng.choice(STORES)
            shop = shops[sid]()
            live = [g for g in guests if g not in erased and known_at(shop, g) and
                    not known_at(shop, g)["erased_at"]]
            action = rng.choices(["signup", "edit", "erase", "topup", "pay", "cut", "settle"],
                                 [4, 2, 1, 3, 6, 1, 2])[0]
            if action == "signup" or not live:
                name = f"客{step:05d}"
                guest = add_member(shop, NewMember(name=name, phone=f"139{step:08d}"))
                adjust_points(shop, guest["id"], 100, "welcome", actor="soak")
                guests.append(guest["id"])
                names[guest["id"]] = name
            elif action == "edit":
                update_member(shop, rng.choice(live), {"notes": f"口味{step}"}, actor="soak")
            elif action == "erase":
                victim = rng.choice(live)
                erase_member(shop, victim, actor="soak", reason="soak")
                erased[victim] = names[victim]
            elif action == "topup":
                top_up(shop, rng.choice(live), rng.randrange(1, 20) * 1_000)
            elif action == "pay":
                stored_value = rng.choice([0, 1_000, 3_000, 8_000])
                req = CheckoutRequest(f"{sid}-{step}", [Line("套餐", 1, 8_000)],
                                      member_id=rng.choice(live), stored_value_fen=stored_value,
                                      redeem_points=0 if stored_value else rng.choice([20, 80]))
                try:
                    checkout(shop, authorise(publishers[sid], shop, req))
                    paid.append(req.idempotency_key)
                except LaokeError:
                    pass  # refused: not enough across the chain, or in this store's slice
            elif action == "settle":  # time passes: what this store did reaches HQ
                if publishers[sid].state()["state"] == "running":
                    wait_until(lambda shop=shop: shop.scalar("SELECT COUNT(*) FROM outbox") == 0,
                               timeout=60)
            elif action == "cut":
                publisher = publishers[sid]
                if publisher.state()["state"] == "running":
                    publisher.stop()
                else:
                    publishers[sid] = Publisher(shops[sid]).start()
        for sid, publisher in publishers.items():  # every link back
            if publisher.state()["state"] != "running":
                publishers[sid] = Publisher(shops[sid]).start()
        for shop in shops.values():
            release_unused_approvals(shop(), after_s=0)
        for shop in shops.values():
            wait_until(lambda shop=shop: shop().scalar("SELECT COUNT(*) FROM outbox") == 0,
                       timeout=120)
        top = book.conn.execute("SELECT MAX(hq_seq) FROM hq_events").fetchone()[0]
        for shop in shops.values():
            wait_until(lambda shop=shop: feed_position(shop()) >= top, timeout=120)
    finally:
        for publisher in publishers.values():
            publisher.stop()
        receiver.stop()

    stores = {sid: shop() for sid, shop in shops.items()}
    report = book.report()
    assert report["totals"]["orders"] == sum(
        s.scalar("SELECT COUNT(*) FROM orders") for s in stores.values()) == len(paid)
    assert tuple(book.conn.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT {book.conn.json_text('data', 'id')}) FROM hq_events "
        "WHERE type = 'order.created'").fetchone()) == (len(paid), len(paid)), \
        "every checkout at HQ exactly once"
    for s in stores.values():
        assert conflicts(s) == [], [(c["type"], c["reason"]) for c in conflicts(s)]
    assert stores["s-a"].scalar("SELECT COUNT(*) FROM points_ledger WHERE kind = 'redeem' "
                                "AND note LIKE 'hq:%'"), "points were redeemed on HQ's word"
    for table in ("points_ledger", "stored_value_ledger"):
        views = {sid: sorted(map(tuple, s.conn.execute(
            f"SELECT id, member_id, {'delta' if table == 'points_ledger' else 'amount_fen'} "
            f"FROM {table}"))) for sid, s in stores.items()}
        assert views["s-a"] == views["s-b"] == views["s-c"], f"{table}: identical everywhere"
        for s in stores.values():
            column = "delta" if table == "points_ledger" else "amount_fen"
            assert s.scalar(f"SELECT COUNT(*) FROM (SELECT member_id FROM {table} GROUP BY "
                            f"member_id HAVING SUM({column}) < 0)") == 0
        for member_id in erased:
            row = s.one("SELECT name, phone, erased_at FROM members WHERE id = ?",
                        (member_id,))
            assert row["name"] is None and row["phone"] is None and row["erased_at"]
    for name in erased.values():
        assert book.conn.execute("SELECT COUNT(*) FROM hq_events WHERE data LIKE ?",
                                 (f"%{name}%",)).fetchone()[0] == 0, name
    for sid, s in stores.items():  # HQ holds for each store what it may still spend
        for member_id in guests:
            for asset in ASSETS.values():
                held = book.conn.execute(
                    f"SELECT COALESCE(SUM({asset.key('amount')}), 0) FROM {asset.hq_holds} "
                    "WHERE member_id = ? AND store_id = ? AND open = 1",
                    (member_id, sid)).fetchone()[0]
                assert held == slice_left(s, member_id, asset), (sid, member_id, asset.name)
    assert json.loads(json.dumps(report))["totals"]["members"] == len(guests) - len(erased)
