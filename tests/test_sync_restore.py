"""A dead hub rebuilt from HQ, numbering on from HQ's watermark."""



import pytest

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import new_settings
from hub.domain.coupons import Line
from hub.domain.members import NewMember, add_member
from hub.domain.store import Store
from hub.home import home_key
from sync.hq import HqBook, Receiver
from sync.publisher import Publisher
from tests.support.chain import make_store
from tests.support.hubproc import wait_until


def test_a_dead_hub_is_rebuilt_from_hq_and_carries_on_numbering(hq_db, tmp_path, broker):
    import json
    import os
    import subprocess
    import sys

    from hub.domain.campaigns import create_campaign, run_campaign
    from hub.domain.coupons import create_template, issue_coupon
    from hub.domain.ledgers import top_up
    from hub.domain.members import erase_member, link_card
    from hub.domain.staff import add_staff
    from hub.domain.visits import check_in

    book = HqBook(hq_db)
    receiver = Receiver(book, broker.url).start()
    shop = make_store(tmp_path, "s-a", broker)
    s = shop()
    waiter = add_staff(s, "小李", "waiter", "2468")
    guests = [add_member(s, NewMember(name=f"客{n}", phone=f"1380000{n:04d}",
                                      marketing_consent=True)) for n in range(6)]
    link_card(s, guests[0]["id"], "0100ABCDEF")
    top_up(s, guests[0]["id"], 20_000, bonus_fen=2_000)
    template = create_template(s, "满100减20", "amount_off", amount_fen=2000, min_spend_fen=5000)
    coupon = issue_coupon(s, template["id"], guests[0]["id"])
    visit = check_in(s, guests[0]["id"], "A1", 2, staff_id=waiter["id"])
    checkout(s, CheckoutRequest("k-1", [Line("水煮鱼", 1, 12800), Line("米饭", 2, 300)],
                                member_id=guests[0]["id"], coupon_code=coupon["code"],
                                stored_value_fen=5000, visit_id=visit["id"]))
    for n, guest in enumerate(guests[1:4]):
        checkout(s, CheckoutRequest(f"k-{n + 2}", [Line("面", 1, 1800)], member_id=guest["id"],
                                    channel="delivery"))
    campaign = create_campaign(s, {"name": "感恩回馈", "audience": {"tiers": ["member"]},
                                   "offer": {"type": "coupon", "template_id": template["id"]},
                                   "control_pct": 30, "schedule": {"run": "once"}})
    run_campaign(s, campaign["id"])
    erase_member(s, guests[3]["id"], actor="owner", reason="asked")
    last_seq = s.scalar("SELECT MAX(seq) FROM outbox")
    publisher = Publisher(shop).start()
    wait_until(lambda: book.report()["stores"].get("s-a", {}).get("last_seq") == last_seq)
    publisher.stop()

    home = tmp_path / "replacement"
    done = subprocess.run(
        [sys.executable, "-m", "hub", "--home", str(home), "hub", "restore", "--from-hq",
         "--store-id", "s-a", "--broker", broker.url, "--chain-key", s.settings.chain.key],
        capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"store_id": "s-a", "events": last_seq,
                                       "applied_seq": last_seq, "epoch": 2}
    again = subprocess.run(
        [sys.executable, "-m", "hub", "--home", str(home), "hub", "restore", "--from-hq",
         "--store-id", "s-a", "--broker", broker.url], capture_output=True, text=True,
        env={**os.environ}, timeout=120)
    assert again.returncode == 2 and "already has data" in again.stderr

    settings = new_settings("s-a")
    settings.chain.key = s.settings.chain.key
    settings.broker.url = broker.url
    restored = Store(home / "laoke.db", settings, check_same_thread=False,
                     key=home_key(home))  # a fresh home: the rebuilt books are encrypted
    tables = {
        # An erased guest comes back as their id alone (their consent record went with them).
        "members": "id, name, phone, birthday, tier, marketing_consent, erased_at, "
                   "signed_up_by, updated_at",
        "member_cards": "*", "visits": "*", "order_lines": "*",
        "orders": "id, member_id, total_fen, discount_fen, stored_value_paid_fen, "
                  "points_earned, coupon_code, created_at, channel",
        "points_ledger": "*", "stored_value_ledger": "*", "coupon_templates": "*",
        "coupons": "*", "coupon_redemptions": "*", "campaign_targets": "*",
        "campaigns": "id, name, kind, audience, offer, control_pct, active",
        "staff": "id, name, role, active", "member_stats": "*", "dish_days": "*",
        "dish_pairs": "*", "campaign_uses": "*"}
    for table, columns in tables.items():
        query = f"SELECT {columns} FROM {table} ORDER BY 1, 2"
        assert [tuple(r) for r in restored.conn.execute(query)] == \
            [tuple(r) for r in s.conn.execute(query)], table
    assert restored.one("SELECT name, erased_at FROM members WHERE id = ?",
                        (guests[3]["id"],))["erased_at"] is not None
    from hub.domain.errors import LaokeError
    from hub.domain.staff import set_pin, staff_by_pin

    with pytest.raises(LaokeError):
        staff_by_pin(restored, "2468")  # PINs never leave the store
    set_pin(restored, waiter["id"], "1357", actor="owner")
    assert staff_by_pin(restored, "1357")["id"] == waiter["id"]

    # The next change is the one HQ expects: no gap, nothing doubled.
    add_member(restored, NewMember(name="新客", phone="13900000000"))
    assert restored.scalar("SELECT MIN(seq) FROM outbox") == last_seq + 1
    publisher = Publisher(lambda: restored).start()
    wait_until(lambda: book.report()["stores"]["s-a"]["last_seq"] == last_seq + 1)
    publisher.stop()
    receiver.stop()
    row = book.conn.execute("SELECT gap_from FROM hq_stores WHERE store_id = 's-a'").fetchone()
    assert row[0] is None
    assert book.report()["stores"]["s-a"]["members"] == 6  # seven signed up, one erased
