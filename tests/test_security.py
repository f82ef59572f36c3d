"""Attacks from the shop's LAN (issue 16), each against a real hub over loopback HTTP.

Every test plays someone holding a paired device of some role and tries to get more than
that role: a file written, a PIN guessed, a phone unmasked, a guest's data left behind.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from hub.domain import database
from hub.domain.devices import ROLES
from printer.queue import PrintQueue, enqueue
from printer.transport import PrinterUnavailable, open_printer
from tests.support.homedb import home_db

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
                # refused by name (or, for a path longer than any name, by length)
                assert "printer" in answer.json()["message"]
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


# -- High 2: staff PIN guessing ----------------------------------------------------------------

def test_a_kiosk_learns_nothing_from_a_pin(shared_hub, world):
    """The role is checked before the PIN: a right and a wrong PIN answer alike."""
    with shared_hub.client() as owner:
        owner.post("/staff", json={"name": "甲", "role": "cashier", "pin": "90817263"})
    with shared_hub.client(world["tokens"]["kiosk"]) as kiosk:
        right = kiosk.get(f"/members/{world['member']}", headers={"X-Staff-Pin": "90817263"})
        wrong = kiosk.get(f"/members/{world['member']}", headers={"X-Staff-Pin": "11112222"})
    assert right.status_code == wrong.status_code == 403


def test_concurrent_wrong_pins_are_counted_before_hashing(shared_hub, world):
    """Thirty guesses at once: only the limit's worth are hashed, the rest answer 429."""
    with shared_hub.client() as owner:
        waiter = owner.post("/devices", json={"name": "guesser", "role": "waiter"}).json()
    statuses: list[int] = []

    def guess(n: int) -> None:
        with shared_hub.client(waiter["token"]) as api:
            statuses.append(api.get(f"/members/{world['member']}",
                                    headers={"X-Staff-Pin": f"{n:06d}"}).status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 25, statuses


def test_a_right_pin_does_not_clear_the_wrong_ones(shared_hub, world):
    with shared_hub.client() as owner:
        owner.post("/staff", json={"name": "乙", "role": "waiter", "pin": "55667788"})
        waiter = owner.post("/devices", json={"name": "own pin", "role": "waiter"}).json()
    seen = []
    with shared_hub.client(waiter["token"]) as api:
        for n in range(12):
            pin = "55667788" if n % 2 else f"{n:08d}"
            seen.append(api.get(f"/members/{world['member']}",
                                headers={"X-Staff-Pin": pin}).status_code)
    # Wrong, right, wrong, right ...: the fifth wrong one is the last before the limit.
    assert 429 in seen, seen
    assert seen.count(401) <= 5


def test_one_guess_costs_one_hash(store, monkeypatch):
    """However many staff there are, a wrong PIN is checked against one scrypt hash at most."""
    from hub.domain import staff

    for n in range(6):
        staff.add_staff(store, f"员工{n}", "waiter", f"{4000 + n}")
    calls = []
    real = staff.pin_matches
    monkeypatch.setattr(staff, "pin_matches", lambda pin, stored: calls.append(1) or
                        real(pin, stored))
    with pytest.raises(staff.PinInvalid):
        staff.staff_by_pin(store, "9999")
    assert calls == []
    assert staff.staff_by_pin(store, "4003")["name"] == "员工3"
    assert len(calls) == 1


def test_staff_from_before_the_pin_index_are_found_and_indexed(store):
    """Rows written before the index (demo data, an older hub) still log in, once scanned."""
    from hub.domain import staff

    store.conn.execute("INSERT INTO staff (id, name, role, pin_hash, active, created_at) "
                       "VALUES ('old', '老员工', 'waiter', ?, 1, '2026-01-01T00:00:00Z')",
                       (staff.hash_pin("2468"),))
    assert staff.staff_by_pin(store, "2468")["id"] == "old"
    assert store.scalar("SELECT pin_index FROM staff WHERE id = 'old'") is not None


# -- High 3: waiters find guests by an exact key, and read only the guests they are serving ----

@pytest.fixture(scope="module")
def stranger(shared_hub):
    """A guest who is not in the restaurant today."""
    with shared_hub.client() as owner:
        return owner.post("/members", json={"name": "陌生人", "phone": "139 1234 5678",
                                            "allergies": ["芒果"],
                                            "marketing_consent": False}).json()


def test_a_waiter_cannot_unmask_a_phone_by_prefix(shared_hub, world, stranger):
    with shared_hub.client() as owner:
        waiter = owner.post("/devices", json={"name": "prefixer", "role": "waiter"}).json()
    with shared_hub.client(waiter["token"]) as api:
        for prefix in ("139", "1391", "139123", "13912345", "+86139123456"):
            answer = api.get("/members/search", params={"q": prefix})
            assert answer.status_code == 422 or all(
                m["id"] != stranger["id"] for m in answer.json()["members"]), (prefix, answer.text)
        exact = api.get("/members/search", params={"q": "139 1234 5678"}).json()["members"]
        assert [m["id"] for m in exact] == [stranger["id"]]
        assert exact[0]["phone"] == "139****5678"


def test_a_waiter_cannot_browse_guests_by_name(shared_hub, world, stranger):
    with shared_hub.client(world["tokens"]["waiter"]) as api:
        answer = api.get("/members/search", params={"q": "陌生"})
        assert answer.status_code == 422, answer.text
    with shared_hub.client(world["tokens"]["cashier"]) as api:
        found = api.get("/members/search", params={"q": "陌生"}).json()["members"]
        assert [m["id"] for m in found] == [stranger["id"]], "cashiers still search by name"
        assert api.get("/members/search", params={"q": "1391"}).status_code == 200


def test_phone_tails_are_rate_limited_per_device(shared_hub, world, stranger):
    with shared_hub.client() as owner:
        waiter = owner.post("/devices", json={"name": "tailer", "role": "waiter"}).json()
    with shared_hub.client(waiter["token"]) as api:
        statuses = [api.get("/members/search", params={"q": f"{n:04d}"}).status_code
                    for n in range(12)]
        assert statuses[0] == 200 and 429 in statuses, statuses
        # Exact keys are not limited by the tail limit.
        assert api.get("/members/lookup", params={"phone": "13912345678"}).status_code == 200


def test_a_waiter_reads_only_guests_found_or_seated_in_their_shift(shared_hub, world, stranger):
    with shared_hub.client() as owner:
        waiter = owner.post("/devices", json={"name": "reader", "role": "waiter"}).json()
        owner.post("/staff", json={"name": "丙", "role": "waiter", "pin": "31415926"})
    guest = stranger["id"]
    with shared_hub.client(waiter["token"]) as api:
        for path in (f"/members/{guest}", f"/members/{guest}/visits",
                     f"/members/{guest}/coupons", f"/members/{guest}/points",
                     f"/members/{guest}/stored-value", f"/members/{guest}/qr"):
            assert api.get(path).status_code == 403, path
        assert api.patch(f"/members/{guest}", json={"notes": "x"}).status_code == 403
        assert api.post("/checkins", json={"member_id": guest, "table": "9",
                                           "party_size": 1}).status_code == 403
        # Nobody signed in: not even the guest seated at table 3 today.
        assert api.get(f"/members/{world['member']}").status_code == 403
        shift = api.post("/shifts", json={"pin": "31415926"})
        assert shift.status_code == 201, shift.text
        # Seated before this waiter's shift began: still not theirs.
        assert api.get(f"/members/{world['member']}").status_code == 403
        with shared_hub.client() as owner:
            seated = owner.post("/members", json={"name": "席间", "phone": "137 0000 0077",
                                                  "allergies": ["花生"],
                                                  "marketing_consent": False}).json()["id"]
            owner.post("/checkins", json={"member_id": seated, "table": "4", "party_size": 2})
        # Seated (by anyone) while the shift is open: the waiter's guest.
        answer = api.get(f"/members/{seated}")
        assert answer.status_code == 200 and answer.json()["allergies"] == ["花生"]
        assert api.delete(f"/shifts/{shift.json()['id']}").status_code == 204
        assert api.get(f"/members/{seated}").status_code == 403, "signed out, not theirs"
        # Back in on the same day: the guests of their earlier shift are still theirs.
        assert api.post("/shifts", json={"pin": "31415926"}).status_code == 201
        assert api.get(f"/members/{seated}").status_code == 200
        # The guest standing there gives their phone: now this tablet may open and seat them.
        assert api.get("/members/lookup", params={"phone": "139 1234 5678"}).status_code == 200
        assert api.get(f"/members/{guest}").status_code == 200
        assert api.post("/checkins", json={"member_id": guest, "table": "9",
                                           "party_size": 1}).status_code == 201
    with shared_hub.client(world["tokens"]["cashier"]) as api:
        assert api.get(f"/members/{guest}").json()["phone"] == "+8613912345678"


# -- Medium 5: an erasure leaves no trace inside the store --------------------------------------

def test_an_erased_guest_is_nowhere_in_the_store(running_hub):
    from printer.virtual import VirtualPrinter
    from tests.support.hubproc import EventReader, wait_until

    spool = running_hub.home / "virtual-printer"
    name, phone, allergy, card = "消失的人", "13755501234", "榴莲籽", "ERASE-CARD-77"
    with running_hub.client() as owner:
        guest = owner.post("/members", json={"name": name, "phone": phone,
                                             "allergies": [allergy],
                                             "marketing_consent": True}).json()
        owner.post(f"/members/{guest['id']}/cards", json={"number": card})
        visit = owner.post("/checkins", json={"member_id": guest["id"], "table": "8",
                                              "party_size": 1}).json()
        owner.post("/print/kitchen", json={"visit_id": visit["id"]})
        owner.post("/checkouts", json={"member_id": guest["id"], "lines": LINES,
                                       "print": True}, headers={"Idempotency-Key": "erase-1"})
        wait_until(lambda: len(VirtualPrinter(spool).slips()) >= 2)
        assert any(allergy in s["text"] for s in VirtualPrinter(spool).slips())
        assert owner.post(f"/members/{guest['id']}/erase",
                          json={"reason": "guest asked"}).status_code == 204
        jobs = owner.get("/print/jobs").json()["jobs"]
    assert jobs and all(allergy not in (j["preview"] or "") and name not in (j["preview"] or "")
                        for j in jobs)
    for slip in VirtualPrinter(spool).slips():
        assert allergy not in slip["text"] and "消失" not in slip["text"], slip["text"]
    replay = EventReader(running_hub, running_hub.owner_token, last_id=0)
    wait_until(lambda: any(e["type"] == "member.erased" for e in replay.events))
    seen = repr(replay.events)
    assert name not in seen and allergy not in seen and card not in seen
    db = running_hub.home / "laoke.db"
    raw = b"".join(p.read_bytes() for p in (db, db.with_name("laoke.db-wal")) if p.exists())
    for trace in (name, phone, allergy, card):
        assert trace.encode() not in raw, trace


def test_an_older_audit_log_keeps_no_card_numbers(tmp_path, settings):
    """A hub from before card references: the upgrade shortens the numbers it logged."""
    from hub.domain.schema import STEPS
    from hub.domain.store import Store

    before = tuple(step for step in STEPS if step[0] != "0015_audit_card_refs")
    with Store(tmp_path / "laoke.db", settings, steps=before) as old, old.write():
        old.audit("owner", "card.link", "m1", {"number": "0100ABCDEF"})
    with Store(tmp_path / "laoke.db", settings) as new:
        detail = new.scalar("SELECT detail FROM audit_log WHERE action = 'card.link'")
        assert "0100ABCDEF" not in detail and "CDEF" in detail
        with pytest.raises(database.IntegrityError, match="append-only"), new.write():
            new.conn.execute("UPDATE audit_log SET actor = 'x'")


# -- Medium 6: no spreadsheet formula comes out of an export -----------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","点我")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1)", "\t=1", "\r=1"]


def test_exports_neutralise_formulas(store, tmp_path):
    import csv

    from openpyxl import load_workbook

    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line
    from hub.domain.members import NewMember, add_member
    from hub.domain.reports import report
    from hub.export import export
    from hub.report_files import export_report

    for n, formula in enumerate(FORMULAS):
        guest = add_member(store, NewMember(name=f"x{n}", phone=f"1370000010{n}",
                                            notes=formula))
        checkout(store, CheckoutRequest(f"f{n}", [Line(formula, 1, 100)],
                                        member_id=guest["id"]))
    for fmt in ("csv", "xlsx"):
        export(store, tmp_path / fmt, fmt)
        export_report(store, report(store, "dishes"), tmp_path / fmt, fmt)
    texts = []
    for path in (tmp_path / "csv").glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            texts += [cell for row in csv.reader(handle) for cell in row]
    for path in (tmp_path / "xlsx").glob("*.xlsx"):
        for sheet in load_workbook(path).worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, cell.value)
                    texts.append(str(cell.value or ""))
    risky = [t for t in texts if t[:1] in ("=", "+", "-", "@", "\t", "\r")
             and not t.lstrip("+-").replace(".", "").isdigit()]
    assert risky == []
    assert sum("'=HYPERLINK" in t for t in texts) >= 3, "the text is kept, quoted"
    assert "+8613700000100" in texts, "a phone is a number, not a formula: left as it is"


# -- Medium 7: STARTTLS checks the mail server's certificate -----------------------------------

def test_starttls_refuses_a_server_it_cannot_verify(tmp_path, settings):
    """A host on the LAN answering as the mail server with a certificate of its own gets no
    mail (and no SMTP password)."""
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller

    from hub.messaging import SendFailed, SmtpChannel
    from hub.ports import free_port

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True)
    controller.start()
    try:
        mail = settings.messaging
        mail.smtp_host, mail.smtp_port, mail.smtp_starttls = "127.0.0.1", controller.port, True
        mail.smtp_sender = "shop@laoke.test"
        with pytest.raises(SendFailed, match="certificate"):
            SmtpChannel(mail).send({"id": "m1", "address": "guest@example.com",
                                    "subject": "hi", "body": "hello"})
    finally:
        controller.stop()
    assert received == []


# -- Medium 9: each role writes only the member fields it may -----------------------------------

@pytest.mark.parametrize("field, value", [("card", "KIOSK-CARD-1"), ("vip", True),
                                          ("tags", ["vip"]), ("referred_by", "{m}")])
def test_a_kiosk_signs_a_guest_up_with_the_guest_fields_only(shared_hub, world, field, value):
    value = world["member"] if value == "{m}" else value
    with shared_hub.client(world["tokens"]["kiosk"]) as kiosk:
        answer = kiosk.post("/members", json={"name": "自助", "phone": "13700000311",
                                              "marketing_consent": False, field: value})
    assert answer.status_code == 403, answer.text
    assert field in answer.json()["message"]
    with shared_hub.client() as owner:
        assert owner.get("/members/lookup", params={"phone": "13700000311"}).status_code == 404


@pytest.mark.parametrize("field, value", [("marketing_consent", False),
                                          ("email", "thief@example.com"), ("vip", True),
                                          ("tags", ["x"])])
def test_a_waiter_edits_taste_notes_not_consent_or_contact(shared_hub, world, field, value):
    with shared_hub.client(world["tokens"]["waiter"]) as waiter:
        # The guest gives their phone at the table: this tablet serves them now.
        assert waiter.get("/members/lookup", params={"phone": "13700000001"}).status_code == 200
        answer = waiter.patch(f"/members/{world['member']}", json={field: value})
        assert answer.status_code == 403, answer.text
        assert field in answer.json()["message"]
        assert waiter.patch(f"/members/{world['member']}",
                            json={"notes": "少盐"}).status_code == 200
    with shared_hub.client() as owner:
        guest = owner.get(f"/members/{world['member']}").json()
    assert guest["marketing_consent"] is True and guest["email"] is None and not guest["vip"]


# -- Medium 10: pairing codes --------------------------------------------------------------------

def live_codes(hub) -> int:
    with home_db(hub.home) as db:
        return db.execute("SELECT COUNT(*) FROM pairing_codes WHERE used_at IS NULL "
                          "AND expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')").fetchone()[0]


def test_pairing_codes_are_minted_only_on_request_and_never_for_owners(running_hub):
    with running_hub.client() as owner:
        before = live_codes(running_hub)
        added = owner.post("/devices", json={"name": "pad", "role": "waiter"}).json()
        assert added["pair_url"] is None and live_codes(running_hub) == before
        linked = owner.post("/devices", json={"name": "pad 2", "role": "waiter",
                                              "pair_link": True}).json()
        assert "/pair?code=" in linked["pair_url"] and live_codes(running_hub) == before + 1
        for body in ({"name": "boss", "role": "owner", "pair_link": True},):
            assert owner.post("/devices", json=body).status_code == 422
        assert owner.post("/devices/pairing-codes", json={"role": "owner"}).status_code == 422
        assert owner.post("/devices", json={"name": "boss", "role": "owner"}).status_code == 201
    assert live_codes(running_hub) == before + 1


def test_pairing_guesses_from_many_addresses_meet_a_global_limit(running_hub):
    import httpx

    statuses = []
    for last in range(2, 8):  # 127.0.0.2 ... 127.0.0.7: six "devices" on the LAN
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{last}",
                                       verify=running_hub.verify)
        with httpx.Client(base_url=f"{running_hub.url}/api/v1", transport=transport) as api:
            statuses += [api.post("/pair", json={"code": f"{last}{n:05d}"}).status_code
                         for n in range(10)]
    assert statuses.count(409) <= 30, statuses
    assert statuses.count(429) >= 30


# -- The Low list --------------------------------------------------------------------------------

def test_a_manager_cannot_revoke_an_owner_device(shared_hub, world):
    with shared_hub.client() as owner:
        boss = owner.post("/devices", json={"name": "boss phone", "role": "owner"}).json()
    with shared_hub.client(world["tokens"]["manager"]) as manager:
        assert manager.delete(f"/devices/{boss['device']['id']}").status_code == 403
    with shared_hub.client(boss["token"]) as still:
        assert still.get("/devices").status_code == 200


def test_a_cashier_bonus_above_the_limit_needs_a_manager(shared_hub, world):
    path = f"/members/{world['member']}/topups"
    big = {"amount_fen": 100_000, "bonus_fen": 10_000_000}
    with shared_hub.client(world["tokens"]["cashier"]) as cashier:
        assert cashier.post(path, json=big).status_code == 403
        assert cashier.post(path, json={"amount_fen": 10_000, "bonus_fen": 1_000}
                            ).status_code == 201, "a small bonus is the cashier's"
    with shared_hub.client() as owner:
        owner.post("/staff", json={"name": "经理", "role": "manager", "pin": "246813"})
    with shared_hub.client(world["tokens"]["cashier"], **{"X-Staff-Pin": "246813"}) as both:
        assert both.post(path, json=big).status_code == 201, "a manager's PIN allows it"
    with shared_hub.client(world["tokens"]["manager"]) as manager:
        assert manager.post(path, json=big).status_code == 201


@pytest.mark.parametrize("template", ["{name:>900000000}", "{name!r}", "{name.__class__}",
                                      "{name[0]}", "{name:{code}}"])
def test_campaign_templates_take_plain_fields_only(template):
    from hub.domain.errors import InvalidInput
    from hub.domain.outreach import check_template

    with pytest.raises(InvalidInput):
        check_template(template, "message_zh")


def test_a_stored_template_with_a_format_spec_renders_without_it(store, guest):
    """A template stored before the rule (or relayed) is filled field by field: no spec runs."""
    from hub.domain.members import member_row
    from hub.domain.outreach import compose

    text, _, _ = compose(store, "{name!r}:{name:>12}！", member_row(store, guest["id"]), None, "",
                         "sms", "zh-CN")
    assert text == "王芳:王芳！"


def test_a_huge_last_event_id_is_a_client_error(shared_hub, world):
    import httpx

    answer = httpx.get(f"{shared_hub.url}/api/v1/events",
                       params={"access_token": world["tokens"]["waiter"]},
                       headers={"Last-Event-ID": "9" * 5000}, timeout=10,
                       verify=shared_hub.verify)
    assert 400 <= answer.status_code < 500, answer.text


def test_health_without_a_token_shows_no_device_urls(tmp_path):
    import httpx

    from hub.domain.config import PrinterSettings, load_settings, write_settings
    from hub.home import ensure_home
    from tests.support.hubproc import RunningHub

    hub = RunningHub(tmp_path / "home")
    ensure_home(hub.home)
    settings = load_settings(hub.home, environ={})
    settings.printers = [PrinterSettings(name="bar", url="tcp://10.9.8.7:9100")]
    write_settings(hub.home, settings)
    hub.start()
    try:
        anonymous = httpx.get(f"{hub.url}/api/v1/health", timeout=10, verify=hub.verify).json()
        assert "10.9.8.7" not in repr(anonymous) and anonymous["status"] == "ok"
        assert anonymous["printers"][0]["name"] == "bar"
        with hub.client() as owner:
            assert "10.9.8.7" in repr(owner.get("/health").json())
    finally:
        hub.stop()


def test_the_database_and_exports_are_private(tmp_path, store):
    import os
    import stat

    from hub.export import export
    from hub.home import DB_NAME, ensure_home, open_store

    home = tmp_path / "home"
    ensure_home(home)
    with open_store(home) as opened:
        opened.conn.execute("SELECT 1")
        for path in [home, *home.glob(DB_NAME + "*")]:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode & 0o077 == 0, (path, oct(mode))
    export(store, tmp_path / "out", "csv")
    export(store, tmp_path / "xlsx", "xlsx")
    for path in [tmp_path / "out", tmp_path / "xlsx", *(tmp_path / "out").iterdir(),
                 *(tmp_path / "xlsx").iterdir()]:
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path


@pytest.mark.parametrize("field", ["member_id", "visit_id", "coupon_code"])
def test_an_empty_id_is_a_client_error(shared_hub, field):
    with shared_hub.client() as owner:
        answer = owner.post("/checkouts", json={"lines": LINES, field: ""},
                            headers={"Idempotency-Key": f"empty-{field}"})
    assert answer.status_code == 422, answer.text


def test_a_waiters_stream_carries_no_other_guests(shared_hub, world):
    """Sign-ups, bills and slips go to the till and the office, not to waiters' tablets."""
    from tests.support.hubproc import EventReader

    waiter = EventReader(shared_hub, world["tokens"]["waiter"])
    cashier = EventReader(shared_hub, world["tokens"]["cashier"])
    with shared_hub.client() as owner:
        owner.post("/members", json={"name": "路过", "phone": "13700000555",
                                     "marketing_consent": False})
        owner.post("/checkins", json={"table": "2", "party_size": 2})
    cashier.wait_for("member.created")
    waiter.wait_for("checkin.created")
    assert "member.created" not in [e["type"] for e in waiter.events]


def test_printer_addresses_are_for_device_managers(shared_hub, world):
    with shared_hub.client(world["tokens"]["waiter"]) as waiter:
        shown = waiter.get("/printers").json()["printers"]
    assert shown and all("url" not in printer for printer in shown)
    with shared_hub.client() as owner:
        assert all("url" in printer for printer in owner.get("/printers").json()["printers"])
