"""A `Doc` to ESC/POS bytes through python-escpos, with text encoded the way Chinese thermal
printers read it (GB18030 or GBK in Chinese character mode), per printer profile.

python-escpos's own text encoding would send full-width punctuation or a lone ¥ as `?`, so
text goes out as raw bytes encoded here; styles, QR codes and the cut are python-escpos's.
"""

from __future__ import annotations

from typing import Literal

from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from hub.domain.errors import InvalidInput

from .doc import Cut, Doc, Feed, Qr, Text, printable

Encoding = Literal["gb18030", "gbk", "ascii"]
RESET = b"\x1b@"
CHINESE_MODE = b"\x1c&"  # FS &: two-byte (GB) characters from here on


def encode_text(line: str, encoding: Encoding) -> bytes:
    """Bytes for one line; what the printer cannot show becomes '?', never a crash, and a
    control character in a guest's note or a dish name can never become a printer command."""
    return printable(line).encode(encoding, errors="replace")


def _style(out: Dummy, align: str, bold: bool, big: bool) -> None:
    # python-escpos only writes a size when asked for one: normal size must be explicit.
    if big:
        out.set(align=align, bold=bold, double_width=True, double_height=True)
    else:
        out.set(align=align, bold=bold, normal_textsize=True)


def to_escpos(doc: Doc, profile: str = "default", encoding: Encoding = "gb18030") -> bytes:
    try:
        out = Dummy(profile=profile)
    except KeyError:
        raise InvalidInput(f"unknown printer profile {profile!r} (python-escpos names such as "
                           "'default' or 'TM-T88V')") from None
    out._raw(RESET)
    if encoding != "ascii":
        out._raw(CHINESE_MODE)
    # Style commands only when the style changes: every byte costs a millisecond at 9,600 baud.
    current: tuple[str, bool, bool] | None = None
    for op in doc.ops:
        if isinstance(op, Text):
            if current != (op.align, op.bold, op.big):
                current = (op.align, op.bold, op.big)
                _style(out, *current)
            out._raw(encode_text(op.line, encoding) + b"\n")
        elif isinstance(op, Qr):
            current = ("center", False, False)
            _style(out, *current)
            # native: a 54-byte GS ( k command instead of a kilobyte raster image
            out.qr(op.payload, native=True, size=op.size, ec=QR_ECLEVEL_M)
        elif isinstance(op, Feed):
            out._raw(b"\x1bd" + bytes([min(op.lines, 255)]))
        elif isinstance(op, Cut):
            out.cut()
    return bytes(out.output)
