"""A second store built from the first one's outbox, as a restore from HQ builds it: what a
hub must know again once it has only its own events back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.domain.restore import restore_event
from hub.domain.store import Store


@contextmanager
def replayed(store: Store, path: Path, settings: Any, clock: Any) -> Iterator[Store]:
    events = [{"type": r["type"], "data": json.loads(r["data"])}
              for r in store.conn.execute("SELECT type, data FROM outbox ORDER BY seq")]
    with Store(path, settings, clock) as restored:
        with restored.write():
            for event in events:
                restore_event(restored, event)
        yield restored
