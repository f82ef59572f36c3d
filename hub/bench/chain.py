"""The chain's figures (`laoke bench --fleet`): simulated stores (fleet.py) against the real
mosquitto, under the shipped ACL, and real `laoke hq run --partitioned` workers on a
throwaway PostgreSQL (fsync off, as the tests run it).

- lag from a store's commit (its event's time) to HQ's apply, p50 and p99, with every
  store selling one checkout per `checkout_every_s`;
- a day's backlog of 100 stores coming back at once, drained by 1, 2 and 4 workers: the
  time it takes and HQ's apply throughput;
- HQ's book applying batches in one process, next to a raw batched INSERT of the same rows
  into the same table (the ratio is the cost of HQ's rules, not of the database).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.hq import HqBook
from sync.hq.partitions import holders
from sync.localbroker import Mosquitto
from sync.localpostgres import Postgres
from sync.protocol import PARTITIONS, PROTOCOL, dumps, events_topic
from sync.publisher import PULL_EVERY_S

from ..children import output_of, start_laoke
from ..domain.clock import from_iso, system_clock, to_iso
from .fleet import Fleet

HQ_USER, HQ_PASSWORD = "hq", "bench-hq"
DAY_CHECKOUTS = 300  # a busy store's day: about 410 events with members' joins and points
BACKLOG_STORES = 100
APPLY_BATCH = 100  # events per batch for the in-process apply and its raw baseline


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"fleet benchmark: {what} did not happen in {timeout:.0f} s")
        time.sleep(0.1)


def store_ids(prefix: str, count: int) -> dict[str, str]:
    """Simulated stores' ids and broker passwords."""
    return {f"{prefix}-{n:04d}": f"pw-{prefix}-{n}" for n in range(count)}


@contextmanager
def hq_workers(work: Path, db_url: str, broker_url: str, count: int,
               password: str = HQ_PASSWORD) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` partitioned HQ workers on one book, up once each holds its share."""
    book = HqBook(db_url)  # the schema, made once before the workers race to make it
    logs = [tempfile.TemporaryFile() for _ in range(count)]  # noqa: SIM115 - closed below
    workers = [start_laoke(["--home", str(work / f"hq-{n}"), "hq", "run", "--db", db_url,
                            "--broker", broker_url, "--username", HQ_USER, "--password",
                            password, "--partitioned", "--client-id", f"hq-{n}"], log)
               for n, log in enumerate(logs)]
    try:
        share = PARTITIONS // count
        pids = {w.pid for w in workers}

        def up() -> bool:
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("an HQ worker stopped:\n" + "\n".join(map(output_of, logs)))
            held = list(holders(book.conn).values())
            return set(held) == pids and all(held.count(pid) >= share for pid in pids)

        _wait(up, 120, f"{count} HQ workers taking their partitions")
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
        for log in logs:
            log.close()
        book.conn.close()


def _applied(book: HqBook) -> int:
    return int(book.conn.execute("SELECT COALESCE(SUM(applied_seq), 0) FROM hq_stores")
               .fetchone()[0])


def _lags(book: HqBook, since: str) -> list[float]:
    """Milliseconds from each event's commit at its store to its apply at HQ."""
    rows = book.conn.execute("SELECT ts, applied_at FROM hq_events WHERE ts >= ? AND "
                             "store_id <> '~hq'", (since,))
    return sorted((from_iso(r[1]) - from_iso(r[0])).total_seconds() * 1000 for r in rows)


def bench_lag(work: Path, pg: Postgres, broker: Mosquitto, stores: dict[str, str],
              workers: int, seconds: float, checkout_every_s: float, pull_every_s: float,
              log: Callable[[str], None]) -> dict[str, Any]:
    """Every store selling at the rush rate for `seconds`, after all have come up."""
    url = pg.database()
    with hq_workers(work / "lag", url, broker.url, workers):
        book = HqBook(url)
        fleet = Fleet(broker.url, stores, checkout_every_s=checkout_every_s,
                      pull_every_s=pull_every_s, seed=23).start()
        try:
            def reached() -> int:
                return int(book.conn.execute("SELECT COUNT(*) FROM hq_stores WHERE "
                                             "applied_seq > 0").fetchone()[0])

            try:
                _wait(lambda: reached() == len(stores),
                      120 + 2 * checkout_every_s + len(stores) / 2,  # their hellos first
                      "every store's first checkout at HQ")
            except RuntimeError as error:
                raise RuntimeError(f"{error}: {reached()} of {len(stores)} stores reached "
                                   f"HQ, {fleet.state()['online']} online; HQ cannot hold "
                                   "this fleet here (fewer --stores, a longer "
                                   "--pull-every)") from None
            since = to_iso(system_clock())
            start, applied_before = time.monotonic(), _applied(book)
            cpu = time.process_time()
            time.sleep(seconds)
            elapsed = time.monotonic() - start
            simulator = (time.process_time() - cpu) / elapsed
            applied_rate = (_applied(book) - applied_before) / elapsed
            behind = fleet.unacknowledged()
            fleet.selling = False
            _wait(fleet.settled, 600, "HQ catching up with the fleet")
            lags = _lags(book, since)
        finally:
            fleet.stop()
            book.conn.close()
    figures = {"fleet_stores": len(stores), "fleet_checkout_every_s": checkout_every_s,
               "fleet_pull_every_s": pull_every_s, "fleet_lag_workers": workers,
               "fleet_lag_p50_ms": round(statistics.median(lags), 1),
               "fleet_lag_p99_ms": round(lags[int(len(lags) * 0.99)], 1),
               "fleet_lag_events": len(lags),
               "fleet_applied_per_s": round(applied_rate, 1),
               "fleet_unacknowledged_at_end": behind,
               "fleet_simulator_cpu_share": round(simulator, 2)}
    log(f"fleet: {len(stores)} simulated stores, a checkout each every {checkout_every_s:g} s, "
        f"a pull every {pull_every_s:g} s, {workers} HQ workers on PostgreSQL: commit -> "
        f"applied at HQ p50 {figures['fleet_lag_p50_ms']} ms, p99 "
        f"{figures['fleet_lag_p99_ms']} ms over {len(lags):,} events; HQ applied "
        f"{applied_rate:,.0f} events/s, {behind:,} events not yet acknowledged at the end; "
        f"the simulator used {simulator:.0%} of a core")
    return figures


def bench_drain(work: Path, pg: Postgres, broker: Mosquitto, stores: dict[str, str],
                workers: int, checkouts_each: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    """Stores that sold `checkouts_each` while cut off, all coming back at once."""
    url = pg.database()
    with hq_workers(work / f"drain-{workers}", url, broker.url, workers):
        fleet = Fleet(broker.url, stores, selling=False, online=False, seed=7)  # same day
        fleet.sell_now(checkouts_each)
        events = sum(t.written for t in fleet.totals().values())
        fleet.start()
        started = time.monotonic()
        fleet.online(list(stores))
        try:
            _wait(fleet.settled, 1800, "the backlog draining")
        finally:
            fleet.stop()
        seconds = time.monotonic() - started
    rate = events / seconds
    log(f"fleet: {len(stores)} stores back at once with {checkouts_each} checkouts each "
        f"({events:,} events), {workers} HQ worker{'s' if workers > 1 else ''}: drained in "
        f"{seconds:.1f} s, {rate:,.0f} events/s")
    return {f"fleet_drain_{workers}w_s": round(seconds, 1),
            f"fleet_drain_{workers}w_events_per_s": round(rate), "fleet_drain_events": events}


def bench_apply_vs_raw(pg: Postgres, stores: int, checkouts_each: int,
                       log: Callable[[str], None]) -> dict[str, Any]:
    """HQ's book applying batches of real events on PostgreSQL in one process, and a raw
    batched INSERT of the same rows into the same table, a transaction per batch."""
    fleet = Fleet("mqtt://127.0.0.1:1", store_ids("apply", stores), selling=False,
                  online=False)
    fleet.sell_now(checkouts_each)
    batches = [(s.store_id, list(s.outbox)[n:n + APPLY_BATCH]) for s in fleet.stores
               for n in range(0, len(s.outbox), APPLY_BATCH)]
    events = sum(len(b) for _, b in batches)
    book = HqBook(pg.database())
    started = time.perf_counter()
    for store_id, batch in batches:
        book.apply(events_topic(store_id), dumps({"schema": PROTOCOL, "store": store_id,
                                                  "events": batch}))
    applied = events / (time.perf_counter() - started)
    book.conn.close()
    raw = HqBook(pg.database())
    started = time.perf_counter()
    position = 0
    for store_id, batch in batches:
        with raw.write() as conn:
            conn.executemany(
                "INSERT INTO hq_events (hq_seq, store_id, seq, id, type, ts, data, "
                "applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(position + n, store_id, e["seq"], e["id"], e["type"], e["ts"],
                  dumps(e["data"]).decode(), e["ts"]) for n, e in enumerate(batch, 1)])
        position += len(batch)
    inserted = events / (time.perf_counter() - started)
    raw.conn.close()
    figures = {"hq_pg_apply_events_per_s": round(applied),
               "hq_pg_raw_insert_rows_per_s": round(inserted),
               "hq_pg_raw_over_apply": round(inserted / applied, 2)}
    log(f"HQ on PostgreSQL, in one process, batches of {APPLY_BATCH}: the book applies "
        f"{applied:,.0f} events/s, a raw batched INSERT of the same rows "
        f"{inserted:,.0f} rows/s ({figures['hq_pg_raw_over_apply']}x)")
    return figures


def bench_fleet(work: Path, stores: int, log: Callable[[str], None], quick: bool = False,
                pull_every_s: float = PULL_EVERY_S) -> dict[str, Any]:
    """Every chain figure, with the machine's load (other programs' share of its cores)
    before and after, since on a shared machine the figures move with it."""
    figures: dict[str, Any] = {"cores": os.cpu_count(),
                               "load_avg_before": round(os.getloadavg()[0], 2)}
    backlog = store_ids("day", BACKLOG_STORES if not quick else 10)
    fleet = store_ids("s", stores)
    pg = Postgres().start()
    broker = Mosquitto(work / "fleet-broker", users={
        HQ_USER: HQ_PASSWORD, **fleet, **{f"{sid}-{n}": pw for n in (1, 2, 4)
                                          for sid, pw in backlog.items()}}).start()
    try:
        figures.update(bench_apply_vs_raw(pg, 20 if quick else 100, 50 if quick else 100,
                                          log))
        figures.update(bench_lag(work, pg, broker, fleet, 2, 20 if quick else 60, 10.0,
                                 pull_every_s, log))
        for workers in (1, 2, 4):
            day = {f"{sid}-{workers}": pw for sid, pw in backlog.items()}
            figures.update(bench_drain(work, pg, broker, day, workers,
                                       30 if quick else DAY_CHECKOUTS, log))
    finally:
        broker.stop()
        pg.stop()
    figures["load_avg_after"] = round(os.getloadavg()[0], 2)
    return figures
