"""Issue 16, High 4: the LAN is hostile, so the hub speaks HTTPS and clients pin its key.

A fake hub announcing `_laoke._tcp` on loopback-narrowed zeroconf must collect no token; the
plain HTTP port answers /health and a redirect and nothing else; a pinned client refuses a
host with another key before sending anything.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from zeroconf import IPVersion, ServiceInfo, Zeroconf

from hub.domain.config import load_settings, new_settings, write_settings
from hub.domain.errors import InvalidInput
from hub.tls import (
    certificate_request,
    ensure_certificate,
    home_certificate,
    install_certificate,
    peer_pin,
    renew_certificate,
    sign_request,
)
from kiosk.client import HubClient, HubError
from kiosk.connect import find_hub
from tests.support.hubproc import LAOKE, ROOT

SECRET = "tok-that-must-not-leak"


class FakeHub:
    """An HTTP server on loopback that announces itself as a laoke hub and keeps every
    credential it is sent: what an attacker on the shop's Wi-Fi would run."""

    def __init__(self, store_id: str = "shop-1", tls_home: Path | None = None,
                 claimed_pin: str | None = None) -> None:
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
        self.url = f"http://127.0.0.1:{self.port}"
        if tls_home is not None:  # TLS with a key of its own: it cannot have the hub's
            mine = ensure_certificate(tls_home, store_id, [])
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(mine.cert_file, mine.key_file)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.zeroconf = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        properties = {"store_id": store_id, "version": "0.1.0", "api": "/api/v1"}
        if tls_home is not None:
            properties |= {"tls": "1", "pin": claimed_pin or "sha256/claimed-by-the-fake"}
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


def laoke(home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LAOKE), "--home", str(home), *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_with_a_pin_the_console_skips_a_fake_hub_and_finds_the_real_one(
        shared_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("LAOKE_DISCOVERY_INTERFACES", "127.0.0.1")
    # the fake even announces the real hub's pin and store id: only the handshake counts
    fake = FakeHub(load_settings(shared_hub.home).store_id, tls_home=tmp_path / "fake",
                   claimed_pin=shared_hub.pin)
    try:
        found = find_hub(tmp_path / "elsewhere", None, SECRET, shared_hub.pin)
        with pytest.raises(HubError, match="not the paired hub"):
            HubClient(fake.url, SECRET, pin=shared_hub.pin)
    finally:
        fake.close()
    assert found.url == shared_hub.url and found.pin == shared_hub.pin
    assert fake.credentials == [], "the fake hub was sent a request"
    client = HubClient(found.url, shared_hub.owner_token, pin=found.pin)
    try:
        assert client.health()["status"] == "ok"
    finally:
        client.close()
    unpinned = HubClient(shared_hub.url, shared_hub.owner_token)  # the system's CAs only
    with pytest.raises(HubError, match="--pin"):
        unpinned.health()
    unpinned.close()


def test_the_pairing_link_carries_the_key_the_hub_serves(shared_hub):
    added = json.loads(laoke(shared_hub.home, "device", "add", "pad", "--role", "waiter",
                             "--json").stdout)
    shown = json.loads(laoke(shared_hub.home, "tls", "show", "--json").stdout)
    served, _ = peer_pin("127.0.0.1", shared_hub.port)
    assert added["pin"] == shown["pin"] == served == shared_hub.pin
    assert added["pair_url"].startswith("https://")
    assert "&pin=" + served.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D") \
        in added["pair_url"]
    with shared_hub.client() as owner:
        code = owner.post("/devices/pairing-codes", json={"role": "kiosk"}).json()
    assert code["pair_url"].startswith(shared_hub.url) and "&pin=sha256%2F" in code["pair_url"]


def test_plain_http_answers_health_and_a_redirect_and_refuses_the_rest(shared_hub):
    plain = f"http://127.0.0.1:{shared_hub.port}"  # the same port speaks both
    token = shared_hub.owner_token
    with httpx.Client(base_url=plain, follow_redirects=False, timeout=10) as lan:
        health = lan.get("/api/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        moved = lan.get("/tablet?lang=en")
        assert moved.status_code == 301
        assert moved.headers["location"] == f"https://127.0.0.1:{shared_hub.port}/tablet?lang=en"
        refused = [
            lan.get("/api/v1/health", headers={"Authorization": f"Bearer {token}"}),
            lan.get("/api/v1/members/search", headers={"Authorization": f"Bearer {token}"}),
            lan.get("/api/v1/events", params={"access_token": token}),
            lan.get("/tablet", headers={"Cookie": f"laoke_device={token}"}),
            lan.get("/pair", params={"code": "123456"}),
            lan.post("/api/v1/pair", json={"code": "123456", "name": "x"}),
            lan.post("/api/v1/shifts", json={"pin": "4321"}),
            lan.get("/api/v1/health", headers={"X-Staff-Pin": "4321"}),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert all("https://" in r.json()["message"] for r in refused)
    # bytes that are neither TLS nor HTTP get a 400 and leave the port serving both
    with socket.create_connection(("127.0.0.1", shared_hub.port), timeout=10) as raw:
        raw.sendall(b"\x00\x01 not a request\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    with shared_hub.client() as owner:
        assert owner.get("/health").json()["status"] == "ok"


def test_the_trust_page_offers_the_ca_with_its_fingerprint(shared_hub):
    shown = json.loads(laoke(shared_hub.home, "tls", "show", "--json").stdout)
    with httpx.Client(base_url=shared_hub.url, verify=shared_hub.verify) as browser:
        assert "href=/trust" in browser.get("/").text
        page = browser.get("/trust")
        assert page.status_code == 200 and shown["ca_fingerprint"] in page.text
        assert "信任门店证书" in page.text and "Trust this store" in page.text
        ca = browser.get("/trust/ca.crt")
    assert ca.content == Path(shown["ca_file"]).read_bytes()
    assert ca.headers["content-type"] == "application/x-x509-ca-cert"


def test_an_older_home_keeps_plain_http_until_its_owner_turns_tls_on(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    older = new_settings("shop-old")
    older.api.tls = False  # what every home written before HTTPS became the default says
    write_settings(home, older)
    added = json.loads(laoke(home, "device", "add", "pad", "--role", "waiter",
                             "--json").stdout)
    assert added["pair_url"].startswith("http://") and added["pin"] is None
    assert not (home / "tls").exists()
    enabled = laoke(home, "tls", "enable")
    assert enabled.returncode == 0, enabled.stderr
    assert load_settings(home, environ={}).api.tls
    certificate = home_certificate(home)
    assert certificate is not None and certificate.pin in enabled.stdout


def _chain_ca(folder: Path) -> tuple[Path, Path]:
    """The chain's CA as HQ would keep it (RSA, as many company CAs still are)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chain CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir()
    (folder / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "ca.crt", folder / "ca.key"


def test_the_chains_ca_signs_a_stores_certificate_and_the_pin_stays(tmp_path):
    home = tmp_path / "store"
    ca_cert, ca_key = _chain_ca(tmp_path / "hq")
    assert laoke(home, "tls", "request", "--out", str(tmp_path / "store.csr")).returncode == 0
    before = home_certificate(home)
    signed = laoke(tmp_path / "hq-home", "hq", "tls", "sign", str(tmp_path / "store.csr"),
                   "--ca-cert", str(ca_cert), "--ca-key", str(ca_key),
                   "--out", str(tmp_path / "store.crt"))
    assert signed.returncode == 0, signed.stderr
    # a certificate for another key is refused, and nothing changes
    other = certificate_request(tmp_path / "other", "shop-9", [])
    for_other = sign_request(other, ca_cert.read_bytes(), ca_key.read_bytes())
    served = (home / "tls" / "hub.crt").read_bytes()
    with pytest.raises(InvalidInput, match="not for this hub's key"):
        install_certificate(home, for_other)
    assert (home / "tls" / "hub.crt").read_bytes() == served
    installed = laoke(home, "tls", "install", str(tmp_path / "store.crt"))
    assert installed.returncode == 0, installed.stderr
    after = json.loads(laoke(home, "tls", "show", "--json").stdout)
    assert before is not None and after["pin"] == before.pin, "paired devices keep working"
    assert after["signed_by"] == "the chain's CA" and not (home / "tls" / "ca.key").exists()
    assert Path(after["ca_file"]).read_bytes() == ca_cert.read_bytes()
    # a browser that trusts the chain's CA trusts this hub, by its name
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(home / "tls" / "hub.crt", home / "tls" / "hub.key")
    store_id = load_settings(home).store_id
    client = ssl.create_default_context(cafile=str(ca_cert))
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: _accept_once(listener, server), daemon=True).start()
    with socket.create_connection(listener.getsockname()) as raw, \
            client.wrap_socket(raw, server_hostname=f"laoke-{store_id}.local") as wrapped:
        assert wrapped.version() is not None
    listener.close()


def _accept_once(listener: socket.socket, context: ssl.SSLContext) -> None:
    conn, _ = listener.accept()
    with context.wrap_socket(conn, server_side=True) as wrapped:
        wrapped.recv(1)


def test_a_renewed_certificate_keeps_the_pin_and_the_ca_tablets_installed(tmp_path):
    first = ensure_certificate(tmp_path, "shop-1", ["192.0.2.7"])
    ca, served = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    renewed = renew_certificate(tmp_path, "shop-1", ["192.0.2.8"])
    assert renewed.pin == first.pin and renewed.ca_file.read_bytes() == ca
    leaf = x509.load_pem_x509_certificates(renewed.cert_file.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert renewed.cert_file.read_bytes() != served
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1",
                                                                          "192.0.2.8"]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
