"""A serial receipt printer on a real pseudo-terminal: the test plays the printer."""

import os
import pty
import threading

from printer.escpos_decode import decode
from printer.transport import PrinterNotReady, open_printer


def fake_serial_printer(master, paper_out=False):
    """Reads what the hub sends; answers status queries like a printer would."""
    received = bytearray()

    def run():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            received.extend(chunk)
            for i in range(len(chunk) - 2):
                if chunk[i:i + 2] == b"\x10\x04":
                    os.write(master, bytes([0x12 | (0x60 if paper_out and chunk[i + 2] == 4
                                                    else 0)]))
                if chunk[i:i + 2] == b"\x1dr":
                    os.write(master, b"\x12")

    threading.Thread(target=run, daemon=True).start()
    return received


def test_a_job_over_a_serial_line_with_status_read_back(tmp_path):
    master, slave = pty.openpty()
    received = fake_serial_printer(master)
    printer = open_printer(f"serial://{os.ttyname(slave)}?baudrate=19200", tmp_path)
    from printer.escpos_out import to_escpos
    from printer.layouts import test_page

    printer.check_ready()
    printer.send(to_escpos(test_page("serial", "pty", 58)))
    printer.confirm(timeout=5)
    printer.close()
    assert "中文测试" in decode(bytes(received)).text
    os.close(master)
    os.close(slave)


def test_paper_out_over_serial(tmp_path):
    master, slave = pty.openpty()
    fake_serial_printer(master, paper_out=True)
    printer = open_printer(f"serial://{os.ttyname(slave)}", tmp_path)
    try:
        printer.check_ready()
        raise AssertionError("paper out was not noticed")
    except PrinterNotReady as error:
        assert error.reason == "paper out"
    finally:
        printer.close()
        os.close(master)
        os.close(slave)
