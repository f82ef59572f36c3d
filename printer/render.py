"""A slip as a picture of the paper, for previews in the console, the demo and the tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from .doc import Cut, Feed, Qr, Text, char_width, text_width
from .escpos_decode import Paper

DOTS = {58: 384, 80: 576}  # printable dots per line at 203 dpi
LINE = 24
FONTS = (  # Debian's CJK fonts, in order of preference
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)  # no CJK glyphs: Chinese shows as boxes


def has_cjk_font() -> bool:
    return any(Path(path).exists() for path in FONTS)


def render_png(paper: Paper, paper_mm: int, path: Path) -> Path:
    width = DOTS.get(paper_mm, 576)
    char = width // (32 if paper_mm == 58 else 48)  # one column in dots
    pieces: list[tuple[str, object]] = []
    height = 16
    for op in paper.ops:
        if isinstance(op, Text):
            pieces.append(("text", op))
            height += LINE * (2 if op.big else 1) + 4
        elif isinstance(op, Qr):
            image = qrcode.make(op.payload, box_size=4, border=2).get_image().convert("L")
            pieces.append(("qr", image))
            height += image.height + 4
        elif isinstance(op, Feed):
            pieces.append(("feed", op.lines))
            height += LINE * op.lines
        elif isinstance(op, Cut):
            pieces.append(("cut", None))
            height += 12
    canvas = Image.new("L", (width, height + 16), 255)
    draw = ImageDraw.Draw(canvas)
    y = 16
    for kind, item in pieces:
        if kind == "text":
            assert isinstance(item, Text)
            # A thermal printer's font is a grid: 12 x 24 dots, a CJK character two cells.
            scale = 2 if item.big else 1
            font = _font(LINE * scale - 2)
            cell = char * scale
            text_px = text_width(item.line) * cell
            x = {"left": 0, "center": (width - text_px) // 2,
                 "right": width - text_px}[item.align]
            x = max(0, x)
            for ch in item.line:
                draw.text((x, y), ch, fill=0, font=font,
                          stroke_width=1 if item.bold else 0, stroke_fill=0)
                x += char_width(ch) * cell
            y += LINE * scale + 4
        elif kind == "qr":
            assert isinstance(item, Image.Image)
            canvas.paste(item, ((width - item.width) // 2, y))
            y += item.height + 4
        elif kind == "feed":
            y += LINE * int(item)  # type: ignore[call-overload]
        else:
            for x in range(0, width, char):
                draw.line((x, y + 6, x + char // 2, y + 6), fill=0)
            y += 12
    canvas.save(path)
    return path
