"""Where `laoke console` finds its hub, and how it knows it is that hub.

On the hub's own machine: the address the running hub put in its home's lock, the home's
local owner credential, and the home's own key as the pin. Elsewhere the console has a token
someone gave it, so it sends that token only to a hub holding the key its pin names: a host
on the LAN that merely announces `_laoke._tcp` (anyone can) gets nothing.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.domain.config import ENV_PREFIX, load_settings
from hub.domain.errors import InvalidInput
from hub.hublock import running_hub_url
from hub.runtime import CONSOLE_TOKEN
from hub.tls import home_certificate, peer_pin

DEFAULT_TIMEZONE = "Asia/Shanghai"
DISCOVERY_ROUNDS = 3
PIN_HELP = ("the pin is in the pairing link (pin=...) and in `laoke tls show` at the hub")


@dataclass(frozen=True)
class HubToUse:
    url: str
    token: str
    timezone: str
    pin: str | None = None


def _holds_pin(hub: dict[str, Any], pin: str) -> bool:
    """Whether the discovered hub's TLS key is the pinned one (what it announces is not
    believed: the handshake is asked, before anything is sent)."""
    parts = urlsplit(hub["url"])
    try:
        found, _ = peer_pin(parts.hostname or "", parts.port or 443, timeout=3)
    except (OSError, ssl.SSLError, InvalidInput):
        return False
    return found == pin


def _discovered(pin: str | None) -> str:
    from hub.discovery import find_hubs, parse_interfaces

    if pin is None:
        raise InvalidInput("a hub found on the LAN gets a token only when it proves the "
                           f"pinned key: pass --pin ({PIN_HELP}), or --hub URL --pin")
    # $LAOKE_DISCOVERY_INTERFACES, as the hub reads it: where to look (tests: loopback)
    interfaces = parse_interfaces(os.environ.get(ENV_PREFIX + "DISCOVERY_INTERFACES", ""))
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(DISCOVERY_ROUNDS):  # hubs answer at their own pace: look again a while
        for hub in find_hubs(timeout=3, interfaces=interfaces):
            if hub["url"] in seen:
                continue
            seen[hub["url"]] = hub
            if hub["url"].startswith("https:") and _holds_pin(hub, pin):
                return str(hub["url"])
    if not seen:
        raise InvalidInput("no hub found: start `laoke hub run`, or pass --hub URL")
    raise InvalidInput(f"none of the {len(seen)} hubs found holds the pinned key; "
                       "nothing was sent")


def find_hub(home: Path, url: str | None, token: str | None,
             pin: str | None = None) -> HubToUse:
    local = running_hub_url(home) if (home / CONSOLE_TOKEN).exists() else None
    timezone = DEFAULT_TIMEZONE
    if url is None and local is not None:
        url, timezone = local, load_settings(home).timezone
        certificate = home_certificate(home)
        if url.startswith("https:") and certificate is not None:
            pin = certificate.pin
    if url is None:
        url = _discovered(pin)
    if token is None:
        if local is None:
            raise InvalidInput("pass --token (from `laoke device add NAME --role manager` on "
                               "the hub)")
        token = (home / CONSOLE_TOKEN).read_text().strip()
    return HubToUse(url, token, timezone, pin)
