"""ESC/POS bytes back to what is on the paper: lines with their style, QR payloads, cuts.

The virtual printer renders with it and the tests check layouts with it, so a layout is
judged by what a printer would print, not by a saved blob. Unknown commands are skipped,
never fatal: garbage in a stream must not stop the printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .doc import Align, Cut, Feed, Qr, Text

ALIGNS: dict[int, Align] = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center",
                            50: "right"}
# ESC commands with a fixed number of parameter bytes after the command letter.
ESC_PARAMS = {b"!": 1, b"E": 1, b"a": 1, b"d": 1, b"J": 1, b"t": 1, b"-": 1, b"M": 1,
              b"2": 0, b"3": 1, b"@": 0, b"G": 1, b"R": 1, b"{": 1, b"V": 1, b" ": 1,
              b"p": 3, b"c": 2, b"$": 2, b"\\": 2, b"=": 1, b"U": 1, b"e": 1}
GS_PARAMS = {b"!": 1, b"B": 1, b"H": 1, b"f": 1, b"h": 1, b"w": 1, b"L": 2, b"W": 2,
             b"r": 1, b"a": 1, b"b": 1, b"x": 1, b"I": 1}


@dataclass
class Paper:
    """What came out: the ops of each job (a job ends at a cut), and status queries seen."""

    ops: list[Text | Qr | Feed | Cut] = field(default_factory=list)
    status_queries: list[tuple[str, int]] = field(default_factory=list)
    chinese: bool = False

    @property
    def lines(self) -> list[str]:
        return [op.line for op in self.ops if isinstance(op, Text)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def qr_payloads(self) -> list[str]:
        return [op.payload for op in self.ops if isinstance(op, Qr)]

    @property
    def cuts(self) -> int:
        return sum(isinstance(op, Cut) for op in self.ops)


class Decoder:
    def __init__(self) -> None:
        self.paper = Paper()
        self.bold = False
        self.big = False
        self.align: Align = "left"
        self.buffer = bytearray()
        self.qr_data = ""

    def _flush(self) -> None:
        encoding = "gb18030" if self.paper.chinese else "cp437"
        line = self.buffer.decode(encoding, errors="replace").rstrip("\r")
        self.paper.ops.append(Text(line, bold=self.bold, big=self.big, align=self.align))
        self.buffer.clear()

    def feed(self, data: bytes) -> Paper:
        i, n = 0, len(data)
        while i < n:
            byte = data[i]
            if byte == 0x0A:
                self._flush()
                i += 1
            elif byte == 0x1B and i + 1 < n:
                i = self._esc(data, i)
            elif byte == 0x1D and i + 1 < n:
                i = self._gs(data, i)
            elif byte == 0x1C and i + 1 < n:
                command = data[i + 1:i + 2]
                if command == b"&":
                    self.paper.chinese = True
                elif command == b".":
                    self.paper.chinese = False
                i += 2 if command in (b"&", b".") else 3
            elif byte == 0x10 and i + 2 < n and data[i + 1] == 0x04:
                self.paper.status_queries.append(("DLE EOT", data[i + 2]))
                i += 3
            elif byte < 0x20 and byte not in (0x09,):
                i += 1  # other control bytes print nothing
            else:
                self.buffer.append(byte)
                i += 1
        return self.paper

    def _esc(self, data: bytes, i: int) -> int:
        command = data[i + 1:i + 2]
        params = data[i + 2:i + 2 + ESC_PARAMS.get(command, 0)]
        if command == b"@":
            self.bold, self.big, self.align = False, False, "left"
        elif command == b"!" and params:
            self.bold = bool(params[0] & 0x08)
            self.big = bool(params[0] & 0x30)
        elif command == b"E" and params:
            self.bold = bool(params[0] & 1)
        elif command == b"a" and params:
            self.align = ALIGNS.get(params[0], "left")
        elif command == b"d" and params:
            if self.buffer:
                self._flush()
            self.paper.ops.append(Feed(params[0]))
        elif command == b"*" and len(data) > i + 4:  # bit image: skip its data
            mode, low, high = data[i + 2], data[i + 3], data[i + 4]
            return i + 5 + (low + 256 * high) * (3 if mode >= 32 else 1)
        return i + 2 + ESC_PARAMS.get(command, 0)

    def _gs(self, data: bytes, i: int) -> int:
        command = data[i + 1:i + 2]
        if command == b"V":
            mode = data[i + 2] if i + 2 < len(data) else 0
            if self.buffer:
                self._flush()
            self.paper.ops.append(Cut())
            return i + (4 if mode in (65, 66) else 3)
        if command == b"(" and i + 4 < len(data):
            low, high = data[i + 3], data[i + 4]
            body = data[i + 5:i + 5 + low + 256 * high]
            if data[i + 2:i + 3] == b"k" and len(body) >= 3 and body[0] == 0x31:
                if body[1] == 0x50:
                    self.qr_data = body[3:].decode("utf-8", errors="replace")
                elif body[1] == 0x51:
                    self.paper.ops.append(Qr(self.qr_data))
            return i + 5 + low + 256 * high
        if command == b"v" and data[i + 2:i + 3] == b"0" and i + 7 < len(data):
            width = data[i + 4] + 256 * data[i + 5]
            height = data[i + 6] + 256 * data[i + 7]
            return i + 8 + width * height
        if command == b"!" and i + 2 < len(data):
            self.big = data[i + 2] != 0
        if command == b"r" and i + 2 < len(data):
            self.paper.status_queries.append(("GS r", data[i + 2]))
        return i + 2 + GS_PARAMS.get(command, 0)


def decode(data: bytes) -> Paper:
    return Decoder().feed(data)


def split_jobs(paper: Paper) -> list[Paper]:
    """One Paper per cut-off slip (what a person tears off)."""
    jobs: list[Paper] = []
    current = Paper(chinese=paper.chinese)
    for op in paper.ops:
        current.ops.append(op)
        if isinstance(op, Cut):
            jobs.append(current)
            current = Paper(chinese=paper.chinese)
    if current.ops:
        jobs.append(current)
    return jobs
