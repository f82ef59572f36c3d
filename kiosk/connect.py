"""Where `laoke console` finds its hub: this machine's own (the address the running hub put in
its home's lock, and the home's local owner credential), else the first hub zeroconf finds
on the LAN, to which it sends only a token it was given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.domain.config import load_settings
from hub.domain.errors import InvalidInput
from hub.hublock import running_hub_url
from hub.runtime import CONSOLE_TOKEN

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class HubToUse:
    url: str
    token: str
    timezone: str


def find_hub(home: Path, url: str | None, token: str | None) -> HubToUse:
    local = running_hub_url(home) if (home / CONSOLE_TOKEN).exists() else None
    timezone = DEFAULT_TIMEZONE
    if url is None and local is not None:
        url, timezone = local, load_settings(home).timezone
    if url is None:
        from hub.discovery import find_hubs

        found = find_hubs(timeout=3)
        if not found:
            raise InvalidInput("no hub found: start `laoke hub run`, or pass --hub URL")
        url = found[0]["url"]
    if token is None:
        if local is None:
            raise InvalidInput("pass --token (from `laoke device add NAME --role manager` on "
                               "the hub)")
        token = (home / CONSOLE_TOKEN).read_text().strip()
    return HubToUse(url, token, timezone)
