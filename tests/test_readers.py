"""Card readers: parsers against random bytes, the service against real pseudo-terminals."""

import contextlib
import os
import pty
import threading
import time
import tty

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.config import ReaderSettings
from hub.domain.members import block_card, link_card, member_qr
from hub.readers.parsers import Lines, Rdm6300, Read, Rejected, Track2, rdm6300_frame
from hub.readers.service import Reader

tags = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())


@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    for parser in (Rdm6300(), Track2(), Lines()):
        for start in range(0, len(data), 7):  # in pieces, as a port delivers them
            parser.feed(data[start:start + 7])


@given(st.lists(st.tuples(st.binary(max_size=20).map(lambda b: b.replace(b"\x02", b"")), tags),
                min_size=1, max_size=5), st.integers(1, 16))
def test_rdm6300_frames_in_noise_are_found(pieces, chunk):
    stream = b"".join(noise + rdm6300_frame(tag) for noise, tag in pieces)
    parser, reads = Rdm6300(), []
    for start in range(0, len(stream), chunk):
        reads += parser.feed(stream[start:start + chunk])
    assert [r.value for r in reads if isinstance(r, Read)] == [tag for _, tag in pieces]


def test_rdm6300_checksum_and_resync():
    good = rdm6300_frame("0100ABCDEF")
    bad = good[:11] + (b"0" if good[11:12] != b"0" else b"1") + good[12:]
    results = Rdm6300().feed(b"\x02\x02zz" + bad + good)
    assert isinstance(results[0], Rejected) and results[0].reason == "checksum mismatch"
    assert results[1] == Read("0100ABCDEF")


@given(st.lists(st.tuples(st.binary(max_size=20).map(
    lambda b: b.replace(b";", b"").replace(b"?", b"")),
    st.text("0123456789", min_size=12, max_size=19)), min_size=1, max_size=4))
def test_track2_in_noise(pieces):
    stream = b"".join(noise + f";{pan}=2812101?".encode() for noise, pan in pieces)
    reads = [r.value for r in Track2().feed(stream) if isinstance(r, Read)]
    assert reads == [pan for _, pan in pieces]


def test_lines_and_junk():
    results = Lines().feed(b"LKM1.abc.DEF\r\n\n6901234567892\rbad\x00code\n" + b"x" * 600)
    assert results[:2] == [Read("LKM1.abc.DEF"), Read("6901234567892")]
    assert isinstance(results[2], Rejected) and isinstance(results[3], Rejected)


class FakePort:
    """A pty pair behind a stable path, the way a USB reader is /dev/ttyUSB0 after replug."""

    def __init__(self, path):
        self.path = path
        self.plug()

    def plug(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        if os.path.lexists(self.path):
            os.unlink(self.path)
        os.symlink(os.ttyname(self.slave), self.path)

    def unplug(self):
        os.close(self.master)
        os.close(self.slave)

    def send(self, data):
        os.write(self.master, data)


class Events:
    def __init__(self):
        self.items, self.lock = [], threading.Lock()

    def __call__(self, type_, data):
        with self.lock:
            self.items.append((type_, data, time.monotonic()))

    def wait(self, type_, count=1, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.items if e[0] == type_]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"{count} x {type_} not seen: {[e[0] for e in self.items]}")


@pytest.fixture
def reader_on_pty(store, tmp_path):
    port = FakePort(tmp_path / "ttyREADER")
    events = Events()
    reader = Reader(ReaderSettings(url=str(port.path), protocol="rdm6300", station="door"),
                    lambda: store_for_thread(store), events)
    stop = threading.Event()
    thread = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    thread.start()
    events.wait("reader.connected")
    yield port, events, reader
    stop.set()
    thread.join(5)
    with contextlib.suppress(OSError):
        port.unplug()


_stores = threading.local()


def store_for_thread(store):
    """Each thread its own connection to the test's database, as the hub does."""
    from hub.domain.store import Store

    if not hasattr(_stores, "store") or _stores.path != store.path:
        _stores.store, _stores.path = Store(store.path, store.settings, store.clock), store.path
    return _stores.store


def test_a_card_read_names_its_guest_once_while_held(store, guest, reader_on_pty):
    port, events, _ = reader_on_pty
    link_card(store, guest["id"], "0100ABCDEF")
    for _ in range(5):  # an RDM6300 repeats while the card stays on the reader
        port.send(rdm6300_frame("0100ABCDEF"))
    [(_, read, _)] = events.wait("card.read")
    assert read["status"] == "member" and read["member"]["name"] == "王芳"
    assert read["member"]["allergies"] == ["对虾"] and read["station"] == "door"
    time.sleep(0.3)
    assert len([e for e in events.items if e[0] == "card.read"]) == 1


def test_unknown_and_blocked_cards(store, guest, reader_on_pty):
    port, events, _ = reader_on_pty
    port.send(rdm6300_frame("FFFFFFFFFF"))
    unknown = events.wait("card.read")[0][1]
    assert unknown["status"] == "unknown" and "link" in unknown["message"]
    link_card(store, guest["id"], "0100000001")
    block_card(store, "0100000001", "丢失")
    port.send(rdm6300_frame("0100000001"))
    blocked = events.wait("card.read", 2)[1][1]
    assert blocked["status"] == "blocked" and "丢失" in blocked["message"]
    port.send(b"\x02" + b"0100000001" + b"FF" + b"\x03")  # XOR is 00, not FF
    assert events.wait("card.rejected")[0][1]["reason"] == "checksum mismatch"


def test_unplug_and_replug_reopens_within_two_seconds(reader_on_pty, store, guest):
    port, events, reader = reader_on_pty
    link_card(store, guest["id"], "0100ABCDEF")
    port.unplug()
    events.wait("reader.disconnected")
    assert reader.state()["connected"] is False
    replugged = time.monotonic()
    port.plug()
    connected = events.wait("reader.connected", 2)[1][2]
    assert connected - replugged < 2.0
    port.send(rdm6300_frame("0100ABCDEF"))
    assert events.wait("card.read")[0][1]["status"] == "member"


def test_member_qr_codes_on_a_line_scanner(store, guest, tmp_path):
    port = FakePort(tmp_path / "ttySCAN")
    events = Events()
    reader = Reader(ReaderSettings(url=str(port.path), protocol="line", station="cashier"),
                    lambda: store_for_thread(store), events)
    stop = threading.Event()
    threading.Thread(target=reader.run, args=(stop,), daemon=True).start()
    try:
        events.wait("reader.connected")
        payload = member_qr(store, guest["id"])
        port.send(payload.encode() + b"\r\n")
        ok = events.wait("card.read")[0][1]
        assert ok["status"] == "member" and ok["qr"] and ok["number"] is None
        port.send(payload[:-2].encode() + b"XX\r\n")
        forged = events.wait("card.read", 2)[1][1]
        assert forged["status"] == "invalid" and "signature" in forged["message"]
    finally:
        stop.set()
        port.unplug()


def test_a_frame_on_the_wire_becomes_a_checkin_on_the_event_stream(tmp_path):
    from hub.domain.config import ReaderSettings, load_settings, write_settings
    from hub.home import open_store
    from tests.support.hubproc import EventReader, RunningHub

    home = tmp_path / "home"
    port = FakePort(tmp_path / "ttyUSB0")
    with open_store(home) as store:
        from hub.domain.members import NewMember, add_member

        member = add_member(store, NewMember(name="王芳", phone="13800138000",
                                             allergies=["对虾"], notes="微辣, 不放花椒"))
        link_card(store, member["id"], "0100ABCDEF")
    settings = load_settings(home)
    settings.readers = [ReaderSettings(url=str(port.path), protocol="rdm6300", station="A8",
                                       checkin=True)]
    write_settings(home, settings)
    hub = RunningHub(home).start()
    try:
        tablet = EventReader(hub, hub.owner_token)
        with hub.client() as api:
            deadline = time.monotonic() + 5
            while not api.get("/health").json()["readers"][0]["connected"]:
                assert time.monotonic() < deadline, "the reader never connected"
                time.sleep(0.05)
        port.send(rdm6300_frame("0100ABCDEF"))
        read = tablet.wait_for("card.read")
        assert read["data"]["member"]["name"] == "王芳"
        seated = tablet.wait_for("checkin.created")["data"]
        assert seated["table"] == "A8" and seated["member"]["allergies"] == ["对虾"]
        with hub.client() as api:
            visits = api.get(f"/members/{member['id']}/visits").json()["visits"]
        assert visits[0]["table_no"] == "A8"
    finally:
        hub.stop()
        port.unplug()


def test_reader_watch_for_installers(tmp_path):
    import subprocess
    import sys

    from tests.support.hubproc import ROOT

    port = FakePort(tmp_path / "ttyWATCH")
    watch = subprocess.Popen(
        [sys.executable, "-m", "hub", "--home", str(tmp_path / "home"), "reader", "watch",
         str(port.path), "--protocol", "rdm6300", "--count", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert watch.stderr is not None
    ready = watch.stderr.readline()  # the port is open: what is sent now is read
    assert ready.startswith("watching "), ready
    port.send(b"noise" + rdm6300_frame("0100ABCDEF") + b"\x020100ABCDEF00\x03")
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert "0100ABCDEF  unknown" in out and "rejected: checksum mismatch" in out
    port.unplug()
