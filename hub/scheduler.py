"""The hub's own clock: runs the campaigns that are due, sends what is waiting (offline too),
and gives back stored-value slices left unused.

One thread, its own database connection; a campaign that fails to run is logged and tried
again on the next tick, and nothing it does can stop the hub.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .domain.authority import release_idle_slices
from .domain.campaigns import due_campaigns, run_campaign
from .domain.errors import LaokeError
from .domain.outreach import recover
from .domain.store import Store
from .messaging import Channel, Dispatcher

log = logging.getLogger(__name__)


class CampaignScheduler:
    def __init__(self, open_store: Callable[[], Store], channels: dict[str, Channel],
                 interval: float = 30.0,
                 on_run: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.open_store = open_store
        self.channels = channels
        self.interval = interval
        self.on_run = on_run
        self.stop = threading.Event()
        self.wake = threading.Event()  # set to tick now (a campaign was run by hand)
        self.thread: threading.Thread | None = None

    def tick(self) -> list[dict[str, Any]]:
        """Run the due campaigns, then send the due messages; returns the runs."""
        store = self.open_store()
        runs = []
        for campaign_id in due_campaigns(store):
            try:
                result = run_campaign(store, campaign_id)
            except LaokeError as error:
                log.warning("campaign %s did not run: %s", campaign_id, error)
                continue
            runs.append(result)
            if self.on_run is not None:
                self.on_run(result)
        Dispatcher(store, self.channels).run_once()
        release_idle_slices(store)
        return runs

    def _loop(self) -> None:
        recover(self.open_store())
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception:  # a bad day for one campaign must not end the others
                log.exception("campaign scheduler tick failed")
            self.wake.wait(self.interval)
            self.wake.clear()

    def start(self) -> CampaignScheduler:
        self.thread = threading.Thread(target=self._loop, name="campaigns", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=15)
