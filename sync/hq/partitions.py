"""Which partitions of the chain this HQ worker applies: a fair share, each held through a
PostgreSQL session advisory lock, so one worker at a time holds a partition and a dead
worker's partitions are free the moment its connection is gone.

Per-store order does not come from the broker (a shared subscription spreads one store's
batches over workers and rebalances as they come and go): every store publishes under its
fixed partition (`sync.protocol.partition_of`), the worker holding it subscribes to it alone,
and the book applies only the next seq (a duplicate dropped, a gap asked for again). Holding
a partition is about work, not exactness: a worker that lost its lock without knowing it
still applies nothing twice, since the book checks and moves each store's watermark in the
writers' one transaction at a time.

The workers alive are those holding their own presence lock; each takes free partitions up
to ceil(PARTITIONS / alive) and gives back what is over that, so a new worker gets its share
and a dead one's share is taken within a tick.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from typing import Any

from ..protocol import PARTITIONS

log = logging.getLogger(__name__)
PRESENCE, PARTITION, SOLE = 0x6C61, 0x6C62, 0x6C63  # the advisory lock classes (key1)
RELAY_JOB = 1  # Sole's job: HQ's message relay


class Leases:
    """This worker's partitions on one PostgreSQL database, on a connection of their own:
    the locks live exactly as long as it."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self.me = secrets.randbelow(2**31)
        self.conn: Any = None
        self.held: set[int] = set()

    def _connect(self) -> Any:
        import psycopg

        # Named by the process, so an operator (and a test) sees which worker holds what
        # in pg_stat_activity.
        conn = psycopg.connect(self.url, autocommit=True,
                               application_name=f"laoke-hq-worker-{os.getpid()}")
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (PRESENCE, self.me))
        return conn

    def alive(self) -> int:
        """How many workers hold their presence lock on this database, this one included."""
        row = self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
            "classid = %s AND database = (SELECT oid FROM pg_database WHERE datname = "
            "current_database())", (PRESENCE,)).fetchone()
        return max(1, int(row[0]))

    def tick(self) -> tuple[set[int], set[int]]:
        """Take free partitions up to a fair share; name the ones over it, to give back once
        the worker has stopped listening to them. Returns (taken, over). A lost connection
        has lost every lock: all are over, and the next tick starts again."""
        try:
            if self.conn is None:
                self.conn = self._connect()
            share = math.ceil(PARTITIONS / self.alive())
            taken: set[int] = set()
            start = self.me % PARTITIONS  # workers look from different places: fewer clashes
            for n in range(PARTITIONS):
                if len(self.held) >= share:
                    break
                partition = (start + n) % PARTITIONS
                if partition in self.held:
                    continue
                got = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                        (PARTITION, partition)).fetchone()[0]
                if got:
                    self.held.add(partition)
                    taken.add(partition)
            over = set(sorted(self.held)[share:])
        except self.errors as error:
            log.warning("HQ worker lost its partitions' database connection: %s", error)
            lost, self.held, self.conn = set(self.held), set(), None
            return set(), lost
        if taken:
            log.info("HQ worker takes partitions %s (holds %d)", sorted(taken), len(self.held))
        return taken, over

    def give_back(self, partitions: set[int]) -> None:
        """Free partitions the worker no longer listens to."""
        for partition in partitions:
            if partition in self.held and self.conn is not None:
                try:
                    self.conn.execute("SELECT pg_advisory_unlock(%s, %s)",
                                      (PARTITION, partition))
                except self.errors:  # gone with the connection: the next tick says so
                    self.conn = None
            self.held.discard(partition)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.held = set()


class Sole:
    """Whether this worker is the one of the chain's that does a job no two may do at once:
    whoever holds the job's session lock, on a connection of its own, so a dead holder's job
    is free the moment its connection is gone. HQ's message relay is one: two relays would
    each send what is due, and each take back what the other has mid-send."""

    def __init__(self, url: str, job: int) -> None:
        import psycopg

        self.url, self.job = url, job
        self.errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self.conn: Any = None
        self.holding = False

    def held(self) -> bool:
        """Whether this worker holds the job now, taking it if it is free. Each call asks
        the connection, so a lost one (and the job with it) shows at once."""
        import psycopg

        try:
            if self.conn is None:
                # keepalives: a session whose far end vanished unseen ends in about a
                # minute, and its lock with it, rather than after the kernel's two hours
                self.conn = psycopg.connect(self.url, autocommit=True,
                                            application_name=f"laoke-hq-sole-{os.getpid()}",
                                            keepalives=1, keepalives_idle=30,
                                            keepalives_interval=10, keepalives_count=3)
                self.holding = False
            if self.holding:
                self.conn.execute("SELECT 1")
            else:
                self.holding = bool(self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                                      (SOLE, self.job)).fetchone()[0])
        except self.errors as error:
            log.warning("HQ worker lost its lock connection (job %d): %s", self.job, error)
            self.close()
        return self.holding

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
        self.holding = False


def holders(conn: Any) -> dict[int, int]:
    """partition -> the OS pid of the worker holding it, from PostgreSQL's own view of the
    locks (each worker's lock connection is named by its pid): what an operator looks at,
    and what shows a takeover done."""
    rows = conn.execute(
        "SELECT l.objid, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ? "
        "AND a.application_name LIKE 'laoke-hq-worker-%'", (PARTITION,)).fetchall()
    return {int(r[0]): int(r[1].rsplit("-", 1)[1]) for r in rows}
