"""Guest feedback in the store's books: what a rating may be, one per order, the receipt
link's signature, the apology coupon, and what an erasure leaves of a guest's words."""

from __future__ import annotations

import pytest

from hub.domain import feedback
from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line, create_template
from hub.domain.errors import FeedbackGiven, InvalidInput, OrderNotFound
from hub.domain.members import erase_member
from hub.domain.staff import add_staff
from hub.domain.visits import check_in


@pytest.fixture
def order(store, guest):
    waiter = add_staff(store, "安娜", "waiter", "1111")
    visit = check_in(store, guest["id"], "A5", 2, staff_id=waiter["id"])
    paid = checkout(store, CheckoutRequest("fb-1", [Line("面", 2, 1800)], member_id=guest["id"],
                                           visit_id=visit["id"]))
    return {"id": paid["order_id"], "waiter": waiter["id"]}


@pytest.mark.parametrize("rating, tags, comment", [
    (0, [], ""), (6, [], ""), (True, [], ""), (3.5, [], ""), (3, ["价格"], ""),
    (3, "口味", ""), (3, [], "太" * 501)])
def test_a_bad_rating_is_refused_and_nothing_is_kept(store, order, rating, tags, comment):
    with pytest.raises(InvalidInput):
        feedback.give_feedback(store, order["id"], rating, tags, comment)
    assert store.scalar("SELECT COUNT(*) FROM feedback") == 0


def test_one_rating_per_order_tied_to_table_and_server(store, order):
    given = feedback.give_feedback(store, order["id"], 2, ["口味", "speed", "taste"], " 咸了 ")
    assert (given["tags"], given["comment"], given["table_no"], given["staff_id"],
            given["low"]) == (["taste", "speed"], "咸了", "A5", order["waiter"], True)
    with pytest.raises(FeedbackGiven):
        feedback.give_feedback(store, order["id"], 5)
    with pytest.raises(OrderNotFound):
        feedback.give_feedback(store, "no-such-order", 5)
    sent = store.one("SELECT data FROM outbox WHERE type = 'feedback.created'")
    assert "咸了" not in sent["data"], "HQ gets the rating, not the guest's words"


def test_the_receipt_link_signs_its_order_only(store, order):
    assert feedback.feedback_url(store, order["id"]) is None, "no public address: no link"
    store.settings.campaigns.public_url = "http://shop.example:8420/"
    url = feedback.feedback_url(store, order["id"])
    sig = url.rsplit("sig=", 1)[1]
    assert url.startswith(f"http://shop.example:8420/feedback?order={order['id']}&sig=")
    assert feedback.signed(store, order["id"], sig)
    assert not feedback.signed(store, "another-order", sig)
    assert not feedback.signed(store, order["id"], sig[:-1] + ("1" if sig.endswith("0") else "0"))
    assert not feedback.signed(store, order["id"], "\uda8f\udd72签名"), "not ASCII: not it"


def test_an_apology_needs_a_template_and_is_sent_once(store, order):
    given = feedback.give_feedback(store, order["id"], 1)
    with pytest.raises(InvalidInput, match="apology_coupon_template"):
        feedback.apologise(store, given["id"])
    create_template(store, "致歉券", "amount_off", amount_fen=2000)
    store.settings.feedback.apology_coupon_template = "致歉券"
    first = feedback.apologise(store, given["id"], issued_by=order["waiter"])
    assert feedback.apologise(store, given["id"]) == {"code": first["code"], "again": True}
    assert store.scalar("SELECT COUNT(*) FROM coupons WHERE reason = 'apology'") == 1


def test_an_erasure_blanks_what_the_guest_wrote(store, order, guest):
    feedback.give_feedback(store, order["id"], 2, [], "王芳觉得太辣")
    erase_member(store, guest["id"], actor="test")
    row = store.one("SELECT rating, comment FROM feedback")
    assert tuple(row) == (2, "")
