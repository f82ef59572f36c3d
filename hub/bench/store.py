"""The store's own figures on a generated store: lookups, checkout against raw sqlite3, the
receipt, reports and campaign audiences; the million-member store is built once and cached."""

from __future__ import annotations

import itertools
import random
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from ..demo_data import generate
from ..domain import database
from ..domain.checkout import CheckoutRequest, checkout
from ..domain.config import new_settings
from ..domain.coupons import Line
from ..domain.ids import new_id
from ..domain.ledgers import top_up
from ..domain.members import find_members, member_by_card, member_view
from ..domain.schema import STEPS
from ..domain.store import Store, dumps

CHECKOUTS = 2000
LOOKUPS = 2000
LINES = (Line("宫保鸡丁", 1, 4800), Line("麻婆豆腐", 1, 3200), Line("米饭", 2, 300))


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def cached_database(members: int, log: Callable[[str], None], *, name: str = "bench",
                    days: int = 0, seed: int = 42) -> tuple[Path, Any]:
    """A generated store of `members` guests (and `days` of trade), built once per schema and
    kept in the user cache; runs work on copies or only read it."""
    cache = Path(platformdirs.user_cache_dir("laoke", appauthor=False))
    cache.mkdir(parents=True, exist_ok=True)
    settings = new_settings(name)
    settings.chain.key = "bench-chain-key-not-a-secret"
    path = cache / f"{name}-{members}-{days}d-{STEPS[-1][0]}.db"
    if not path.exists():
        started = time.perf_counter()
        tmp = path.with_suffix(".building")
        for leftover in cache.glob(tmp.name + "*"):
            leftover.unlink()
        settings.storage.synchronous = "normal"
        # A store cached under an older schema is migrated rather than generated again; one
        # cached by a newer hub (another checkout's schema) is left alone, as this one can't
        # open it.
        known = {f"{name}-{members}-{days}d-{step}.db" for step, _ in STEPS}
        older = sorted((p for p in cache.glob(f"{name}-{members}-{days}d-*.db")
                        if p.name in known), key=lambda p: p.stat().st_mtime)
        if older:
            log(f"migrating the cached {members:,}-member store to {STEPS[-1][0]} …")
            shutil.copyfile(older[-1], tmp)
        else:
            log(f"building a {members:,}-member store with {days} days of trade (once; cached "
                f"in {cache}) …")
        with Store(tmp, settings) as store:
            if not older:
                generate(store, members=members, days=days, seed=seed)
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tmp.replace(path)
        for stale in older:
            stale.unlink()
        log(f"  ready in {time.perf_counter() - started:.1f} s")
    settings.storage.synchronous = "full"
    return path, settings


def bench_lookups(store: Store, log: Callable[[str], None], lookups: int = LOOKUPS
                  ) -> dict[str, float]:
    rng = random.Random(1)
    count = store.scalar("SELECT MAX(rowid) FROM members")
    phones: list[str] = []
    cards: list[str] = []
    while len(phones) < lookups:
        row = store.one("SELECT phone FROM members WHERE rowid = ?", (rng.randint(1, count),))
        if row is not None:
            national = row[0][3:]
            phones.append(rng.choice((national, f"+86 {national[:3]}-{national[3:7]}-"
                                      f"{national[7:]}", f"{national[:3]} {national[3:7]} "
                                      f"{national[7:]}")))
    cards = [r[0] for r in store.conn.execute(
        "SELECT number FROM member_cards ORDER BY random() LIMIT ?", (lookups,))]
    timings: list[float] = []
    for phone in phones:
        started = time.perf_counter_ns()
        found = find_members(store, phone, limit=1)
        member_view(store, found[0])
        timings.append((time.perf_counter_ns() - started) / 1e6)
    for number in cards:
        started = time.perf_counter_ns()
        member_view(store, member_by_card(store, number))
        timings.append((time.perf_counter_ns() - started) / 1e6)
    figures = {"lookup_p50_ms": round(statistics.median(timings), 3),
               "lookup_p99_ms": round(_percentile(timings, 99), 3)}
    log(f"lookup by phone or card: p50 {figures['lookup_p50_ms']} ms, "
        f"p99 {figures['lookup_p99_ms']} ms over {len(timings)} lookups")
    return figures


def sample_members(store: Store, count: int) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT id FROM members ORDER BY random() LIMIT ?", (count,))]


def bench_checkout(store: Store, members: list[str], count: int = CHECKOUTS) -> float:
    for member_id in members[::5]:
        top_up(store, member_id, 1_000_000)
    started = time.perf_counter()
    for index in range(count):
        member_id = members[index % len(members)]
        checkout(store, CheckoutRequest(
            idempotency_key=new_id(), lines=LINES, member_id=member_id,
            stored_value_fen=5000 if index % 5 == 0 else 0))
    return count / (time.perf_counter() - started)


def bench_encrypted(source: Path, settings: Any, work: Path, members: list[str],
                    log: Callable[[str], None], checkouts: int = CHECKOUTS,
                    lookups: int = LOOKUPS) -> dict[str, float]:
    """The same lookups and checkouts on an encrypted copy of the same store (SQLCipher, as
    every new home is), so the cost of encryption stands next to the plain figures; and the
    time `laoke hub encrypt` takes to encrypt a plain store this big."""
    key = secrets.token_bytes(database.KEY_BYTES)
    path = work / "encrypted.db"
    started = time.perf_counter()
    database.export(source, None, path, key)
    encrypt_s = time.perf_counter() - started
    log(f"encrypted store (SQLCipher, copied from the plain one in {encrypt_s:.1f} s):")
    with Store(path, settings, key=key) as store:
        looked = bench_lookups(store, log, lookups)
        per_s = bench_checkout(store, members, checkouts)
    return {"lookup_p50_ms_encrypted": looked["lookup_p50_ms"],
            "lookup_p99_ms_encrypted": looked["lookup_p99_ms"],
            "checkout_per_s_encrypted": round(per_s, 1), "encrypt_store_s": round(encrypt_s, 1)}


def bench_raw_checkout(store: Store, members: list[str], count: int = CHECKOUTS) -> float:
    """The same rows as a laoke checkout, written with plain INSERTs and no rules."""
    conn = store.conn
    for member_id in members[::5]:
        conn.execute("INSERT INTO stored_value_ledger (id, member_id, store_id, amount_fen, "
                     "kind, created_at) VALUES (?, ?, 'bench', 1000000, 'topup', ?)",
                     (new_id(), member_id, store.now_iso()))
    started = time.perf_counter()
    for index in range(count):
        member_id = members[index % len(members)]
        now = store.now_iso()
        order_id = new_id()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO orders (id, store_id, member_id, channel, total_fen, discount_fen, "
            "stored_value_paid_fen, points_earned, idempotency_key, request_hash, created_at) "
            "VALUES (?, 'bench', ?, 'dine_in', 8600, 0, ?, 86, ?, 'x', ?)",
            (order_id, member_id, 5000 if index % 5 == 0 else 0, new_id(), now))
        conn.executemany(
            "INSERT INTO order_lines (order_id, line_no, dish, qty, unit_price_fen) "
            "VALUES (?, ?, ?, ?, ?)",
            [(order_id, n, line.dish, line.qty, line.unit_price_fen)
             for n, line in enumerate(LINES, 1)])
        events = [("order.created", {"id": order_id})]
        if index % 5 == 0:
            conn.execute("INSERT INTO stored_value_ledger (id, member_id, store_id, amount_fen, "
                         "kind, order_id, created_at) VALUES (?, ?, 'bench', -5000, 'spend', "
                         "?, ?)", (new_id(), member_id, order_id, now))
            events.append(("stored_value.entry", {"order_id": order_id}))
        conn.execute("INSERT INTO points_ledger (id, member_id, store_id, delta, kind, "
                     "order_id, created_at) VALUES (?, ?, 'bench', 86, 'earn', ?, ?)",
                     (new_id(), member_id, order_id, now))
        events.append(("points.entry", {"order_id": order_id}))
        for type_, data in events:
            conn.execute("INSERT INTO outbox (id, store_id, type, ts, data) "
                         "VALUES (?, 'bench', ?, ?, ?)", (new_id(), type_, now, dumps(data)))
        conn.execute("COMMIT")
    return count / (time.perf_counter() - started)


def bench_receipt(log: Callable[[str], None]) -> dict[str, Any]:
    """A typical 20-line Chinese receipt: time to build its bytes, its size, its time on the
    wire (10 bits a byte on a serial line: the physical limit of a serial printer)."""
    from printer import layouts
    from printer.escpos_out import to_escpos

    menu = [("宫保鸡丁", 4800), ("鱼香肉丝", 4200), ("麻婆豆腐", 3200), ("水煮鱼", 8800),
            ("夫妻肺片（招牌）", 5200), ("米饭", 300), ("酸梅汤", 1500), ("青岛啤酒", 1200)]
    lines = [layouts.ReceiptLine(menu[i % len(menu)][0] + ("加大份" if i % 3 else ""),
                                 1 + i % 3, menu[i % len(menu)][1]) for i in range(20)]
    total = sum(line.qty * line.unit_price_fen for line in lines)
    coupon = layouts.CouponSlip("下次立减10元", "10.00元", "满100.00元可用", "2026-11-25",
                                "2026-12-25", "JTF69B2PQH01N39Y0H", "王芳", "老客小馆")
    receipt = layouts.Receipt(
        store_name="老客小馆", order_id=new_id(), time="2026-11-25 12:30", table="A5",
        staff="服务员 张伟", lines=lines, total_fen=total, due_fen=total - 3000,
        coupon_discount_fen=2000, coupon_code="JTF69B", points_redeemed=100,
        points_discount_fen=1000, points_earned=total // 100, points_balance=1200,
        stored_value_paid_fen=5000, stored_value_left_fen=20000, member_name="王芳",
        tier_name="金卡会员", next_coupon=coupon)
    timings = []
    for _ in range(300):
        started = time.perf_counter_ns()
        data = to_escpos(layouts.receipt(receipt, 80))
        timings.append((time.perf_counter_ns() - started) / 1e6)
    figures = {"receipt_build_ms": round(statistics.median(timings), 3),
               "receipt_build_p99_ms": round(_percentile(timings, 99), 3),
               "receipt_bytes": len(data),
               "receipt_9600_baud_s": round(len(data) * 10 / 9600, 2),
               "receipt_115200_baud_s": round(len(data) * 10 / 115200, 3)}
    log(f"20-line Chinese receipt: built in {figures['receipt_build_ms']} ms "
        f"(p99 {figures['receipt_build_p99_ms']} ms), {len(data)} bytes, "
        f"{figures['receipt_9600_baud_s']} s at 9,600 baud, "
        f"{figures['receipt_115200_baud_s']} s at 115,200 baud")
    return figures


def bench_reports(members: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Every report over a year of a busy store (40,000 guests: about two million order
    lines), built once and cached like the lookup store."""
    from datetime import timedelta

    from ..domain.reports import REPORTS, report

    path, settings = cached_database(members, log, name="bench-reports", days=365, seed=4)
    timings: dict[str, float] = {}
    with Store(path, settings) as store:
        lines = store.scalar("SELECT COUNT(*) FROM order_lines")
        end = store.now().date()
        for name in REPORTS:
            started = time.perf_counter()
            report(store, name, end - timedelta(days=365), end)
            timings[name] = round(time.perf_counter() - started, 3)
        weather_s = bench_forecast_weather(store, end)
        purchase_s, variance_s = bench_stock_purchase(store)
    slowest = max(timings, key=lambda name: timings[name])
    log(f"reports over a year ({lines:,} order lines): slowest {slowest} "
        f"{timings[slowest]} s; " + ", ".join(f"{k} {v} s" for k, v in timings.items()))
    log(f"the forecast with a year of weather learnt: {weather_s} s")
    log(f"a week's purchase list, every dish with a recipe: {purchase_s} s; the variance of "
        f"four weekly stocktakes, the first reading the year: {variance_s} s")
    return {"report_s": timings[slowest], "report_order_lines": lines,
            "forecast_weather_s": weather_s, "stock_purchase_s": purchase_s,
            "stock_variance_s": variance_s,
            **{f"report_{k}_s": v for k, v in timings.items()}}


def bench_forecast_weather(store: Store, end: Any) -> float:
    """The week's forecast on the same store with a year of weather cached (learning the
    store's response to it, per dish too); rolled back, so the cached store stays as it was."""
    from datetime import timedelta

    from ..demo_data import demo_weather
    from ..domain.reports import report
    from ..domain.weather import AHEAD_DAYS, save

    store.conn.execute("BEGIN")
    try:
        climate = demo_weather(end - timedelta(days=400), end + timedelta(days=AHEAD_DAYS), 1)
        save(store, [d for d in climate.values() if d.day < end], "observed", "bench")
        save(store, [d for d in climate.values() if d.day >= end], "forecast", "bench")
        started = time.perf_counter()
        report(store, "forecast", end - timedelta(days=365), end)
        return round(time.perf_counter() - started, 3)
    finally:
        store.conn.execute("ROLLBACK")


def bench_stock_purchase(store: Store) -> tuple[float, float]:
    """A week's purchase list on the same store as a store keeping stock for the year has it:
    two ingredients in every dish's recipe since a year before the last order, each counted
    every week of the last four, one after another at 20 s a count (the forecast, each
    ingredient's use since its count, packs); and the variance of all those counts, the first
    ones reading the whole year. Rolled back."""
    from datetime import timedelta

    from ..domain.clock import from_iso
    from ..domain.reports.period import Period
    from ..domain.stock import import_recipes, purchase, record, variance

    last = from_iso(str(store.scalar("SELECT MAX(created_at) FROM orders")))
    clock = store.clock
    store.conn.execute("BEGIN")
    try:
        codes = [row[0] for row in store.conn.execute("SELECT code FROM menu_dishes")]
        store.clock = itertools.repeat(last - timedelta(days=365)).__next__
        import_recipes(store, [
            {"code": code, "ingredient": f"{code}-{part}", "qty": "0.15", "unit": "kg",
             "supplier": f"supplier {n % 4}", "pack_qty": "5", "delivery_weekdays": "1,4"}
            for n, code in enumerate(codes) for part in ("a", "b")], actor="bench")
        for weeks in (4, 3, 2, 1):
            for n, name in enumerate(f"{code}-{part}" for code in codes for part in "ab"):
                store.clock = itertools.repeat(
                    last - timedelta(weeks=weeks) + timedelta(seconds=20 * n)).__next__
                record(store, name, "count", "3", actor="bench")
        store.clock = clock
        started = time.perf_counter()
        purchase(store, 7)
        purchase_s = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        variance(store, Period(store, None, None))
        return purchase_s, round(time.perf_counter() - started, 3)
    finally:
        store.clock = clock
        store.conn.execute("ROLLBACK")


# Campaign audiences timed over the big store: the win-back one, and one of each other kind.
AUDIENCES: dict[str, dict[str, Any]] = {
    "lapsed": {"lapsed_days": 90, "consent": True},
    "birthday": {"birthday_within": 3, "consent": True},
    "rfm": {"rfm": "at_risk"},
    "spend": {"frequency_min": 2, "spend_min_fen": 20000, "tiers": ["member"]},
    "first_visit": {"first_visit_only": True},
    "delivery_only": {"delivery_only": True},
    "taste": {"taste": "微辣", "tags": ["商务"]},
}


def history_database(source: Path, settings: Any, members: int,
                     log: Callable[[str], None]) -> Path:
    """The big store with two years of visits and orders: one or two per guest, spread
    evenly, written by SQL (generating real baskets for a million guests would take an hour).
    Cached next to the store it is made from."""
    path = source.with_name(source.name.replace("bench-", "bench-history-", 1))
    if path.exists():
        return path
    for stale in source.parent.glob(f"bench-history-{members}-*.db"):
        stale.unlink()  # made from an older schema
    log(f"adding two years of visits and orders to the {members:,}-member store (once) …")
    started = time.perf_counter()
    tmp = path.with_suffix(".building")
    shutil.copyfile(source, tmp)
    fast = settings.model_copy(deep=True)
    fast.storage.synchronous = "normal"
    with Store(tmp, fast) as store, store.write():
        store.conn.execute(
            "INSERT INTO orders (id, store_id, member_id, channel, total_fen, discount_fen, "
            "idempotency_key, request_hash, created_at) "
            "SELECT 'h-' || m.rowid || '-' || k.n, :store, m.id, CASE abs(random()) % 10 "
            "WHEN 0 THEN 'delivery' WHEN 1 THEN 'takeaway' ELSE 'dine_in' END, "
            "5000 + abs(random()) % 30000, 0, 'h-' || m.rowid || '-' || k.n, '', "
            "strftime('%Y-%m-%dT%H:%M:%fZ', :now, '-' || (abs(random()) % 730) || ' days', "
            "'-' || (abs(random()) % 720) || ' minutes') "
            "FROM members m JOIN (SELECT 1 AS n UNION ALL SELECT 2) k ON k.n <= 1 + m.rowid % 2",
            {"store": store.store_id, "now": store.now_iso()})
        store.conn.execute(
            "INSERT INTO visits (id, store_id, member_id, table_no, party_size, visited_at) "
            "SELECT 'v' || id, store_id, member_id, 'A1', 2, created_at FROM orders "
            "WHERE channel = 'dine_in'")
    tmp.replace(path)
    log(f"  built in {time.perf_counter() - started:.1f} s")
    return path


def bench_segments(source: Path, settings: Any, members: int,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Each campaign audience over every guest of the big store, as a campaign run picks it."""
    from ..domain.audience import pick

    path = history_database(source, settings, members, log)
    timings: dict[str, float] = {}
    sizes: dict[str, int] = {}
    with Store(path, settings) as store:
        orders = store.scalar("SELECT COUNT(*) FROM orders")
        for name, rules in AUDIENCES.items():
            started = time.perf_counter()
            sizes[name] = len(pick(store, rules))
            timings[name] = round(time.perf_counter() - started, 3)
    slowest = max(timings, key=lambda name: timings[name])
    log(f"campaign audiences over {members:,} guests ({orders:,} orders): slowest {slowest} "
        f"{timings[slowest]} s; " + ", ".join(f"{k} {v} s ({sizes[k]:,})"
                                             for k, v in timings.items()))
    return {"segment_s": timings[slowest],
            **{f"segment_{k}_s": v for k, v in timings.items()}}
