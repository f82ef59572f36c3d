"""A chain's reports at HQ over a year of many stores (issue 23): HQ's totals, which it keeps
as it applies, and store reports over the chain books, replayed once and then kept.

The stores' events are made in the shape a store's checkout writes them (one order.created
each, with its lines and tender) and go through HQ's own apply, so HQ's tables and log are
what a real chain would leave; only the selling is skipped, to fit a year of a hundred
stores on one small machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sync.chain import catch_up, open_chain
from sync.hq import HqBook
from sync.protocol import PROTOCOL, dumps, events_topic

from ..domain.clock import to_iso
from ..domain.ids import new_id
from ..domain.reports import report

DISHES = (("水煮鱼", 12800), ("酸汤肥牛", 8800), ("宫保鸡丁", 4200), ("麻婆豆腐", 2800),
          ("回锅肉", 4800), ("鱼香肉丝", 3800), ("清炒时蔬", 2200), ("酸辣汤", 1800),
          ("米饭", 300), ("啤酒", 1500), ("可乐", 600), ("红糖糍粑", 1600))
REPORTED = ("summary", "dishes", "hours", "channels")
BATCH = 500


def _orders(store_id: str, first: date, days: int, per_day: int,
            rng: random.Random) -> Iterator[dict[str, Any]]:
    """A store's year of checkouts as its outbox holds them, in seq order."""
    seq = 0
    for day in range(days):
        noon = datetime.combine(first + timedelta(days=day), datetime.min.time(), UTC) + \
            timedelta(hours=3)  # 11:00 in Shanghai
        for _ in range(per_day):
            seq += 1
            at = to_iso(noon + timedelta(minutes=rng.randrange(0, 11 * 60)))
            picked = [(dish, price, rng.randint(1, 3))
                      for dish, price in rng.sample(DISHES, rng.randint(1, 4))]
            lines = [{"code": None, "dish": dish, "line_no": n, "qty": qty,
                      "unit_price_fen": price}
                     for n, (dish, price, qty) in enumerate(picked, start=1)]
            total = sum(price * qty for _, price, qty in picked)
            order_id = new_id()
            yield {"store": store_id, "seq": seq, "id": new_id(), "type": "order.created",
                   "ts": at, "data": {
                       "channel": "dine_in", "combo_discount_fen": 0, "coupon_code": None,
                       "coupon_discount_fen": 0, "created_at": at, "discount_fen": 0,
                       "id": order_id, "idempotency_key": order_id, "lines": lines,
                       "member_id": None, "points_discount_fen": 0, "points_earned": 0,
                       "points_redeemed": 0, "promo_discount_fen": 0, "staff_id": None,
                       "store_id": store_id, "stored_value_paid_fen": 0,
                       "tenders": [{"amount_fen": total, "line_no": 1, "method": "wechat",
                                    "received_fen": None}],
                       "tier": None, "tier_discount_fen": 0, "total_fen": total,
                       "visit_id": None}}


def bench_chain_reports(work: Path, stores: int, days: int, per_day: int,
                        log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(23)
    book = HqBook(work / "bench-chain-year.db")
    first = date.today() - timedelta(days=days)
    started = time.perf_counter()
    events = 0
    for n in range(stores):
        store_id = f"chain-{n:03d}"
        batch: list[dict[str, Any]] = []
        for event in _orders(store_id, first, days, per_day, rng):
            batch.append(event)
            if len(batch) == BATCH:
                book.apply(events_topic(store_id), dumps(
                    {"schema": PROTOCOL, "store": store_id, "events": batch}))
                events += len(batch)
                batch = []
        if batch:
            book.apply(events_topic(store_id), dumps(
                {"schema": PROTOCOL, "store": store_id, "events": batch}))
            events += len(batch)
    apply_s = time.perf_counter() - started
    figures: dict[str, Any] = {"chain_stores": stores, "chain_days": days,
                               "chain_orders": events,
                               "chain_apply_events_per_s": round(events / apply_s)}

    started = time.perf_counter()
    totals = book.report()
    figures["chain_totals_s"] = round(time.perf_counter() - started, 3)
    assert totals["totals"]["orders"] == events, "HQ's totals missed orders"

    home = work / "bench-chain-home"
    home.mkdir(exist_ok=True)
    with open_chain(home) as chain:
        started = time.perf_counter()
        catch_up(chain, book)
        figures["chain_replay_events_per_s"] = round(events / (time.perf_counter() - started))
        end = date.today()
        for name in REPORTED:
            started = time.perf_counter()
            report(chain, name, first, end)
            figures[f"chain_report_{name}_s"] = round(time.perf_counter() - started, 3)
    book.conn.close()
    log(f"chain of {stores} stores x {days} days ({events:,} orders): HQ applies "
        f"{figures['chain_apply_events_per_s']:,}/s, totals in {figures['chain_totals_s']} s, "
        f"books replayed once at {figures['chain_replay_events_per_s']:,}/s, then "
        + ", ".join(f"{name} {figures[f'chain_report_{name}_s']} s" for name in REPORTED))
    return figures
