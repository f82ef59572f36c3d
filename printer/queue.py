"""The durable print queue: stored before sent, retried with backoff, printed once.

A job goes queued -> sending -> printed. A printer that is off, out of paper or unplugged
sends it to `waiting` with the reason, to be tried again later (1 s, 2 s, 4 s ... at most a
minute apart). A job found in `sending` after a restart may or may not have reached the
paper; it becomes `unconfirmed` and is never resent by itself, so a coupon is never printed
twice: a person looks at the printer and asks for a reprint, which says REPRINT on paper.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.domain import database
from hub.domain.clock import from_iso, to_iso
from hub.domain.config import PrinterSettings, Settings
from hub.domain.errors import InvalidInput, NotFound, Refused
from hub.domain.ids import new_id
from hub.domain.store import Store
from hub.workers import ThreadWorker

from .transport import PrinterError, PrinterNotReady, check_url, open_printer

MAX_BACKOFF_S = 60
DEFAULT = "default"
VIRTUAL = "virtual:"
OPEN_STATES = ("queued", "waiting")


class CouponAlreadyPrinted(Refused):
    code = "coupon_already_printed"


def named_printer(settings: Settings, name: str | None) -> PrinterSettings:
    """A configured printer by its name; the first configured one (or the built-in virtual
    printer) by default.

    This is all a device on the LAN may choose: a URL from a request would let any waiter
    make the hub append to a file or connect to any address (issue 16).
    """
    if name in (None, "", DEFAULT):
        if settings.printers:
            return settings.printers[0]
        return PrinterSettings(name=DEFAULT, url=VIRTUAL)
    for configured in settings.printers:
        if configured.name == name:
            return configured
    known = ", ".join(p.name for p in settings.printers) or DEFAULT
    raise InvalidInput(f"no printer named {name!r} in the settings (configured: {known})")


def printer_for(settings: Settings, printer: str | None) -> PrinterSettings:
    """A configured printer by name or URL, or an ad-hoc one from a URL: for the owner at the
    hub's shell (`laoke print ... --printer URL`) and for jobs the shell queued."""
    try:
        return named_printer(settings, printer)
    except InvalidInput:
        pass
    for configured in settings.printers:
        if configured.url == printer:
            return configured
    try:
        check_url(printer or "")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return PrinterSettings(name=printer or DEFAULT, url=printer or VIRTUAL)


def enqueue(store: Store, printer: PrinterSettings, kind: str, data: bytes, preview: str, *,
            subject: str | None = None, coupon_code: str | None = None, reprint: bool = False,
            requested_by: str = "system") -> dict[str, Any]:
    """Store a job; the caller's transaction may hold other changes (a coupon issued for it)."""
    now = store.now_iso()
    job = {"id": new_id(), "printer": printer.url if printer.name == printer.url else
           printer.name, "kind": kind, "subject": subject, "coupon_code": coupon_code,
           "reprint": int(reprint), "data": data, "preview": preview, "state": "queued",
           "attempts": 0, "last_error": None, "next_attempt_at": now, "created_at": now,
           "printed_at": None, "requested_by": requested_by}
    with store.write():
        try:
            store.conn.execute(
                f"INSERT INTO print_jobs ({', '.join(job)}) "
                f"VALUES ({', '.join(':' + k for k in job)})", job)
        except database.IntegrityError:
            raise CouponAlreadyPrinted(
                f"coupon {coupon_code} was already printed; ask for a reprint") from None
        if reprint:
            store.audit(requested_by, "print.reprint", subject, {"kind": kind})
    return public(job)


def public(job: dict[str, Any] | database.Row) -> dict[str, Any]:
    shown = dict(job)
    shown.pop("data", None)
    shown["reprint"] = bool(shown["reprint"])
    return shown


def get_job(store: Store, job_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
    if row is None:
        raise NotFound(f"no print job {job_id!r}")
    return dict(row)


def list_jobs(store: Store, limit: int = 50, open_only: bool = False) -> list[dict[str, Any]]:
    where = "WHERE state NOT IN ('printed', 'cancelled')" if open_only else ""
    rows = store.conn.execute(
        f"SELECT * FROM print_jobs {where} ORDER BY created_at DESC LIMIT ?", (limit,))
    return [public(r) for r in rows]


def cancel(store: Store, job_id: str, actor: str) -> dict[str, Any]:
    with store.write():
        job = get_job(store, job_id)
        if job["state"] not in (*OPEN_STATES, "unconfirmed"):
            raise InvalidInput(f"a {job['state']} job cannot be cancelled")
        store.conn.execute("UPDATE print_jobs SET state = 'cancelled' WHERE id = ?", (job_id,))
        store.audit(actor, "print.cancel", job_id, {"kind": job["kind"]})
    return public(get_job(store, job_id))


class PrintQueue(ThreadWorker):
    """Delivers due jobs; one per hub (its worker thread), or the CLI when no hub runs."""

    name = "print queue"

    def __init__(self, store: Callable[[], Store], spool: Path,
                 on_change: Callable[[dict[str, Any]], object] | None = None) -> None:
        super().__init__()
        self.store = store
        self.spool = spool
        self.on_change = on_change or (lambda job: None)
        self.printer_state: dict[str, dict[str, Any]] = {}

    def recover(self) -> int:
        """After a crash or restart: jobs caught mid-send are flagged, not resent."""
        store = self.store()
        with store.write():
            rows = store.conn.execute(
                "SELECT id FROM print_jobs WHERE state = 'sending'").fetchall()
            store.conn.execute(
                "UPDATE print_jobs SET state = 'unconfirmed', last_error = 'the hub stopped "
                "while sending this job: check the printer and ask for a reprint if it did "
                "not come out' WHERE state = 'sending'")
        for row in rows:
            self.on_change(public(get_job(store, row[0])))
        return len(rows)

    def _set(self, job_id: str, **fields: Any) -> dict[str, Any]:
        store = self.store()
        with store.write():
            sets = ", ".join(f"{k} = :{k}" for k in fields)
            store.conn.execute(f"UPDATE print_jobs SET {sets} WHERE id = :id",
                               {**fields, "id": job_id})
        job = public(get_job(store, job_id))
        self.on_change(job)
        return job

    def deliver(self, job: dict[str, Any]) -> dict[str, Any]:
        store = self.store()
        try:
            target = printer_for(store.settings, job["printer"])
        except InvalidInput:
            return self._set(job["id"], state="waiting", attempts=job["attempts"] + 1,
                             last_error=f"no printer {job['printer']!r} in the settings",
                             next_attempt_at=to_iso(store.now() + timedelta(
                                 seconds=MAX_BACKOFF_S)))
        self._set(job["id"], state="sending", attempts=job["attempts"] + 1)
        try:
            transport = open_printer(target.url, self.spool, target.width, job["id"])
            try:
                transport.check_ready()
                transport.send(job["data"])
                transport.confirm()
            finally:
                transport.close()
        except PrinterError as error:
            delay = min(MAX_BACKOFF_S, 2 ** job["attempts"])
            self.printer_state[target.name] = {
                "name": target.name, "url": target.url, "ready": False,
                "problem": error.reason, "paper_out": isinstance(error, PrinterNotReady)
                and "paper" in error.reason}
            return self._set(job["id"], state="waiting", last_error=error.reason,
                             next_attempt_at=to_iso(store.now() + timedelta(seconds=delay)))
        self.printer_state[target.name] = {"name": target.name, "url": target.url,
                                           "ready": True, "problem": None, "paper_out": False}
        return self._set(job["id"], state="printed", last_error=None,
                         printed_at=store.now_iso())

    def deliver_due(self) -> list[dict[str, Any]]:
        """One pass, oldest first. A printer's slips keep their order: while its oldest open
        job waits for its next attempt, the jobs behind it wait too."""
        store = self.store()
        now = store.now_iso()
        rows = store.conn.execute(
            "SELECT * FROM print_jobs WHERE state IN ('queued', 'waiting') "
            "ORDER BY created_at, id").fetchall()
        blocked: set[str] = set()
        done = []
        for row in rows:
            if row["printer"] in blocked:
                continue
            if row["next_attempt_at"] > now:
                blocked.add(row["printer"])
                continue
            result = self.deliver(dict(row))
            if result["state"] != "printed":
                blocked.add(row["printer"])
            done.append(result)
        return done

    def next_due_in(self) -> float:
        store = self.store()
        due = store.scalar("SELECT MIN(next_attempt_at) FROM print_jobs "
                           "WHERE state IN ('queued', 'waiting')")
        if due is None:
            return 1.0
        return max(0.0, min(1.0, (from_iso(due) - store.now()).total_seconds()))

    def begin(self) -> None:
        self.recover()

    def step(self, stop: threading.Event) -> float:
        """The hub's print worker: new jobs from any process are picked up within a second."""
        self.deliver_due()
        return self.next_due_in()


DONE = ("printed", "unconfirmed", "cancelled")


def follow(store: Store, spool: Path, job: dict[str, Any], *, deliver: bool,
           wait: bool) -> dict[str, Any]:
    """A job queued from the shell: delivered right here when no hub runs to do it
    (`deliver`), then followed until it is done when the caller waits; returns it as it is."""
    queue = PrintQueue(lambda: store, spool)
    while True:
        if deliver and job["state"] in ("queued", "waiting") and \
                job["next_attempt_at"] <= store.now_iso():
            job = queue.deliver(get_job(store, job["id"]))
        else:
            job = public(get_job(store, job["id"]))
        if not wait or job["state"] in DONE:
            return job
        time.sleep(0.2)
