"""One guest across the table and the delivery platforms (issue 20): a claimed or joined
platform order is the member's order, for their figures, audiences and history alike, and
at HQ as at the store."""

from __future__ import annotations

import json
import uuid

import pytest

from hub.domain.audience import pick
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.delivery import claim, import_orders, join, unjoin
from hub.domain.members import NewMember, add_member
from hub.domain.profiles import member_profile
from hub.domain.replies import reply_of_member
from hub.domain.store import Store
from hub.sms import aliyun_pushed
from sync.chain import catch_up, open_chain
from sync.hq import HqBook
from tests.support.chain import hand_to_hq


def rows(*orders):
    """laoke's generic order file: (order id, placed at, platform user, dish, qty, fen)."""
    return [{"platform_order_id": o, "created_at": at, "customer_id": user, "phone": "",
             "dish": dish, "qty": str(qty), "unit_price_fen": str(fen), "platform_fee_fen": ""}
            for o, at, user, dish, qty, fen in orders]


def code_of(store, platform_order_id):
    return store.scalar("SELECT claim_code FROM delivery_orders WHERE platform_order_id = ?",
                        (platform_order_id,))


def members_of(store):
    """Each platform order's member id, as the orders table holds it."""
    return dict(store.conn.execute(
        "SELECT d.platform_order_id, o.member_id FROM delivery_orders d JOIN orders o "
        "ON o.id = d.order_id ORDER BY 1").fetchall())


def stats(store, member_id):
    row = store.one("SELECT s.orders, s.deliveries, s.visits, s.last_seen FROM member_stats s "
                    "JOIN members m ON m.rowid = s.member_rowid WHERE m.id = ?", (member_id,))
    return None if row is None else tuple(row)


def delivery_only(store):
    return [p.member_id for p in pick(store, {"delivery_only": True})]


def test_a_claimed_order_counts_for_the_guest_and_an_unjoin_takes_back_what_it_gave(
        store, guest, tmp_path, hq_db):
    import_orders(store, "meituan", rows(
        ("MT-1", "2026-11-20T12:00:00+08:00", "u-77", "宫保鸡丁", 2, 3800),
        ("MT-2", "2026-11-21T19:00:00+08:00", "", "酸辣汤", 1, 2200)))
    assert stats(store, guest["id"]) is None and delivery_only(store) == []

    claim(store, code_of(store, "MT-2"), guest["id"], actor="kiosk")
    assert members_of(store) == {"MT-1": None, "MT-2": guest["id"]}
    assert stats(store, guest["id"]) == (1, 1, 0, "2026-11-21T11:00:00.000Z")
    assert delivery_only(store) == [guest["id"]]
    profile = member_profile(store, guest["id"])
    assert profile["channel_mix"] == [{"channel": "delivery", "platform": "meituan",
                                       "orders": 1}]
    assert profile["last_visit_at"] is None, "an order to the door is no visit to the shop"

    join(store, "meituan", "u-77", guest["id"], actor="manager")
    import_orders(store, "meituan", rows(  # the joined user orders again: theirs as it lands
        ("MT-3", "2026-11-22T12:00:00+08:00", "u-77", "米饭", 1, 300)))
    assert members_of(store) == {"MT-1": guest["id"], "MT-2": guest["id"],
                                 "MT-3": guest["id"]}
    assert stats(store, guest["id"]) == (3, 3, 0, "2026-11-22T04:00:00.000Z")

    book = HqBook(hq_db)  # on SQLite and on PostgreSQL
    hand_to_hq(book, store)
    assert_hq_holds_what_the_store_holds(store, book, tmp_path / "hq")

    assert unjoin(store, "meituan", "u-77", actor="manager") is True
    assert members_of(store) == {"MT-1": None, "MT-2": guest["id"], "MT-3": None}, \
        "the join's orders are nobody's again; the one claimed by its code stays theirs"
    assert stats(store, guest["id"]) == (1, 1, 0, "2026-11-21T11:00:00.000Z"), \
        "last seen goes back to the order they still have"
    hand_to_hq(book, store)
    assert_hq_holds_what_the_store_holds(store, book, tmp_path / "hq")

    checkout(store, CheckoutRequest(idempotency_key="till-1", member_id=guest["id"],
                                    lines=[Line("水煮鱼", 1, 12800)]))
    assert delivery_only(store) == [], "they came to the table too"


def test_a_claim_brings_the_platform_users_other_orders_and_its_unjoin_only_those(store,
                                                                                 guest):
    other = add_member(store, NewMember(name="李雷", phone="139 0013 9000"))
    import_orders(store, "eleme", rows(
        ("E-1", "2026-11-20T12:00:00+08:00", "e-5", "米饭", 1, 300),
        ("E-2", "2026-11-21T12:00:00+08:00", "e-5", "米饭", 2, 300),
        ("E-3", "2026-11-21T12:30:00+08:00", "e-6", "米饭", 3, 300)))
    claim(store, code_of(store, "E-2"), guest["id"], actor="tablet")
    assert members_of(store) == {"E-1": guest["id"], "E-2": guest["id"], "E-3": None}
    join(store, "eleme", "e-5", other["id"], actor="manager")  # a person knows better
    assert members_of(store) == {"E-1": other["id"], "E-2": guest["id"], "E-3": None}
    assert stats(store, guest["id"])[:2] == (1, 1) and stats(store, other["id"])[:2] == (1, 1)
    unjoin(store, "eleme", "e-5", actor="manager")
    assert members_of(store) == {"E-1": None, "E-2": guest["id"], "E-3": None}
    assert stats(store, other["id"]) is None, "no order and no visit left: no figures"
    moves = [json.loads(r[0]) for r in store.conn.execute(
        "SELECT data FROM outbox WHERE type = 'order.member' ORDER BY seq")]
    e1 = store.scalar("SELECT order_id FROM delivery_orders WHERE platform_order_id = 'E-1'")
    assert [m["member_id"] for m in moves if e1 in m["order_ids"]] == [
        guest["id"], other["id"], None], "each move of E-1 went to HQ"


def assert_hq_holds_what_the_store_holds(store, book, home):
    """HQ's orders and its chain books (the store's events replayed, as a restore does) give
    every order the member the store gives it, and the same figures to the guest."""
    mine = dict(store.conn.execute("SELECT id, member_id FROM orders").fetchall())
    assert dict(book.conn.execute("SELECT id, member_id FROM hq_orders").fetchall()) == mine
    home.mkdir(exist_ok=True)
    with open_chain(home) as chain:
        catch_up(chain, book)
        assert dict(chain.conn.execute("SELECT id, member_id FROM orders").fetchall()) == mine
        figures = "SELECT m.id, s.orders, s.deliveries, s.visits, s.last_seen FROM " \
                  "member_stats s JOIN members m ON m.rowid = s.member_rowid ORDER BY m.id"
        assert chain.conn.execute(figures).fetchall() == store.conn.execute(figures).fetchall()
        assert delivery_only(chain) == delivery_only(store)


def test_orders_claimed_before_the_upgrade_become_the_guests_with_an_event_for_hq(
        tmp_path, settings, clock):
    from hub.domain.schema import STEPS

    path = tmp_path / "old.db"
    before = [name for name, _ in STEPS].index("0039_order_members")
    with Store(path, settings, clock, steps=STEPS[:before]) as old:
        guest = add_member(old, NewMember(name="王芳", phone="138 0013 8000"))
        import_orders(old, "meituan", rows(
            ("MT-1", "2026-11-20T12:00:00+08:00", "u-77", "米饭", 1, 300),
            ("MT-2", "2026-11-21T12:00:00+08:00", "u-77", "米饭", 1, 300),
            ("MT-3", "2026-11-21T12:00:00+08:00", "", "米饭", 1, 300)))
        claim(old, code_of(old, "MT-1"), guest["id"], actor="kiosk")
        with old.write():  # as the hub before this step left them: no member on the orders
            old.conn.execute("UPDATE orders SET member_id = NULL")
            old.conn.execute("DELETE FROM outbox WHERE type = 'order.member'")
        assert stats(old, guest["id"]) is None
    with Store(path, settings, clock) as upgraded:
        assert members_of(upgraded) == {"MT-1": guest["id"], "MT-2": guest["id"], "MT-3": None}
        assert stats(upgraded, guest["id"])[:2] == (2, 2)
        [event] = upgraded.conn.execute(
            "SELECT id, store_id, data FROM outbox WHERE type = 'order.member'").fetchall()
        assert uuid.UUID(event[0]).version == 7 and event[1] == "s1"
        claimed = sorted(r[0] for r in upgraded.conn.execute(
            "SELECT order_id FROM delivery_orders WHERE platform_order_id <> 'MT-3'"))
        assert json.loads(event[2]) == {"member_id": guest["id"], "order_ids": claimed}


# -- guests who moved from the table to delivery ---------------------------------------------

def moved_by_hand(orders, since, middle, until):
    """The rule worked out again in Python over what the test wrote: mostly dine-in in
    [since, middle), mostly delivery in [middle, until), cancelled orders not counted."""
    moved = set()
    for member in {o[0] for o in orders}:
        mine = [o for o in orders if o[0] == member and not o[3] and since <= o[2] < until]
        earlier = [o[1] for o in mine if o[2] < middle]
        recent = [o[1] for o in mine if o[2] >= middle]
        if earlier.count("dine_in") * 2 > len(earlier) and \
                recent.count("delivery") * 2 > len(recent):
            moved.add(member)
    return moved


def test_guests_who_moved_from_the_table_to_delivery_are_the_ones_worked_out_by_hand(
        store, clock):
    import random
    from datetime import date, datetime, timedelta

    from hub.domain.clock import to_iso
    from hub.domain.delivery import end_order
    from hub.domain.errors import InvalidInput
    from hub.domain.reports import report
    from hub.domain.segments import segment

    rng = random.Random(20)
    now = clock()
    guests = [add_member(store, NewMember(name=f"客{n}", phone=f"1380000{n:04d}"))["id"]
              for n in range(14)]
    written = []  # (member, channel, when, cancelled)
    for n, member in enumerate(guests):
        lean = n % 4  # 0: stays at the table, 1: moves to delivery, 2: mixed, 3: delivery
        for k in range(rng.randint(2, 9)):
            when = now - timedelta(days=rng.uniform(0.5, 75))
            recent = when >= now - timedelta(days=30)
            delivery = rng.random() < {0: 0.1, 1: 0.9 if recent else 0.1, 2: 0.5, 3: 0.9}[lean]
            if delivery:
                key = f"{n}-{k}"
                import_orders(store, "meituan", rows((key, when.isoformat(), f"u-{n}", "米饭",
                                                      1, 300)))
                cancelled = rng.random() < 0.15
                if cancelled:
                    end_order(store, "meituan", key, "cancelled")
                written.append((member, "delivery", to_iso(when), cancelled))
            else:
                channel = "takeaway" if rng.random() < 0.2 else "dine_in"
                clock.current = when
                checkout(store, CheckoutRequest(idempotency_key=f"t-{n}-{k}", member_id=member,
                                                channel=channel, lines=[Line("面", 1, 1800)]))
                clock.current = now
                written.append((member, channel, to_iso(when), False))
        join(store, "meituan", f"u-{n}", member, actor="manager")
    import_orders(store, "meituan", rows(  # a platform user nobody joined: no one's
        ("x-1", (now - timedelta(days=3)).isoformat(), "u-x", "米饭", 1, 300)))

    window = timedelta(days=30)
    expected = moved_by_hand(written, to_iso(now - 2 * window), to_iso(now - window),
                             to_iso(now))
    assert expected and expected != set(guests), "the data has both kinds of guest"
    chosen = {p.member_id for p in pick(store, {"moved_to_delivery_days": 30})}
    assert chosen == expected
    assert set(segment(store, "moved-to-delivery")) == expected
    with pytest.raises(InvalidInput, match="days"):
        segment(store, "moved-to-delivery", 3)

    start, end = date(2026, 10, 27), date(2026, 11, 25)
    shift = report(store, "channel_shift", start, end)
    assert shift["earlier"] == {"from": "2026-09-27", "to": "2026-10-26"}
    local = "{}T00:00:00+08:00".format  # the store's days (Asia/Shanghai)
    by_days = moved_by_hand(written, to_iso(datetime.fromisoformat(local("2026-09-27"))),
                            to_iso(datetime.fromisoformat(local("2026-10-27"))),
                            to_iso(datetime.fromisoformat(local("2026-11-26"))))
    assert by_days and {g["id"] for g in shift["moved"]} == by_days
    assert shift["count"] == len(by_days)
    for row in shift["moved"]:
        mine = [o for o in written if o[0] == row["id"] and not o[3] and
                o[2] >= to_iso(datetime.fromisoformat(local("2026-10-27")))]
        assert row["recent_orders"] == len(mine)
        assert row["recent_delivery"] == sum(o[1] == "delivery" for o in mine)

    # Each guest's channel mix over the same days, counted again from what the test wrote
    # (every delivery here is Meituan's; a cancelled one is nobody's order).
    mixes = report(store, "guest_channels", start, end)
    since, until = (to_iso(datetime.fromisoformat(local(day)))
                    for day in ("2026-10-27", "2026-11-26"))
    by_hand = {}
    for member, channel, when, cancelled in written:
        if not cancelled and since <= when < until:
            way = "meituan" if channel == "delivery" else channel
            by_hand.setdefault(member, dict.fromkeys(("dine_in", "takeaway", "delivery",
                                                      "meituan", "eleme"), 0))[way] += 1
    assert mixes["count"] == len(by_hand) and len(by_hand) > 3
    assert {g["id"]: {k: g[k] for k in ("dine_in", "takeaway", "delivery", "meituan", "eleme")}
            for g in mixes["by_guest"]} == by_hand
    assert [g["orders"] for g in mixes["by_guest"]] == sorted(
        (sum(ways.values()) for ways in by_hand.values()), reverse=True)
    kinds = ["+".join(k for k, n in ways.items() if n) for ways in by_hand.values()]
    assert mixes["mixes"] == {kind: kinds.count(kind) for kind in set(kinds)}
    assert "meituan" in mixes["mixes"] and any("dine_in+" in k for k in mixes["mixes"]), \
        "delivery-only guests and guests who come both ways are both there"


def test_a_guest_claims_their_order_by_texting_the_bags_code_back(store, guest):
    """The slip's code, texted back to the shop from the guest's own phone (Alibaba's SmsUp
    push, as the provider sends it), claims the order and its platform user, as the code
    typed at the kiosk does; a stranger's number, someone else's code or a code nobody holds
    claims nothing, and the push is still answered."""
    other = add_member(store, NewMember(name="李雷", phone="13900139000"))
    import_orders(store, "meituan", rows(
        ("MT-1", "2026-11-20T12:00:00+08:00", "u-77", "宫保鸡丁", 2, 3800),
        ("MT-2", "2026-11-21T19:00:00+08:00", "u-88", "酸辣汤", 1, 2200)))
    code = code_of(store, "MT-1")

    def texted(phone, content):
        return aliyun_pushed(store, "replies", [{"phone_number": phone, "content": content,
                                                 "sign_name": "老客小馆", "sequence_id": 1}])

    assert texted("13700137000", code) == 0, "no member has this number"
    assert texted("13800138000", "ZZZZZZZZ") == 0, "a code no order has"
    assert texted("13800138000", f" {code[:4].lower()}-{code[4:]} ") == 1
    assert members_of(store) == {"MT-1": guest["id"], "MT-2": None}
    assert store.scalar("SELECT member_id FROM platform_identities WHERE platform_user_id = "
                        "'u-77'") == guest["id"], "their next orders are theirs too"
    assert texted("13800138000", code) == 1, "the same guest again: still theirs"
    assert texted("13900139000", code) == 0, "the code was the first guest's"
    assert members_of(store) == {"MT-1": guest["id"], "MT-2": None}
    assert store.scalar("SELECT COUNT(*) FROM audit_log WHERE actor = 'guest:sms-reply'") == 1
    assert reply_of_member(store, other["id"], code_of(store, "MT-2")) == "claimed", \
        "a code answered to a text HQ sent for this store claims the same way"
    assert members_of(store) == {"MT-1": guest["id"], "MT-2": other["id"]}
