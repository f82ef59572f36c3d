"""What campaigns earned for what they cost: the lift's revenue against the discounts given,
the points granted and the messages paid for.

The lift's revenue is the treated guests' spend in the measuring window above what the
control group's spend per guest says they would have spent anyway (revenue, not margin).
The cost is every coupon discount redeemed from the campaign's coupons, every checkout
discount and points boost it gave (points at their value in fen), and each message that left
the store (the gateway, e-mail, SMS or WeChat: `outreach.REMOTE`, sent or possibly sent) at
the one `[campaigns] message_cost_fen`; receipt and tablet messages cost nothing.
"""

from __future__ import annotations

from typing import TypedDict

from ..campaigns import arm_figures
from ..outreach import REMOTE
from ..store import Store
from .period import Period


class CampaignReturn(TypedDict):
    campaign_id: str
    name: str
    treated: int  # guests picked in the period, in each arm
    control: int
    messages_paid: int
    message_cost_fen: int
    discount_fen: int
    points_cost_fen: int
    cost_fen: int
    incremental_revenue_fen: int | None  # None: no control group to measure against
    net_fen: int | None
    return_on_spend: float | None  # incremental revenue per fen spent


class CampaignRoi(TypedDict):
    cost_per_message_fen: int
    campaigns: list[CampaignReturn]


def campaign_roi(store: Store, period: Period) -> CampaignRoi:
    """Each campaign that picked guests, sent messages or changed a checkout in the period:
    its cost and the revenue its lift brought, best net return first."""
    span = {"lo": period.lo, "hi": period.hi}
    per_message = store.settings.campaigns.message_cost_fen
    fen_per_point = store.settings.points.fen_per_point
    window = f"+{store.settings.campaigns.measure_days} days"
    rows = store.conn.execute(
        "SELECT id, name FROM campaigns c WHERE EXISTS (SELECT 1 FROM campaign_targets t "
        "  WHERE t.campaign_id = c.id AND t.targeted_at >= :lo AND t.targeted_at < :hi) "
        "OR EXISTS (SELECT 1 FROM campaign_uses u WHERE u.campaign_id = c.id "
        "  AND u.used_at >= :lo AND u.used_at < :hi) "
        "OR EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id "
        "  AND m.created_at >= :lo AND m.created_at < :hi) ORDER BY name, id", span).fetchall()
    found: list[CampaignReturn] = []
    for campaign_id, name in rows:
        ask = {**span, "id": campaign_id}
        treated, control = (arm_figures(store, campaign_id, arm, window, period.lo, period.hi)
                            for arm in ("treated", "control"))
        # every message that left the store costs: texts and WeChat too, not only the gateway
        messages = store.scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = :id AND created_at >= :lo "
            f"AND created_at < :hi AND channel IN ({', '.join(repr(c) for c in REMOTE)}) "
            "AND status IN ('sent', 'delivered', 'unconfirmed')", ask)
        coupons = store.scalar(
            "SELECT COALESCE(SUM(r.discount_fen), 0) FROM campaign_targets t "
            "JOIN coupon_redemptions r ON r.code = t.coupon_code WHERE t.campaign_id = :id "
            "AND t.targeted_at >= :lo AND t.targeted_at < :hi", ask)
        uses = store.totals(
            "SELECT COALESCE(SUM(discount_fen), 0), COALESCE(SUM(points), 0) FROM "
            "campaign_uses WHERE campaign_id = :id AND used_at >= :lo AND used_at < :hi", ask)
        discount, points_cost = coupons + uses[0], uses[1] * fen_per_point
        cost = messages * per_message + discount + points_cost
        lift = None
        if treated["guests"] and control["guests"]:
            lift = round(treated["spend_fen"]
                         - control["spend_fen"] * treated["guests"] / control["guests"])
        found.append(CampaignReturn(
            campaign_id=campaign_id, name=name, treated=treated["guests"],
            control=control["guests"], messages_paid=messages,
            message_cost_fen=messages * per_message, discount_fen=discount,
            points_cost_fen=points_cost, cost_fen=cost, incremental_revenue_fen=lift,
            net_fen=None if lift is None else lift - cost,
            return_on_spend=round(lift / cost, 2) if lift is not None and cost else None))
    found.sort(key=lambda c: (c["net_fen"] is None, -(c["net_fen"] or 0), c["name"]))
    return {"cost_per_message_fen": per_message, "campaigns": found}
