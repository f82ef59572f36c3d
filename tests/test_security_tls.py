"""Issue 16, High 4: the LAN is hostile, so the hub speaks HTTPS and clients pin its key.

A fake hub announcing `_laoke._tcp` on loopback-narrowed zeroconf must collect no token; the
plain HTTP port answers /health and a redirect and nothing else; a pinned client refuses a
host with another key before sending anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from zeroconf import IPVersion, ServiceInfo, Zeroconf

from tests.support.hubproc import LAOKE, ROOT

SECRET = "tok-that-must-not-leak"


class FakeHub:
    """An HTTP server on loopback that announces itself as a laoke hub and keeps every
    credential it is sent: what an attacker on the shop's Wi-Fi would run."""

    def __init__(self, store_id: str = "shop-1", tls: bool = False) -> None:
        self.credentials: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.credentials.append(self.headers.get("Authorization") or "")
                body = b'{"status": "ok", "store_id": "%s"}' % store_id.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.zeroconf = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        properties = {"store_id": store_id, "version": "0.1.0", "api": "/api/v1"}
        if tls:
            properties |= {"tls": "1", "pin": "sha256/claimed-by-the-fake"}
        self.info = ServiceInfo(
            "_laoke._tcp.local.", f"laoke-fake-{self.port}._laoke._tcp.local.",
            addresses=[socket.inet_aton("127.0.0.1")], port=self.port, properties=properties,
            server=f"laoke-fake-{self.port}.local.")
        self.zeroconf.register_service(self.info)

    def close(self) -> None:
        self.zeroconf.unregister_service(self.info)
        self.zeroconf.close()
        self.server.shutdown()
        self.server.server_close()


def console(home, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAOKE_DISCOVERY_INTERFACES": "127.0.0.1"}
    return subprocess.run([str(LAOKE), "--home", str(home), "console", *args], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_a_fake_hub_announcing_on_the_lan_collects_no_token(tmp_path):
    fake = FakeHub()
    try:
        done = console(tmp_path / "elsewhere", "--token", SECRET)
    finally:
        fake.close()
    assert not [c for c in fake.credentials if SECRET in c], "the token went to the fake hub"
    assert done.returncode == 2, done.stderr
    assert "--pin" in done.stderr
