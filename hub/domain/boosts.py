"""The points multiplier a guest's bill earns with: the best a running points campaign
promised them, or a mystery box's 双倍积分 prize they have not used yet, whichever is higher.

A campaign's boost holds for its days and any number of bills; a box's is for the guest's
next bill within its days, once: the bill that used it is kept on the box, and HQ and a
restore hear it (`BOX_BOOST_USED`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .campaigns import points_boost, record_use
from .store import Store

BOX_BOOST_USED = "mystery_box.boost_used"
BOX_LINE = "盲盒"  # the one line of a mystery box's sale


@dataclass(frozen=True)
class Boost:
    pct: int = 100
    campaign_id: str | None = None
    box_order_id: str | None = None  # the order that paid the box whose prize it is


def best_boost(store: Store, member_id: str, dishes: list[str]) -> Boost:
    """The boost of a bill of these dishes. A box's multiplier is for a meal: another box's
    sale does not use it up."""
    campaign_id, campaign_pct = points_boost(store, member_id)
    if all(dish == BOX_LINE for dish in dishes):
        return Boost(campaign_pct, campaign_id=campaign_id)
    box = store.one("SELECT order_id, boost_pct FROM mystery_boxes WHERE member_id = ? AND "
                    "boost_pct > 0 AND boost_order_id IS NULL AND boost_until >= ? "
                    "ORDER BY boost_pct DESC, boost_until, order_id LIMIT 1",
                    (member_id, store.now_iso()))
    if box is not None and box["boost_pct"] > campaign_pct:
        return Boost(int(box["boost_pct"]), box_order_id=str(box["order_id"]))
    return Boost(campaign_pct, campaign_id=campaign_id)


def use_boost(store: Store, boost: Boost, order_id: str, member_id: str,
              extra_points: int) -> None:
    """Inside the checkout: what the bill's boost gave, on the campaign's uses or the box."""
    if not extra_points:
        return
    if boost.campaign_id is not None:
        record_use(store, boost.campaign_id, order_id, member_id, points=extra_points)
    if boost.box_order_id is not None and store.conn.execute(
            "UPDATE mystery_boxes SET boost_order_id = ? WHERE order_id = ? AND "
            "boost_order_id IS NULL", (order_id, boost.box_order_id)).rowcount:
        store.emit(BOX_BOOST_USED, {"order_id": boost.box_order_id, "boost_order_id": order_id})
