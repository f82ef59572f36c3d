"""The print queue against the virtual printer on a real TCP port: off, back on, out of
paper, and a hub killed between sending and the printer's confirmation."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.config import PrinterSettings
from hub.domain.coupons import Line, create_template, issue_coupon
from hub.domain.errors import InvalidInput
from hub.ports import free_port
from printer.queue import CouponAlreadyPrinted, PrintQueue, get_job
from printer.slips import print_coupon, print_kitchen, print_receipt, print_welcome
from printer.virtual import VirtualPrinter, VirtualPrinterServer


@pytest.fixture
def virtual(tmp_path):
    printer = VirtualPrinter(tmp_path / "paper", 58)
    server = VirtualPrinterServer(printer, port=free_port()).start()
    yield printer, server
    server.stop()


@pytest.fixture
def till(store, virtual):
    _, server = virtual
    store.settings.printers = [PrinterSettings(name="cashier",
                                               url=f"tcp://127.0.0.1:{server.port}",
                                               width=58)]
    return store


def queue_for(store, tmp_path):
    return PrintQueue(lambda: store, tmp_path / "virtual-spool")


def test_a_receipt_prints_once_over_tcp(till, guest, virtual, tmp_path):
    printer, _ = virtual
    order = checkout(till, CheckoutRequest("k", [Line("宫保鸡丁", 1, 4800)],
                                           member_id=guest["id"]))
    job = print_receipt(till, order["order_id"])
    assert job["state"] == "queued"
    [done] = queue_for(till, tmp_path).deliver_due()
    assert done["state"] == "printed" and done["attempts"] == 1
    slips = printer.slips()
    assert len(slips) == 1 and "宫保鸡丁" in slips[0]["text"]
    assert slips[0]["qr"][0].startswith("LKM1."), "the guest's member QR is on the receipt"
    assert os.path.getsize(slips[0]["png"]) > 1000
    assert queue_for(till, tmp_path).deliver_due() == []
    with pytest.raises(InvalidInput, match="reprint"):
        print_receipt(till, order["order_id"])


def test_a_printer_that_is_off_keeps_jobs_waiting_then_prints_each_once(till, virtual,
                                                                        clock, tmp_path):
    printer, server = virtual
    port = server.port
    server.stop()
    template = create_template(till, "减5", "amount_off", amount_fen=500)
    codes = [issue_coupon(till, template["id"])["code"] for _ in range(3)]
    for code in codes:
        print_coupon(till, code)
    queue = queue_for(till, tmp_path)
    [first] = queue.deliver_due()  # the rest wait behind it, in order
    assert first["state"] == "waiting" and "cannot reach" in first["last_error"]
    assert queue.deliver_due() == [], "backoff: not before its next attempt"
    clock.advance(seconds=2)
    assert queue.deliver_due()[0]["attempts"] == 2
    restarted = VirtualPrinterServer(printer, port=port).start()
    try:
        clock.advance(seconds=5)
        assert [j["state"] for j in queue.deliver_due()] == ["printed"] * 3
    finally:
        restarted.stop()
    assert [s["qr"] for s in printer.slips()] == [[c] for c in codes]
    with pytest.raises(CouponAlreadyPrinted):
        print_coupon(till, codes[0])
    print_coupon(till, codes[0], reprint=True, actor="owner")
    clock.advance(seconds=1)
    restarted = VirtualPrinterServer(printer, port=port).start()
    try:
        queue.deliver_due()
    finally:
        restarted.stop()
    last = printer.slips()[-1]
    assert "重印" in last["text"] and last["qr"] == [codes[0]]


def test_paper_out_is_read_from_the_printer(till, virtual, clock, tmp_path):
    printer, _ = virtual
    template = create_template(till, "减5", "amount_off", amount_fen=500)
    code = issue_coupon(till, template["id"])["code"]
    printer.set_fault(paper_out=True)
    print_coupon(till, code)
    queue = queue_for(till, tmp_path)
    [job] = queue.deliver_due()
    assert job["state"] == "waiting" and job["last_error"] == "paper out"
    assert printer.slips() == []
    printer.set_fault(cover_open=True)
    clock.advance(seconds=3)
    assert queue.deliver_due()[0]["last_error"] == "cover open"
    printer.set_fault()
    clock.advance(seconds=5)
    assert queue.deliver_due()[0]["state"] == "printed"
    assert len(printer.slips()) == 1


def test_kitchen_ticket_and_welcome_slip(till, guest, virtual, tmp_path):
    from hub.domain.visits import check_in

    printer, _ = virtual
    visit = check_in(till, guest["id"], "A5", 3)
    print_kitchen(till, visit["id"])
    create_template(till, "新会员立减20元", "amount_off", amount_fen=2000)
    till.settings.printing.welcome_coupon_template = "新会员立减20元"
    print_welcome(till, guest["id"])
    queue_for(till, tmp_path).deliver_due()
    kitchen, welcome = printer.slips()
    assert "对虾过敏" in kitchen["text"] and "微辣" in kitchen["text"]
    assert len(welcome["qr"]) == 2 and welcome["qr"][0].startswith("LKM1.")
    assert welcome["qr"][1] in welcome["text"]


def test_unknown_printers_are_refused_at_once(till):
    with pytest.raises(InvalidInput, match="not a printer URL"):
        print_coupon(till, "x", printer="lpt1")


KILLER = """
import sys, time
from pathlib import Path
import printer.transport as transport
from hub.home import open_store
from printer.queue import PrintQueue, get_job

def sent_then_hang(self, timeout=10.0):
    print("sent", flush=True)
    time.sleep(60)  # killed here: the bytes went out, no acknowledgement was recorded

transport.TcpPrinter.confirm = sent_then_hang
store = open_store(Path(sys.argv[1]))
PrintQueue(lambda: store, Path(sys.argv[1]) / "spool").deliver(get_job(store, sys.argv[2]))
"""


@pytest.mark.slow
def test_sigkill_between_sent_and_acknowledged_neither_loses_nor_doubles(tmp_path, virtual):
    from hub.domain.config import load_settings, write_settings
    from hub.home import open_store

    printer, server = virtual
    home = tmp_path / "home"
    store = open_store(home)
    settings = load_settings(home)
    settings.printers = [PrinterSettings(name="cashier", url=f"tcp://127.0.0.1:{server.port}")]
    write_settings(home, settings)
    store.close()
    store = open_store(home)
    template = create_template(store, "减5", "amount_off", amount_fen=500)
    code = issue_coupon(store, template["id"])["code"]
    job = print_coupon(store, code)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", KILLER, str(home), job["id"]],
                             stdout=subprocess.PIPE, env=env)
    assert child.stdout.readline().strip() == b"sent"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait()
    queue = PrintQueue(lambda: store, home / "spool")
    assert get_job(store, job["id"])["state"] == "sending"
    assert queue.recover() == 1
    assert get_job(store, job["id"])["state"] == "unconfirmed"
    assert queue.deliver_due() == [], "an unconfirmed coupon is never resent by itself"
    assert [s["qr"] for s in printer.slips()] == [[code]], "printed exactly once"
    with pytest.raises(CouponAlreadyPrinted):
        print_coupon(store, code)
    print_coupon(store, code, reprint=True, actor="owner")
    assert queue.deliver_due()[0]["state"] == "printed"
    assert "重印" in printer.slips()[-1]["text"]
