"""Guest feedback: a quick rating of a paid order, tied to its table and the person who
served it, given on the tablet handed over after checkout or through the receipt's link.

The receipt's link carries a signature with the chain's key over the order id, so a guest's
phone needs no device token and nobody rates an order they were not given.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from .codes import id_signature, id_signed
from .coupons import issue_coupon, template_by_name
from .errors import FeedbackGiven, InvalidInput, NotFound, OrderNotFound
from .ids import new_id
from .store import Store

# The quick tags, in the order the form shows them, with their zh-CN and English labels.
TAGS = {"taste": ("口味", "Taste"), "service": ("服务", "Service"),
        "speed": ("上菜速度", "Speed"), "ambience": ("环境", "Ambience")}
_BY_LABEL = {label: key for key, labels in TAGS.items() for label in labels}
MAX_COMMENT = 500
Source = Literal["tablet", "receipt"]


def signature(store: Store, order_id: str) -> str:
    return id_signature(store.settings.chain_key, "feedback", order_id)


def signed(store: Store, order_id: str, sig: str) -> bool:
    return id_signed(store.settings.chain_key, "feedback", order_id, sig)


def feedback_url(store: Store, order_id: str) -> str | None:
    """The receipt's link to the form, on the hub's address as guests' phones reach it
    (`[campaigns] public_url`); None when the store has not set one."""
    base = store.settings.campaigns.public_url.rstrip("/")
    return f"{base}/feedback?order={order_id}&sig={signature(store, order_id)}" if base else None


def _tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or len(tags) > len(TAGS):
        raise InvalidInput(f"tags are a list of {', '.join(TAGS)}")
    keys = []
    for tag in tags:
        key = tag if tag in TAGS else _BY_LABEL.get(tag)
        if key is None:
            raise InvalidInput(f"unknown tag {tag!r}: one of {', '.join(TAGS)}")
        if key not in keys:
            keys.append(key)
    return keys


def give_feedback(store: Store, order_id: str, rating: Any, tags: Any = (), comment: Any = "",
                  source: Source = "tablet") -> dict[str, Any]:
    """Record the one rating an order gets; a second is FeedbackGiven (409)."""
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidInput("rating is a whole number from 1 to 5")
    keys = _tags(list(tags))
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment is text of at most {MAX_COMMENT} characters")
    with store.write():
        # The person rated is who served the table (seated it), else who rang the bill up.
        order = store.one("SELECT o.id, o.member_id, COALESCE(v.staff_id, o.staff_id) AS "
                          "staff_id, v.table_no FROM orders o LEFT JOIN visits v "
                          "ON v.id = o.visit_id WHERE o.id = ?", (order_id,))
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        if store.one("SELECT 1 FROM feedback WHERE order_id = ?", (order_id,)) is not None:
            raise FeedbackGiven("this order has been rated already")
        record = {"id": new_id(), "order_id": order_id, "rating": rating,
                  "tags": json.dumps(keys), "comment": comment.strip(),
                  "table_no": order["table_no"], "staff_id": order["staff_id"],
                  "source": source, "created_at": store.now_iso()}
        store.db.table("feedback").insert(record)
        store.emit("feedback.created", {k: v for k, v in record.items() if k != "comment"})
    return {**record, "tags": keys, "member_id": order["member_id"],
            "low": rating <= store.settings.feedback.low_rating}


def apologise(store: Store, feedback_id: str, issued_by: str | None = None) -> dict[str, Any]:
    """Answer a rating with the store's apology coupon (`[feedback] apology_coupon_template`)
    for the guest of the order; once per rating, a second call answers the same coupon."""
    with store.write():
        row = store.one("SELECT f.apology_code, o.member_id FROM feedback f JOIN orders o "
                        "ON o.id = f.order_id WHERE f.id = ?", (feedback_id,))
        if row is None:
            raise NotFound(f"no feedback {feedback_id!r}")
        if row["apology_code"]:
            return {"code": row["apology_code"], "again": True}
        name = store.settings.feedback.apology_coupon_template
        template = template_by_name(store, name) if name else None
        if template is None:
            raise InvalidInput("no apology coupon: set [feedback] apology_coupon_template to "
                               "a coupon template's name")
        coupon = issue_coupon(store, template, row["member_id"], reason="apology",
                              issued_by=issued_by)
        store.conn.execute("UPDATE feedback SET apology_code = ? WHERE id = ?",
                           (coupon["code"], feedback_id))
    return {"code": coupon["code"], "again": False}
