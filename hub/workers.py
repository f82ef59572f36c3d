"""One lifecycle for every background worker of the hub: start, stop, state.

The print queue, each card reader, the sync publisher, the campaign scheduler, the weather
refresher, the group-buy voucher verifier and the LAN registry are workers. The daemon starts
them in one loop and stops them in reverse, and `/health` shows each one's state, so none can
die without saying so: a thread worker's loop survives any exception in a step, logs it, keeps
it as its last error, backs off and carries on.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol, Self

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


class Worker(Protocol):
    """What the daemon and `/health` know of a worker. A worker on the event loop (the LAN
    registry) may make `start` and `stop` coroutines."""

    name: str

    def start(self) -> Any: ...

    def stop(self) -> Any: ...

    def state(self) -> dict[str, Any]: ...


class ThreadWorker:
    """A worker with a thread of its own that runs `step` until stopped.

    `step` does one pass and says how long to wait before the next; `wake` cuts the wait
    short. `begin` runs before the first step (and again after it failed); `end` runs once
    when the loop ends.
    """

    name = "worker"

    def __init__(self) -> None:
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = 0  # consecutive failed steps: how long to back off
        self.failures = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None  # time.time()

    def begin(self) -> None:
        """Before the first step: recover what a crash left, connect."""

    def step(self, stop: threading.Event) -> float:
        """One pass; returns the seconds until the next one."""
        raise NotImplementedError

    def end(self) -> None:
        """After the last step: say goodbye, disconnect."""

    def failed(self, error: BaseException) -> None:
        """Keep an error as the worker's last; a subclass may also mark itself down."""
        self.failures += 1
        self._failing += 1
        self.last_error = f"{type(error).__name__}: {error}"
        self.last_error_at = time.time()

    def run(self, stop: threading.Event) -> None:
        """The loop: nothing a step raises ends it, only `stop` does."""
        begun = False
        try:
            while not stop.is_set():
                try:
                    if not begun:
                        self.begin()
                        begun = True
                    delay = self.step(stop)
                    self._failing = 0
                except Exception as error:  # a bug in one pass must not end the worker
                    log.exception("%s failed; carrying on", self.name)
                    self.failed(error)
                    delay = min(MAX_BACKOFF_S, 2.0 ** (self._failing - 1))
                if delay > 0 and not stop.is_set():
                    self.wake.wait(delay)
                    self.wake.clear()
        finally:
            if begun:
                try:
                    self.end()
                except Exception:
                    log.exception("%s did not end cleanly", self.name)

    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name=self.name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def state(self) -> dict[str, Any]:
        if self._thread is None:
            state = "not started"
        elif not self._thread.is_alive():
            state = "stopped"
        else:
            state = "failing" if self._failing else "running"
        return {"name": self.name, "state": state, "failures": self.failures,
                "last_error": self.last_error, "last_error_at": self.last_error_at}


async def start_all(workers: Iterable[Worker]) -> None:
    for worker in workers:
        await _done(worker.start())


async def stop_all(workers: Iterable[Worker]) -> None:
    """Stop in reverse order; one that fails to stop does not keep the others running."""
    for worker in reversed(list(workers)):
        try:
            await _done(worker.stop())
        except Exception:
            log.exception("%s did not stop cleanly", worker.name)


async def _done(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


def workers_of(hub: Any) -> list[Worker]:
    """The running hub's workers in the order they start: printing first (a checkout may
    queue a receipt at once), discovery last (announce only a hub that is ready)."""
    found: list[Any] = [hub.printing, *(hub.readers or []), hub.sync, hub.campaigns,
                        hub.weather, hub.group_buy, hub.lan]
    return [worker for worker in found if worker is not None]

