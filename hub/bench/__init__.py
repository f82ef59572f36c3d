"""`laoke bench`: the project's figures, each measured where a store meets it.

`store.py` times the domain itself on a generated store (lookups, checkout, the receipt,
reports, campaign audiences), `http.py` a real hub under tablets and a card reader,
`console.py` the staff console and `laoke demo`'s start, `web.py` the tablet page in a
browser, `sync.py` the store-to-HQ link against plain paho, `chain_reports.py` HQ's reports
over a year of a hundred stores.

The million-member database is built once per schema and cached; runs work on copies so the
cached one stays as generated. Checkout throughput is compared with raw sqlite3 writing the
same rows (order, lines, ledger entries, outbox events) into the same schema with the same
`synchronous` setting, so the ratio is the cost of laoke's rules, not of the disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..domain.clock import system_clock
from ..domain.store import Store
from .chain_reports import bench_chain_reports
from .console import bench_demo_start
from .http import bench_checkin_http
from .store import (
    CHECKOUTS,
    LOOKUPS,
    bench_checkout,
    bench_encrypted,
    bench_lookups,
    bench_raw_checkout,
    bench_receipt,
    bench_reports,
    bench_segments,
    cached_database,
    sample_members,
)
from .sync import bench_hq_stores, bench_sync
from .till import bench_till

__all__ = ["run_benchmarks"]


def run_benchmarks(members: int, log: Callable[[str], None] = print,
                   quick: bool = False) -> dict[str, Any]:
    source, settings = cached_database(members, log)
    # --quick: the same figures from a tenth of the samples and smaller stores (the suite's
    # run, and a first look); the published figures come from a full run.
    checkouts, lookups = (CHECKOUTS // 10, LOOKUPS // 10) if quick else (CHECKOUTS, LOOKUPS)
    figures: dict[str, Any] = {"members": members}
    figures.update(bench_receipt(log))
    figures.update(bench_reports(200 if quick else 40_000, log))
    figures.update(bench_segments(source, settings, members, log))
    figures["db_bytes_per_member"] = round(os.path.getsize(source) / members)
    with tempfile.TemporaryDirectory(prefix="laoke-bench-") as work:
        ours_path, raw_path = Path(work) / "ours.db", Path(work) / "raw.db"
        shutil.copyfile(source, ours_path)
        shutil.copyfile(source, raw_path)
        with Store(ours_path, settings, system_clock) as store:
            figures.update(bench_lookups(store, log, lookups))
            # Members are spread out (and every fifth one topped up); a member is checked out
            # at most once per run when the store is big enough, as at a real till.
            sample = sample_members(store, checkouts * 2)
            half = len(sample) // 2
            ours = bench_checkout(store, sample[:half], checkouts)
        with Store(raw_path, settings, system_clock) as store:
            raw = bench_raw_checkout(store, sample[half:], checkouts)
        encrypted = bench_encrypted(source, settings, Path(work), sample[:half], log,
                                    checkouts, lookups)
        figures.update(encrypted)
        figures.update(bench_checkin_http(source, settings, Path(work), log,
                                          *((2.0, 1.0) if quick else (10.0, 5.0))))
        figures.update(bench_demo_start(Path(work), log, quick))
        figures.update(bench_till(Path(work), log))
        figures.update(bench_sync(Path(work), 5_000 if quick else 100_000, log))
        figures.update(bench_hq_stores(Path(work), 20, 250 if quick else 5_000, log))
        # A year of 100 stores at 12 orders a day: what one small machine holds in a run.
        figures.update(bench_chain_reports(Path(work), *((3, 10, 5) if quick else (100, 365, 12)),
                                           log))
    figures["checkout_per_s"] = round(ours, 1)
    figures["raw_sqlite_checkout_per_s"] = round(raw, 1)
    figures["checkout_ratio_vs_sqlite"] = round(ours / raw, 3)
    figures["checkout_ratio_encrypted_vs_plain"] = round(
        encrypted["checkout_per_s_encrypted"] / ours, 3)
    figures["lookup_p99_ratio_encrypted_vs_plain"] = round(
        encrypted["lookup_p99_ms_encrypted"] / figures["lookup_p99_ms"], 3)
    figures["synchronous"] = settings.storage.synchronous
    log(f"checkout: {ours:.0f}/s laoke vs {raw:.0f}/s raw sqlite3 "
        f"(ratio {ours / raw:.2f}, synchronous={settings.storage.synchronous}); "
        f"{encrypted['checkout_per_s_encrypted']:.0f}/s encrypted")
    log(f"database size: {figures['db_bytes_per_member']} bytes per member")
    return figures
