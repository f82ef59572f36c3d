"""HQ's side of sync: apply every store's events exactly once, in order, by (store, seq).

Storage is behind `HqBook` (SQLite by default). Several receivers may share one subscription
(MQTT 5 `$share`), and MQTT may deliver twice: the applied watermark is checked and moved in
the same transaction as the events, so nothing is ever applied twice. A gap (seq jumps) is
not applied; HQ asks the store to send again from the first missing seq. A message that is
not valid JSON, names another store than its topic, or comes from a newer schema is parked
in `hq_dead_letters` with the reason: never applied, never dropped silently. One event HQ
cannot apply is parked on its own, once; its store is marked as needing attention
(`laoke hq stores`) and the rest of its stream flows on.
"""

from .book import DeadLetter, HqBook
from .receiver import Receiver

__all__ = ["DeadLetter", "HqBook", "Receiver"]
