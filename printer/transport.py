"""Printers are URLs: one factory turns a URL into a transport that sends bytes and, where
the connection allows, reads the printer's status back.

tcp://HOST:9100, serial:///dev/ttyUSB0?baudrate=19200 (any pyserial URL after serial://),
usb://VID:PID, cups://QUEUE, file:///PATH (appends, inside the spool folder; a relative
file:NAME is a file there), virtual: (the built-in emulator).
Failures are one of two named errors: `PrinterUnavailable` (cannot reach it) and
`PrinterNotReady` (reachable, but out of paper or with the cover open).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from .virtual import VirtualPrinter

DLE_EOT = b"\x10\x04"
ACK_QUERY = b"\x1dr\x01"  # GS r 1: answered in sequence, after the job before it printed


class PrinterError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PrinterUnavailable(PrinterError):
    """Off, unplugged, unreachable or not answering."""


class PrinterNotReady(PrinterError):
    """Reachable, but it cannot print now (paper out, cover open)."""


class BadPrinterUrl(ValueError):
    pass


class Transport(Protocol):
    url: str
    read_back: bool

    def check_ready(self) -> None: ...

    def send(self, data: bytes) -> None: ...

    def confirm(self, timeout: float = 10.0) -> None: ...

    def close(self) -> None: ...


def status_problem(offline_cause: int | None, paper: int | None) -> str | None:
    """Reads DLE EOT 2 and DLE EOT 4 answers; None when the printer can print."""
    if paper is not None and paper & 0x60:
        return "paper out"
    if offline_cause is not None and offline_cause & 0x04:
        return "cover open"
    if offline_cause is not None and offline_cause & 0x20:
        return "paper out"
    return None


class _Stream:
    """What TCP and serial printers share: bytes out, status bytes back."""

    url = ""
    read_back = True

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read(self, count: int, timeout: float) -> bytes:
        raise NotImplementedError

    def check_ready(self) -> None:
        self._write(DLE_EOT + b"\x02" + DLE_EOT + b"\x04")
        answer = self._read(2, timeout=2.0)
        if len(answer) < 2:
            # Some printers do not answer status queries at all; they may still print.
            self.read_back = False
            return
        problem = status_problem(answer[0], answer[1])
        if problem:
            raise PrinterNotReady(problem)

    def send(self, data: bytes) -> None:
        self._write(data)

    def confirm(self, timeout: float = 10.0) -> None:
        """Wait until the printer has worked through everything sent: only a status read-back
        proves a job printed (a powered-off network printer can swallow bytes silently)."""
        if not self.read_back:
            return
        self._write(ACK_QUERY)
        answer = self._read(1, timeout)
        if not answer:
            raise PrinterUnavailable("the printer did not confirm the job")
        if answer[0] & 0x60:
            raise PrinterNotReady("paper out")


class TcpPrinter(_Stream):
    def __init__(self, url: str, host: str, port: int, timeout: float = 3.0) -> None:
        self.url = url
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise PrinterUnavailable(
                f"cannot reach {host}:{port}: {error.strerror or error}") from None

    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise PrinterUnavailable(f"connection lost: {error}") from None

    def _read(self, count: int, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        received = b""
        try:
            while len(received) < count:
                chunk = self.sock.recv(count - len(received))
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        except OSError as error:
            raise PrinterUnavailable(f"connection lost: {error}") from None
        return received

    def close(self) -> None:
        self.sock.close()


class SerialPrinter(_Stream):
    def __init__(self, url: str, port_url: str, baudrate: int) -> None:
        import serial

        self.url = url
        try:
            self.port = serial.serial_for_url(port_url, baudrate=baudrate, timeout=1,
                                              write_timeout=30)
        except (serial.SerialException, ValueError) as error:
            raise PrinterUnavailable(f"cannot open {port_url}: {error}") from None

    def _write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialException as error:
            raise PrinterUnavailable(f"serial line lost: {error}") from None

    def _read(self, count: int, timeout: float) -> bytes:
        import serial

        self.port.timeout = timeout
        try:
            return bytes(self.port.read(count))
        except serial.SerialException as error:
            raise PrinterUnavailable(f"serial line lost: {error}") from None

    def close(self) -> None:
        self.port.close()


class FilePrinter:
    """Appends to a file inside the spool folder, and nowhere else: a printer URL must never
    become a way to write the hub's settings or database."""

    read_back = False

    def __init__(self, url: str, path: Path, spool: Path | None = None) -> None:
        self.url = url
        self.path = path
        self.spool = spool

    def check_ready(self) -> None:
        if self.spool is not None and not self.path.resolve().is_relative_to(
                self.spool.resolve()):
            raise PrinterUnavailable(f"a file:// printer writes only inside the spool folder "
                                     f"{self.spool}, not {self.path}")
        if not self.path.parent.is_dir():
            raise PrinterUnavailable(f"no folder {self.path.parent}")

    def send(self, data: bytes) -> None:
        self.check_ready()
        try:
            with self.path.open("ab") as handle:
                handle.write(data)
        except OSError as error:
            raise PrinterUnavailable(f"cannot write {self.path}: {error.strerror}") from None

    def confirm(self, timeout: float = 10.0) -> None:
        return None

    def close(self) -> None:
        return None


class CupsPrinter(FilePrinter):
    """A raw CUPS queue through the `lp` client; CUPS itself reports no paper status."""

    def __init__(self, url: str, queue: str) -> None:
        self.url = url
        self.queue = queue

    def check_ready(self) -> None:
        return None

    def send(self, data: bytes) -> None:
        try:
            subprocess.run(["lp", "-d", self.queue, "-o", "raw"], input=data, check=True,
                           capture_output=True, timeout=30)
        except FileNotFoundError:
            raise PrinterUnavailable("the CUPS client `lp` is not installed") from None
        except subprocess.CalledProcessError as error:
            raise PrinterUnavailable(error.stderr.decode(errors="replace").strip()) from None
        except subprocess.TimeoutExpired:
            raise PrinterUnavailable("CUPS did not take the job") from None


class UsbPrinter(FilePrinter):
    """A USB printer through python-escpos (needs pyusb and access to the device)."""

    def __init__(self, url: str, vendor: int, product: int) -> None:
        self.url = url
        try:
            from escpos.printer import Usb

            self.device = Usb(vendor, product)
            self.device.open()
        except Exception as error:  # pyusb missing, no device, no permission: all "cannot reach"
            raise PrinterUnavailable(f"USB printer {vendor:04x}:{product:04x}: {error}") from None

    def check_ready(self) -> None:
        return None

    def send(self, data: bytes) -> None:
        try:
            self.device._raw(data)
        except Exception as error:  # pyusb's errors share no useful base class
            raise PrinterUnavailable(f"USB write failed: {error}") from None

    def close(self) -> None:
        self.device.close()


class VirtualTransport:
    """The built-in emulator, in this process, keeping slips in the home's spool."""

    read_back = True

    def __init__(self, url: str, printer: VirtualPrinter) -> None:
        self.url = url
        self.printer = printer

    def check_ready(self) -> None:
        problem = status_problem(self.printer.status_byte(2), self.printer.status_byte(4))
        if problem:
            raise PrinterNotReady(problem)

    def send(self, data: bytes) -> None:
        self.printer.receive(data)

    def confirm(self, timeout: float = 10.0) -> None:
        answer = self.printer.receive(ACK_QUERY)
        self.printer.close_connection()
        if answer and answer[0] & 0x60:
            raise PrinterNotReady("paper out")

    def close(self) -> None:
        return None


def check_url(url: str) -> str:
    """Validate a printer URL without opening it; returns it or raises BadPrinterUrl."""
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "tcp" and parsed.hostname and parsed.port:
        return url
    if scheme == "serial" and (parsed.path or parsed.netloc):
        return url
    if scheme == "usb":
        vendor, _, product = parsed.netloc.partition(":")
        try:
            int(vendor, 16), int(product, 16)
            return url
        except ValueError:
            pass
    if scheme == "cups" and parsed.netloc:
        return url
    if scheme == "file" and parsed.path:
        return url
    if url == "virtual:" or scheme == "virtual":
        return url
    raise BadPrinterUrl(
        f"not a printer URL: {url!r} (tcp://HOST:PORT, serial:///dev/ttyUSB0?baudrate=19200, "
        "usb://VID:PID, cups://QUEUE, file:///PATH or virtual:)")


def open_printer(url: str, spool: Path, paper_mm: int = 80, job: str | None = None
                 ) -> Transport:
    """Connect to the printer at `url`; `spool` is where `virtual:` keeps its slips, marked
    with `job` so an erasure can find them."""
    check_url(url)
    parsed = urlparse(url)
    if parsed.scheme == "tcp":
        return TcpPrinter(url, parsed.hostname or "", parsed.port or 9100)
    if parsed.scheme == "serial":
        query = parse_qs(parsed.query)
        baudrate = int(query.get("baudrate", ["19200"])[0])
        inner = unquote(url.removeprefix("serial://").split("?")[0])
        return SerialPrinter(url, inner, baudrate)
    if parsed.scheme == "usb":
        vendor, _, product = parsed.netloc.partition(":")
        return UsbPrinter(url, int(vendor, 16), int(product, 16))
    if parsed.scheme == "cups":
        return CupsPrinter(url, parsed.netloc)
    if parsed.scheme == "file":
        return FilePrinter(url, spool / unquote(parsed.path), spool)
    return VirtualTransport(url, VirtualPrinter(spool, paper_mm, job))
