"""Tiers by rolling 12-month spend, and what each tier earns the guest."""

from __future__ import annotations

from datetime import timedelta

from .clock import to_iso
from .config import Tier
from .members import member_record, member_row
from .store import Store

ROLLING_DAYS = 365


def rolling_spend(store: Store, member_id: str) -> int:
    """What the guest actually paid over the last 12 months: after discounts, and without
    what a platform cancelled or paid back (`counted_orders`)."""
    since = to_iso(store.now() - timedelta(days=ROLLING_DAYS))
    return int(store.scalar(
        "SELECT COALESCE(SUM(total_fen - discount_fen - refunded_fen), 0) FROM counted_orders "
        "WHERE member_id = ? AND created_at >= ?", (member_id, since)))


def tier_for_spend(tiers: list[Tier], spend_fen: int) -> Tier:
    reached = [tier for tier in tiers if spend_fen >= tier.min_spend_fen]
    return reached[-1]


def refresh_tier(store: Store, member_id: str) -> str:
    """Recompute the guest's tier; a change is saved and sent to HQ. Returns the tier code."""
    with store.write():
        row = member_row(store, member_id)
        tier = tier_for_spend(store.settings.tiers, rolling_spend(store, member_id))
        if tier.code != row["tier"]:
            store.conn.execute("UPDATE members SET tier = ?, updated_at = ? WHERE id = ?",
                               (tier.code, store.now_iso(), member_id))
            store.emit("member.updated", member_record(member_row(store, member_id)))
        return tier.code


def refresh_all_tiers(store: Store) -> int:
    """Nightly: guests whose spend has rolled out of the window move down. Returns changes."""
    changed = 0
    ids = [r[0] for r in store.conn.execute("SELECT id FROM members WHERE erased_at IS NULL")]
    for member_id in ids:
        before = store.scalar("SELECT tier FROM members WHERE id = ?", (member_id,))
        changed += refresh_tier(store, member_id) != before
    return changed
