"""The virtual printer: accepts ESC/POS like a network receipt printer, keeps every slip,
and renders each to text and to a PNG of the paper.

Faults can be injected (paper out, cover open) through a small state file in its folder, so a
test in one process can make the printer in another one misbehave. It answers the status
queries real printers answer: DLE EOT 1/2/4 at once, and GS r 1 only after everything sent
before it has been printed, which is how the print queue knows a slip came out.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .escpos_decode import decode, split_jobs
from .render import render_png

OK, PAPER_OUT, COVER_OPEN, OFFLINE = 0x00, 0x60, 0x04, 0x08
BASE = 0x12  # the fixed bits every status byte carries


class VirtualPrinter:
    def __init__(self, spool: Path, paper_mm: int = 80, job: str | None = None) -> None:
        self.spool = spool
        self.paper_mm = paper_mm
        self.job = job  # the print job being printed, noted on its slips so they can be forgotten
        spool.mkdir(parents=True, exist_ok=True)
        self._pending = bytearray()
        self._lock = threading.Lock()

    # -- faults ----------------------------------------------------------------------------

    def _state(self) -> dict[str, bool]:
        try:
            return json.loads((self.spool / "state.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def set_fault(self, *, paper_out: bool = False, cover_open: bool = False) -> None:
        (self.spool / "state.json").write_text(
            json.dumps({"paper_out": paper_out, "cover_open": cover_open}))

    @property
    def ready(self) -> bool:
        state = self._state()
        return not (state.get("paper_out") or state.get("cover_open"))

    def status_byte(self, n: int) -> int:
        state = self._state()
        if n == 1:
            return BASE | (OFFLINE if not self.ready else 0)
        if n == 2:
            return BASE | (COVER_OPEN if state.get("cover_open") else 0) | (
                0x20 if state.get("paper_out") else 0)
        if n == 4:
            return BASE | (PAPER_OUT if state.get("paper_out") else 0)
        return BASE

    # -- printing --------------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed bytes as they arrive; returns the status bytes the printer answers with."""
        replies = bytearray()
        with self._lock:
            buffer = bytes(self._pending + data)
            i = start = 0
            while i < len(buffer):
                if buffer[i] in (0x10, 0x1D) and i + 2 >= len(buffer):
                    break  # a command split across packets: wait for the rest
                query = buffer[i:i + 2]
                if query in (b"\x10\x04", b"\x1dr"):
                    self._print(buffer[start:i])
                    if query == b"\x1dr":  # in sequence: everything before it is printed
                        self._flush_slips(final=False)
                    replies.append(self.status_byte(4 if query == b"\x1dr" else buffer[i + 2]))
                    i = start = i + 3
                else:
                    i += 1
            self._print(buffer[start:i])
            self._pending = bytearray(buffer[i:])
            self._flush_slips(final=False)
        return bytes(replies)

    def close_connection(self) -> None:
        """A network printer prints what it got even without a cut when the sender hangs up."""
        with self._lock:
            self._print(bytes(self._pending))
            self._pending = bytearray()
            self._flush_slips(final=True)

    def _print(self, data: bytes) -> None:
        if not data:
            return
        if not self.ready:
            return  # no paper or cover open: nothing comes out (the status said so)
        with open(self.spool / "current.bin", "ab") as handle:
            handle.write(data)

    def _flush_slips(self, final: bool) -> None:
        current = self.spool / "current.bin"
        if not current.exists():
            return
        data = current.read_bytes()
        slips = split_jobs(decode(data))
        complete = [s for s in slips if s.cuts] if not final else slips
        if not complete:
            return
        # Keep the bytes after the last cut for the next slip (GS V m, or GS V A/B n).
        last_cut = data.rfind(b"\x1dV")
        cut_length = 4 if data[last_cut + 2:last_cut + 3] in (b"A", b"B") else 3
        rest = b"" if final or last_cut < 0 else data[last_cut + cut_length:]
        with self._numbering() as next_number:
            for slip in complete:
                number = next_number()
                stem = self.spool / f"{number:05d}"
                stem.with_suffix(".txt").write_text(slip.text + "\n", encoding="utf-8")
                stem.with_suffix(".json").write_text(json.dumps(
                    {"number": number, "job": self.job, "qr": slip.qr_payloads,
                     "cut": bool(slip.cuts),
                     "lines": [op.__dict__ for op in slip.ops if hasattr(op, "line")]},
                    ensure_ascii=False), encoding="utf-8")
                render_png(slip, self.paper_mm, stem.with_suffix(".png"))
        if rest.strip(b"\n"):
            current.write_bytes(rest)
        else:
            current.unlink()

    @contextlib.contextmanager
    def _numbering(self) -> Iterator[Callable[[], int]]:
        with open(self.spool / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            numbers = [int(p.stem) for p in self.spool.glob("[0-9]*.txt")]
            counter = iter(range(max(numbers, default=0) + 1, 10**9))
            yield lambda: next(counter)

    def forget(self, jobs: list[str]) -> int:
        """Remove the slips of these print jobs (text, metadata and picture), as an erasure
        asks; returns how many went."""
        wanted, gone = set(jobs), 0
        if not wanted:
            return 0
        with self._numbering():
            for meta in self.spool.glob("[0-9]*.json"):
                try:
                    job = json.loads(meta.read_text(encoding="utf-8")).get("job")
                except (OSError, json.JSONDecodeError):
                    continue
                if job in wanted:
                    for suffix in (".txt", ".png", ".json"):
                        meta.with_suffix(suffix).unlink(missing_ok=True)
                    gone += 1
        return gone

    # -- reading back ----------------------------------------------------------------------

    def slips(self) -> list[dict[str, object]]:
        """Every slip printed so far, oldest first: its number, text, QR payloads, files."""
        found = []
        for meta in sorted(self.spool.glob("[0-9]*.json")):
            data = json.loads(meta.read_text(encoding="utf-8"))
            data["text"] = meta.with_suffix(".txt").read_text(encoding="utf-8")
            data["png"] = str(meta.with_suffix(".png"))
            found.append(data)
        return found


class _Handler(socketserver.BaseRequestHandler):
    server: VirtualPrinterServer

    def handle(self) -> None:
        printer = self.server.printer
        self.request.settimeout(30)
        try:
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                replies = printer.receive(chunk)
                if replies:
                    self.request.sendall(replies)
        except OSError:
            pass
        finally:
            printer.close_connection()


class VirtualPrinterServer(socketserver.ThreadingTCPServer):
    """`laoke printer serve`: the virtual printer on a TCP port, like a JetDirect printer."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, printer: VirtualPrinter, host: str = "127.0.0.1", port: int = 9100):
        self.printer = printer
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> VirtualPrinterServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
