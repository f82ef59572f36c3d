"""A command run on a pseudo-terminal, as a person runs it in a shell: for the Textual apps'
real start-up path (`laoke console`, `laoke demo`), which needs a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from fcntl import ioctl

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 40,
                 cols: int = 140) -> None:
        self.master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(argv, env={**env, "TERM": "xterm-256color"},
                                        stdin=slave, stdout=slave, stderr=slave,
                                        start_new_session=True)
        os.close(slave)
        self.seen = b""

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.seen += os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def text(self) -> str:
        """What the screen was sent, without the escape sequences."""
        return ANSI.sub(b"", self.seen).decode(errors="replace")

    def expect(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{needle!r} never appeared; the screen had:\n"
                                     f"{self.text()[-3000:]}")
            self._read(0.1)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)  # keep draining, or the child blocks writing to the terminal
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(f"did not exit; the screen had:\n{self.text()[-3000:]}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)
