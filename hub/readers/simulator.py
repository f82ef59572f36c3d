"""Card readers with no hardware, for the demo and the benchmarks.

A simulated reader is a pseudo-terminal that sends RDM6300 frames; the reader service opens
its far end like any serial port, so everything from the parser on runs as it would at a
real door.
"""

from __future__ import annotations

import os
import pty
import threading
import tty
from collections.abc import Callable

from ..domain.store import Store
from .parsers import rdm6300_frame


class SimulatedReader:
    """A reader the caller holds cards in front of (`read`); `path` is its serial port."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)

    def read(self, number: str) -> None:
        """One card held in front of the reader: its frame on the wire."""
        os.write(self.master, rdm6300_frame(number))

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class CardSimulator(SimulatedReader):
    """The demo's door: 'reads' a random guest's card every few seconds until stopped."""

    def __init__(self, store: Callable[[], Store], every: float) -> None:
        super().__init__()
        self.store = store
        self.every = every
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            number = self.store().scalar(
                "SELECT number FROM member_cards WHERE status = 'active' ORDER BY random() "
                "LIMIT 1")
            if number:
                self.read(number)

    def close(self) -> None:
        self.stop.set()
        super().close()
