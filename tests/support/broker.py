"""The tests' broker: a real mosquitto on a free loopback port (see sync.localbroker), and
one with users under the ACL the project ships, as a chain's broker runs."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sync.localbroker import ACL, Mosquitto, mosquitto_binary

__all__ = ["ACL", "Mosquitto", "acl_broker", "mosquitto_binary"]


@contextmanager
def acl_broker(folder: Path, users: dict[str, str]) -> Iterator[int]:
    """mosquitto with these users (name: password) and config/mosquitto/laoke.acl, no
    anonymous access; yields its port."""
    broker = Mosquitto(folder, users=users).start()
    try:
        yield broker.port
    finally:
        broker.stop()
