"""A real hub process for tests: `laoke hub run` on a free loopback port, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from hub.domain.config import CONFIG_NAME, load_settings
from hub.hublock import LOCK_NAME, running_hub_url
from hub.ports import free_port
from hub.tls import CA_CERT, TLS_DIR, ca_context, home_certificate

ROOT = Path(__file__).resolve().parents[2]
LAOKE = Path(sys.executable).with_name("laoke")  # the installed entry point, as users run it


def signup(api, phone, **fields):
    """A guest signed up over HTTP, as the kiosk or a tablet does; the answer as it came."""
    return api.post("/members", json={"name": "王芳", "phone": phone,
                                      "marketing_consent": True, **fields})


def wait_until(check, timeout=20.0):
    """Poll until `check()` is truthy and return it; fail the test when time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def serves_tls(home: Path) -> bool:
    """What the home will serve: a new one HTTPS, an existing one what its file says."""
    return not (home / CONFIG_NAME).exists() or load_settings(home, environ={}).api.tls


class RunningHub:
    """The hub as a paired device sees it: over HTTPS when its home serves it (every new
    home does), trusting the home's own CA with host names checked, one TLS context per
    hub so its clients reuse it; `pin` for clients that pin, as the console does."""

    def __init__(self, home: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"{'https' if serves_tls(home) else 'http'}://127.0.0.1:{self.port}"
        self.verify: ssl.SSLContext | bool = True
        self.extra = extra
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> RunningHub:
        # Loopback only, for listening and for zeroconf: a test hub must not send mDNS onto
        # the test machine's real network. The defaults (0.0.0.0, every interface) are what
        # tests/test_daemon.py runs, inside a network namespace of its own.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "--home", str(self.home), "hub", "run", "--host",
             "127.0.0.1", "--port", str(self.port),
             "--discovery-interfaces", "127.0.0.1", *self.extra], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited: {self.process.stdout.read().decode()}")
            announced = running_hub_url(self.home) if (self.home / LOCK_NAME).exists() else None
            if announced is not None:
                self.url = announced
                if announced.startswith("https:"):
                    self.verify = ca_context(self.home / TLS_DIR / CA_CERT)
                try:
                    if httpx.get(f"{self.url}/api/v1/health", timeout=1,
                                 verify=self.verify).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        self.process.kill()  # a hub left running would load the machine for every other test
        self.process.wait(10)
        raise TimeoutError("hub did not come up")

    @property
    def ca_file(self) -> str:
        return str(self.home / TLS_DIR / CA_CERT)

    @property
    def pin(self) -> str | None:
        certificate = home_certificate(self.home)
        return certificate.pin if certificate else None

    @property
    def owner_token(self) -> str:
        return (self.home / "console.token").read_text().strip()

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        token = self.owner_token if token is None else token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers={**auth, **headers},
                            timeout=10, verify=self.verify)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.output = self.process.stdout.read().decode() if self.process.stdout else ""
        return code


class EventReader:
    """Reads the SSE stream in a thread the way a tablet's EventSource would."""

    def __init__(self, hub, token, last_id=None):
        self.events, self.ready = [], threading.Event()
        headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
        self.verify = hub.verify
        self.thread = threading.Thread(target=self._run, args=(hub.url, token, headers),
                                       daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self, url, token, headers):
        try:
            with httpx.stream("GET", f"{url}/api/v1/events", params={"access_token": token},
                              headers=headers, timeout=30, verify=self.verify) as response:
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.ready.set()
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except httpx.TransportError:
            pass  # the hub stopped at the end of the module: the stream ends

    def wait_for(self, type_, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["type"] == type_:
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no {type_} event; got {[e['type'] for e in self.events]}")
