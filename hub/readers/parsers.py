"""Frame parsers for card readers and scanners: bytes in, reads out, no I/O.

Each parser is fed whatever the port delivered (a frame may arrive in pieces, or amid line
noise) and keeps only the unfinished tail. Garbage is skipped until the next plausible start,
so one bad byte never loses the next card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

STX, ETX = 0x02, 0x03
HEX = frozenset(b"0123456789ABCDEFabcdef")
MAX_LINE = 512


@dataclass(frozen=True)
class Read:
    """A card number (or a scanned code) as the reader sent it."""

    value: str


@dataclass(frozen=True)
class Rejected:
    """Something that looked like a frame but was not a valid one, and why."""

    reason: str
    raw: bytes


Result = Read | Rejected


class Parser(Protocol):
    def feed(self, data: bytes) -> list[Result]: ...


def rdm6300_checksum_ok(frame: bytes) -> bool:
    """The 5 data bytes (10 hex characters) XOR to the checksum byte (2 hex characters)."""
    data = bytes.fromhex(frame[:10].decode())
    check = int(frame[10:12], 16)
    xor = 0
    for byte in data:
        xor ^= byte
    return xor == check


class Rdm6300:
    """125 kHz RFID: STX, 10 hex characters, 2 hex checksum, ETX (9600 baud)."""

    FRAME = 14

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[Result]:
        self.buffer += data
        results: list[Result] = []
        while True:
            start = self.buffer.find(bytes([STX]))
            if start < 0:
                self.buffer = b""
                return results
            self.buffer = self.buffer[start:]
            if len(self.buffer) < self.FRAME:
                return results
            frame = self.buffer[: self.FRAME]
            body = frame[1:13]
            if frame[13] != ETX or not all(b in HEX for b in body):
                # Not a frame after all: resynchronise on the next STX.
                self.buffer = self.buffer[1:]
                continue
            self.buffer = self.buffer[self.FRAME:]
            if rdm6300_checksum_ok(body):
                results.append(Read(body[:10].decode().upper()))
            else:
                results.append(Rejected("checksum mismatch", frame))


class Track2:
    """Magnetic stripe track 2: `;PAN=...?` (an LRC byte or CR/LF may follow)."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[Result]:
        self.buffer += data
        results: list[Result] = []
        while True:
            start = self.buffer.find(b";")
            if start < 0:
                self.buffer = b""
                return results
            self.buffer = self.buffer[start:]
            end = self.buffer.find(b"?")
            if end < 0:
                if len(self.buffer) > 40:  # longer than any track 2: noise
                    self.buffer = self.buffer[1:]
                    continue
                return results
            track = self.buffer[1:end]
            self.buffer = self.buffer[end + 1:]
            if b";" in track:  # a new start inside: the first was noise
                self.buffer = track[track.rfind(b";"):] + b"?" + self.buffer
                continue
            pan, sep, _ = track.partition(b"=")
            if not sep or not pan.isdigit() or not 1 <= len(pan) <= 19:
                results.append(Rejected("not a track 2 card number", b";" + track + b"?"))
            else:
                results.append(Read(pan.decode()))


class Lines:
    """QR and barcode scanners: a code ended by CR or LF."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[Result]:
        self.buffer += data
        results: list[Result] = []
        while True:
            cut = min((i for i in (self.buffer.find(b"\r"), self.buffer.find(b"\n")) if i >= 0),
                      default=-1)
            if cut < 0:
                if len(self.buffer) > MAX_LINE:
                    results.append(Rejected("line too long", self.buffer[:MAX_LINE]))
                    self.buffer = b""
                return results
            line, self.buffer = self.buffer[:cut], self.buffer[cut + 1:]
            text = line.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            if len(line) > MAX_LINE or not text.isprintable():
                results.append(Rejected("not a printable code", line[:MAX_LINE]))
            else:
                results.append(Read(text))


PARSERS: dict[str, type[Parser]] = {"rdm6300": Rdm6300, "track2": Track2, "line": Lines}
DEFAULT_BAUD = {"rdm6300": 9600, "track2": 9600, "line": 9600}


def rdm6300_frame(number: str) -> bytes:
    """What an RDM6300 sends for a tag (for simulators and tests)."""
    data = bytes.fromhex(number)
    xor = 0
    for byte in data:
        xor ^= byte
    return bytes([STX]) + number.upper().encode() + f"{xor:02X}".encode() + bytes([ETX])
