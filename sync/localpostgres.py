"""A PostgreSQL of our own, for tests and benchmarks: a real throwaway server (Debian's
postgresql, which scripts/bootstrap --test installs) on a free loopback port, and a fresh
database in it for each test or run that asks.

PostgreSQL refuses to run as root, and the tests run as root in CI: then the server runs as
`nobody` (its data folder handed to that user), which is also why pytest-postgresql's
process fixture, which runs pg_ctl as whoever runs pytest, is not used."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from hub.ports import free_port, wait_port

NOBODY = 65534


def postgres_bin() -> Path:
    """The newest installed server's folder of programs."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: run scripts/bootstrap --test")
    return Path(found[-1]).parent


class Postgres:
    """A throwaway PostgreSQL server; `database()` makes an empty database and answers its
    URL."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="laoke-pg-"))
        self.port = free_port()
        self.names = itertools.count(1)
        self.process: subprocess.Popen[bytes] | None = None

    def _as_owner(self) -> list[str]:
        if os.getuid() != 0:
            return []
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

    def start(self) -> Postgres:
        data = self.folder / "data"
        if os.getuid() == 0:
            os.chown(self.folder, NOBODY, NOBODY)
        subprocess.run([*self._as_owner(), str(postgres_bin() / "initdb"), "-D", str(data),
                        "-U", "laoke", "-A", "trust", "--no-sync", "-E", "UTF8",
                        "--locale=C.UTF-8"], check=True, capture_output=True, cwd=self.folder)
        # A throwaway server: durability off, so the tests spend no time on fsync.
        with open(self.folder / "log", "wb") as log:  # the server keeps its own copy
            self.process = subprocess.Popen(
                [*self._as_owner(), str(postgres_bin() / "postgres"), "-D", str(data),
                 "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.folder}", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=60"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=self.folder)
        wait_port(self.port, timeout=30)
        self._accepting(timeout=30)
        return self

    def _accepting(self, timeout: float) -> None:
        """The port opens before the server takes sessions ("the database system is
        starting up"): wait for a session, not for the port."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or (
                        self.process is not None and self.process.poll() is not None):
                    raise RuntimeError("PostgreSQL did not start: " + (
                        self.folder / "log").read_text(errors="replace")[-2000:]) from None
                time.sleep(0.1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://laoke@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        name = f"hq_{next(self.names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # a fast shutdown: clients or not
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
