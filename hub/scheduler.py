"""The hub's own clock: closes the books each night (points expire, tiers follow the window),
ends the shifts left open past their idle time or closing time, runs the campaigns that are
due, sends what is waiting (offline too), and gives back stored-value slices and HQ approvals
left unused; last, with `[backup] dir` set, it backs the database up once a night.

A worker (hub.workers) with its own database connection; a campaign that fails to run is
logged and tried again on the next tick, and nothing it does can stop the hub.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .backup import nightly_backup
from .domain.authority import release_idle_slices, release_unused_approvals
from .domain.campaigns import due_campaigns, run_campaign
from .domain.errors import LaokeError
from .domain.nightly import close_books
from .domain.outreach import recover
from .domain.shifts import close_lapsed
from .domain.store import Store
from .messaging import Channel, Dispatcher
from .workers import ThreadWorker

log = logging.getLogger(__name__)


class CampaignScheduler(ThreadWorker):
    """Set `wake` to tick now (a campaign was run by hand)."""

    name = "scheduler"

    def __init__(self, open_store: Callable[[], Store], channels: dict[str, Channel],
                 interval: float = 30.0,
                 on_run: Callable[[dict[str, Any]], object] | None = None) -> None:
        super().__init__()
        self.open_store = open_store
        self.channels = channels
        self.interval = interval
        self.on_run = on_run

    def tick(self) -> list[dict[str, Any]]:
        """Close last night's books if due, run the due campaigns (over this morning's tiers),
        then send the due messages; returns the runs."""
        store = self.open_store()
        close_books(store)
        close_lapsed(store)
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
        release_unused_approvals(store)
        nightly_backup(store)  # last: a missing USB stick must not hold up the rest
        return runs

    def begin(self) -> None:
        recover(self.open_store())

    def step(self, stop: threading.Event) -> float:
        self.tick()
        return self.interval
