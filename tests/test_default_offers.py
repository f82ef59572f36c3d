"""The welcome coupon and the birthday dessert every store comes with: off and without a
value on a fresh store, on once the owner sets it (from `laoke offers`), given to a new
member and to a guest whose birthday is coming, and the change reaching HQ's books, another
store and a restore as a template update."""

from __future__ import annotations

import json

import pytest

from hub.domain.campaigns import get_campaign, install_builtins, run_campaign
from hub.domain.config import new_settings
from hub.domain.errors import InvalidInput
from hub.domain.members import NewMember, add_member
from hub.domain.offers import (
    default_offers,
    install_default_offers,
    set_default_offer,
    switch_off_default_offer,
    welcome_template,
)
from hub.domain.replica import apply_page
from hub.domain.restore import restore_page
from hub.domain.signup import signup_offers
from hub.domain.store import Store
from printer.slips import print_welcome
from sync.chain import catch_up, open_chain
from sync.hq import HqBook
from tests.support.chain import hand_to_hq


@pytest.fixture
def fresh(store):
    install_builtins(store)
    install_default_offers(store)
    return store


def signup(store, phone, birthday=None):
    member = add_member(store, NewMember(name="新客", phone=phone, birthday=birthday,
                                         marketing_consent=True))
    job = print_welcome(store, member["id"])
    return member, store.scalar("SELECT coupon_code FROM print_jobs WHERE id = ?",
                                (job["id"],))


def test_a_fresh_store_has_both_offers_switched_off_and_gives_neither(fresh):
    offers = {o["offer"]: o for o in default_offers(fresh)}
    assert set(offers) == {"welcome", "birthday"}
    assert not offers["welcome"]["on"] and not offers["birthday"]["on"]
    assert offers["welcome"]["template"]["amount_fen"] == 0
    assert offers["birthday"]["template"]["dish"] is None
    assert not get_campaign(fresh, offers["birthday"]["campaign_id"])["active"]
    assert welcome_template(fresh) is None and signup_offers(fresh)["welcome"] is None
    assert signup(fresh, "13800138000")[1] is None
    assert install_default_offers(fresh) == 0, "installed once"


def test_the_welcome_coupon_switched_on_goes_to_each_new_member(fresh):
    with pytest.raises(InvalidInput):
        set_default_offer(fresh, "welcome", dish="长寿面")
    with pytest.raises(InvalidInput):
        set_default_offer(fresh, "welcome", amount_fen=0)
    assert not default_offers(fresh)[0]["on"], "a refused value changes nothing"

    offer = set_default_offer(fresh, "welcome", amount_fen=2000, actor="owner")
    assert offer["on"] and offer["template"]["amount_fen"] == 2000
    assert signup_offers(fresh)["welcome"]["headline"]["zh"] == "注册就送20.00元无门槛券"
    member, code = signup(fresh, "13800138000")
    coupon = fresh.one("SELECT * FROM coupons WHERE code = ?", (code,))
    assert coupon["member_id"] == member["id"]
    assert coupon["template_id"] == offer["template"]["id"]

    switch_off_default_offer(fresh, "welcome")
    assert signup(fresh, "13900139000")[1] is None
    assert fresh.one("SELECT 1 FROM coupons WHERE code = ?", (code,)) is not None


def test_the_birthday_dessert_switched_on_goes_to_a_guest_whose_birthday_is_coming(fresh):
    # The test clock is 2026-11-25: one birthday in three days, one in a month.
    soon = add_member(fresh, NewMember(name="寿星", phone="13800138000",
                                       birthday="1990-11-28", marketing_consent=True))
    add_member(fresh, NewMember(name="下月", phone="13900139000", birthday="1990-12-25",
                                marketing_consent=True))
    offer = set_default_offer(fresh, "birthday", dish="长寿面")
    assert get_campaign(fresh, offer["campaign_id"])["active"]
    assert run_campaign(fresh, offer["campaign_id"])["treated"] == 1
    [coupon] = fresh.conn.execute(
        "SELECT c.member_id, t.dish FROM coupons c JOIN coupon_templates t "
        "ON t.id = c.template_id WHERE t.id = ?", (offer["template"]["id"],)).fetchall()
    assert tuple(coupon) == (soon["id"], "长寿面")
    switch_off_default_offer(fresh, "birthday")
    assert not get_campaign(fresh, offer["campaign_id"])["active"]


def test_hq_another_store_and_a_restore_apply_the_update(fresh, tmp_path):
    offer = set_default_offer(fresh, "welcome", amount_fen=2500, min_spend_fen=10000)
    template_id = offer["template"]["id"]
    (tmp_path / "hq").mkdir()
    book = HqBook(tmp_path / "hq" / "hq.db")
    hand_to_hq(book, fresh)
    updated = [json.loads(r[0]) for r in book.conn.execute(
        "SELECT data FROM hq_events WHERE type = 'coupon_template.updated'")]
    assert [(u["id"], u["amount_fen"], u["active"]) for u in updated] == \
        [(template_id, 2500, True)]

    with open_chain(tmp_path / "hq") as chain:  # HQ's chain-wide books
        catch_up(chain, book)
        row = chain.one("SELECT * FROM coupon_templates WHERE id = ?", (template_id,))
        assert (row["amount_fen"], row["min_spend_fen"], row["active"]) == (2500, 10000, 1)

    with Store(tmp_path / "b.db", new_settings("s-b")) as other:  # another store of the chain
        page = json.loads(book.feed("s-b", 0))
        apply_page(other, page["events"], page["position"])
        row = other.one("SELECT * FROM coupon_templates WHERE id = ?", (template_id,))
        assert (row["amount_fen"], row["active"]) == (2500, 1)

    with Store(tmp_path / "restored.db", new_settings(fresh.store_id)) as restored:
        restore_page(restored, book.history(fresh.store_id, 0)["events"])
        row = restored.one("SELECT * FROM coupon_templates WHERE id = ?", (template_id,))
        assert (row["amount_fen"], row["active"]) == (2500, 1)
    book.conn.close()


def test_laoke_offers_sets_lists_and_refuses_a_wrong_value(tmp_path, capsys):
    from hub.cli import main

    def laoke(*args):
        """The command line in this process (a second interpreter costs seconds)."""
        main(["--home", str(tmp_path / "home"), "offers", *args])
        return capsys.readouterr()

    shown = json.loads(laoke("list", "--json").out)["offers"]
    assert [(o["offer"], o["on"]) for o in shown] == [("welcome", False), ("birthday", False)]
    assert "未设定" in laoke("list").out
    [welcome] = json.loads(laoke("set", "welcome", "--amount", "20", "--min-spend", "100",
                                 "--json").out)["offers"]
    assert welcome["on"] and welcome["template"]["amount_fen"] == 2000
    assert welcome["template"]["min_spend_fen"] == 10000
    with pytest.raises(SystemExit) as refused:
        laoke("set", "birthday", "--amount", "3")
    assert refused.value.code == 2 and "a dish" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        laoke("set", "welcome", "--amount", "20.001")
    assert refused.value.code == 2
    capsys.readouterr()
    assert "on  birthday  生日甜品  赠 长寿面" in laoke("set", "birthday", "--dish", "长寿面").out
    assert "off welcome" in laoke("off", "welcome").out
