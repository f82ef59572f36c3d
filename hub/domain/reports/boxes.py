"""What the mystery box sold and revealed: boxes and takings, each prize's share, and how
many of the coupons and points multipliers it gave were used."""

from __future__ import annotations

from typing import TypedDict

from ..store import Store
from .period import Period


class PrizeCount(TypedDict):
    prize: str
    boxes: int
    share: float
    coupons_redeemed: int
    boosts_used: int  # a points multiplier prize: the bills that earned with it


class Boxes(TypedDict):
    boxes: int
    takings_fen: int
    prizes: list[PrizeCount]


def boxes(store: Store, period: Period) -> Boxes:
    """Boxes opened in the period, by prize (the most drawn first)."""
    rows = store.conn.execute(
        "SELECT b.prize, COUNT(*) AS boxes, SUM(o.total_fen - o.discount_fen) AS takings, "
        "SUM(EXISTS (SELECT 1 FROM coupon_redemptions r WHERE r.code = b.coupon_code)) "
        "AS redeemed, SUM(b.boost_order_id IS NOT NULL) AS boosted "
        "FROM mystery_boxes b JOIN counted_orders o ON o.id = b.order_id "
        "WHERE b.opened_at >= ? AND b.opened_at < ? GROUP BY b.prize "
        "ORDER BY boxes DESC, b.prize", (period.lo, period.hi)).fetchall()
    total = sum(r["boxes"] for r in rows)
    return {"boxes": total, "takings_fen": sum(r["takings"] for r in rows),
            "prizes": [PrizeCount(prize=r["prize"], boxes=r["boxes"],
                                  share=round(r["boxes"] / total, 4),
                                  coupons_redeemed=r["redeemed"], boosts_used=r["boosted"])
                       for r in rows]}
