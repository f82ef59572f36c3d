"""The environment the tests run in is the lock: what a fresh machine installs is what passed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from tests.support.hubproc import ROOT


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_installed_distribution_is_the_locked_version():
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked: dict[str, set[str]] = {}
    for package in lock["package"]:
        locked.setdefault(canonical(package["name"]), set()).add(package["version"])
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    assert {name: version for name, version in installed.items()
            if version not in locked.get(name, set())} == {}
    for requirement in ("fastapi", "zeroconf", "textual", "paho-mqtt", "pytest", "playwright"):
        assert canonical(requirement) in installed

