"""Attacks from the shop's LAN (issue 16), each against a real hub over loopback HTTP.

Every test plays someone holding a paired device of some role and tries to get more than
that role: a file written, a PIN guessed, a phone unmasked, a guest's data left behind.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from hub.domain.devices import ROLES
from printer.queue import PrintQueue, enqueue
from printer.transport import PrinterUnavailable, open_printer

LINES = [{"dish": "面", "qty": 1, "unit_price_fen": 1800}]


@pytest.fixture(scope="module")
def world(shared_hub):
    """A guest checked in at table 3 and a device of every role on the shared hub."""
    with shared_hub.client() as owner:
        member = owner.post("/members", json={"name": "安全", "phone": "137 0000 0001",
                                              "allergies": ["花生"],
                                              "marketing_consent": True}).json()
        visit = owner.post("/checkins", json={"member_id": member["id"], "table": "3",
                                              "party_size": 2}).json()
        tokens = {role: owner.post("/devices", json={"name": f"{role} tab", "role": role})
                  .json()["token"] for role in ROLES}
    return {"member": member["id"], "visit": visit["id"], "tokens": tokens}


# -- High 1: a printer is chosen by name over the API ------------------------------------------

class Listener:
    """A TCP port on loopback that records whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connected.set()
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("role", ["waiter", "owner"])
def test_no_print_endpoint_takes_a_printer_url(shared_hub, world, role):
    config = shared_hub.home / "laoke.toml"
    before = config.read_bytes()
    listener = Listener()
    try:
        urls = [f"file://{config}", f"tcp://127.0.0.1:{listener.port}",
                "serial://loop://", "file:///tmp/laoke-attack.bin"]
        with shared_hub.client(world["tokens"][role]) as api:
            for url in urls:
                answer = api.post("/print/kitchen", json={"visit_id": world["visit"],
                                                          "printer": url})
                assert answer.status_code == 422, answer.text
                assert "no printer" in answer.json()["message"]
            if role == "owner":
                answer = api.post("/print/test", json={"printer": urls[1]})
                assert answer.status_code == 422, answer.text
            # The configured (default) printer by name still works.
            assert api.post("/print/kitchen", json={"visit_id": world["visit"],
                                                    "printer": "default"}).status_code == 202
        assert not listener.connected.wait(1.5), "the hub connected to an address it was sent"
    finally:
        listener.close()
    assert config.read_bytes() == before
    assert not Path("/tmp/laoke-attack.bin").exists()


def test_file_printers_write_only_inside_the_spool(tmp_path, store):
    spool = tmp_path / "spool"
    spool.mkdir()
    outside = tmp_path / "laoke.toml"
    outside.write_text("store_id = 's1'\n")
    for url in (f"file://{outside}", f"file://{spool}/../laoke.toml"):
        with pytest.raises(PrinterUnavailable, match="spool"):
            open_printer(url, spool).send(b"\x1b@")
    assert outside.read_text() == "store_id = 's1'\n"
    inside = open_printer(f"file://{spool}/slips.bin", spool)
    inside.check_ready()
    inside.send(b"\x1b@")
    assert (spool / "slips.bin").read_bytes() == b"\x1b@"
    # A job for a path outside the spool waits with the reason; nothing is written.
    from hub.domain.config import PrinterSettings

    job = enqueue(store, PrinterSettings(name=f"file://{outside}", url=f"file://{outside}"),
                  "test", b"\x1b@", "test")
    delivered = PrintQueue(lambda: store, spool).deliver(job)
    assert delivered["state"] == "waiting" and "spool" in delivered["last_error"]
    assert outside.read_text() == "store_id = 's1'\n"
