"""The card readers: one worker thread per configured card reader or scanner.

It opens the port (any pyserial URL), survives unplug and replug (it tries again every half
second), ignores the same card held in front of the reader, and publishes every read to the
event stream with the guest it belongs to, or why not. A reader set to check guests in seats
the card's guest at its station.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from ..domain.config import ReaderSettings
from ..domain.errors import CardBlocked, LaokeError, MemberErased, NotFound, QrInvalid
from ..domain.members import QR_PREFIX, member_by_card, member_by_qr
from ..domain.profiles import checkin_card, guest_card, member_profile
from ..domain.store import Store
from ..domain.visits import check_in
from ..workers import ThreadWorker
from .parsers import DEFAULT_BAUD, PARSERS, Read, Rejected

REOPEN_S = 0.5
DEBOUNCE_S = 2.0

Publish = Callable[[str, dict[str, Any]], object]


def identify(store: Store, value: str) -> dict[str, Any]:
    """Who a read belongs to: a member, an unknown card, a blocked card or a bad QR code."""
    try:
        row = member_by_qr(store, value) if value.startswith(QR_PREFIX) else \
            member_by_card(store, value)
    except (QrInvalid, MemberErased) as error:
        return {"status": "invalid", "message": error.message, "member": None}
    except CardBlocked as error:
        return {"status": "blocked", "message": error.message, "member": None}
    except NotFound:
        return {"status": "unknown", "member": None,
                "message": "unknown card: offer signup or link it to a guest"}
    return {"status": "member", "message": "", "member": guest_card(
        member_profile(store, row["id"]))}


class Reader(ThreadWorker):
    """One reader: its port, its parser, its state."""

    def __init__(self, settings: ReaderSettings, store: Callable[[], Store],
                 publish: Publish) -> None:
        super().__init__()
        self.name = f"reader {settings.station}"
        self.settings = settings
        self.store = store
        self.publish = publish
        self.parser = PARSERS[settings.protocol]()
        self.connected = False
        self.last_read_at: float | None = None
        self.reads = 0
        self._recent: dict[str, float] = {}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "url": self.settings.url, "protocol": self.settings.protocol,
                "station": self.settings.station, "connected": self.connected,
                "last_error": self.last_error, "reads": self.reads}

    def handle(self, data: bytes, received_at: float) -> None:
        for result in self.parser.feed(data):
            if isinstance(result, Rejected):
                self.publish("card.rejected", {"station": self.settings.station,
                                               "reason": result.reason})
            elif isinstance(result, Read):
                self._read(result.value, received_at)

    def _read(self, value: str, received_at: float) -> None:
        last = self._recent.get(value)
        self._recent = {v: t for v, t in self._recent.items() if received_at - t < DEBOUNCE_S}
        if last is not None and received_at - last < DEBOUNCE_S:
            self._recent[value] = received_at  # still held in front of the reader
            return
        self._recent[value] = received_at
        self.reads += 1
        self.last_read_at = received_at
        store = self.store()
        found = identify(store, value)
        qr = value.startswith(QR_PREFIX)
        self.publish("card.read", {
            "station": self.settings.station, "protocol": self.settings.protocol,
            "number": None if qr else value, "qr": qr, **found})
        if self.settings.checkin and found["status"] == "member":
            member = found["member"]
            try:
                visit = check_in(store, member["id"], self.settings.station, 1)
            except LaokeError as error:
                self.publish("card.rejected", {"station": self.settings.station,
                                               "reason": error.message})
                return
            self.publish("checkin.created", checkin_card(visit, member, f"reader "
                                                         f"{self.settings.station}"))

    def step(self, stop: threading.Event) -> float:
        """One session on the port: open it, read until it goes away; then open it again."""
        baudrate = self.settings.baudrate or DEFAULT_BAUD[self.settings.protocol]
        try:
            port = serial.serial_for_url(self.settings.url, baudrate=baudrate, timeout=0.2)
        except (serial.SerialException, OSError, ValueError) as error:
            self._lost(f"cannot open: {error}")
            return REOPEN_S
        self.connected, self.last_error = True, None
        self.publish("reader.connected", self.state())
        try:
            while not stop.is_set():
                first = port.read(1)  # returns at the first byte, or after the timeout
                if first:
                    data = first + port.read(port.in_waiting)
                    self.handle(data, time.monotonic())
        except (serial.SerialException, OSError) as error:
            self._lost(f"unplugged: {error}")
        except Exception:  # a bug in handling one read: reopen, and say so in the state
            self._lost("internal error; reopened")
            raise
        finally:
            port.close()
        return REOPEN_S

    def _lost(self, reason: str) -> None:
        was = self.connected
        self.connected, self.last_error = False, reason
        if was:
            self.publish("reader.disconnected", self.state())
