"""The store's optional bridge (config/mosquitto/store.conf) must carry every topic the
broker's ACL lets a store use, in the ACL's direction: a topic left out is silent (a store
behind the bridge that says hello is never welcomed, and nothing tells it why)."""

import re
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "config" / "mosquitto"


def _acl_topics() -> set[tuple[str, str]]:
    """What a store may do, as (topic under the store, bridge direction)."""
    found = set()
    for line in (CONFIG / "laoke.acl").read_text().splitlines():
        match = re.fullmatch(r"pattern (read|write) laoke/v1/stores/%u/(\S+)", line.strip())
        if match:
            found.add((match[2], "out" if match[1] == "write" else "in"))
    return found


def _bridged_topics() -> set[tuple[str, str]]:
    found = set()
    for line in (CONFIG / "store.conf").read_text().splitlines():
        match = re.fullmatch(r"topic laoke/v1/stores/STORE_ID/(\S+) (in|out) 1", line.strip())
        if match:
            found.add((match[1], match[2]))
    return found


def test_the_store_bridge_carries_every_store_topic_the_acl_allows_in_its_direction() -> None:
    acl = _acl_topics()
    assert ("hello", "out") in acl and ("welcome", "in") in acl
    assert _bridged_topics() == acl
