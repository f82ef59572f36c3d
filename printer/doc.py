"""A printed slip as data: lines already wrapped to the paper, QR codes, feeds and a cut.

Layouts build a `Doc`; `printer.escpos_out` turns it into ESC/POS bytes. Column arithmetic
uses terminal widths (a CJK character takes two columns), so Chinese and numbers line up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from wcwidth import wcwidth

Align = Literal["left", "center", "right"]
COLUMNS = {58: 32, 80: 48}


def printable(text: str) -> str:
    """Control characters (in a guest's note, a dish name) become spaces: on paper they would
    be printer commands."""
    return "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text)


def char_width(ch: str) -> int:
    width = wcwidth(ch)
    return 0 if width < 0 else width


def text_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Split into lines of at most `width` columns, never inside a character; words stay
    whole where there are spaces to break at (Chinese breaks between any two characters)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0
        for word in _tokens(paragraph):
            word_width = text_width(word)
            if used + word_width > width and line:
                lines.append(line.rstrip())
                line, used = "", 0
                word = word.lstrip()
                word_width = text_width(word)
            while word_width > width:  # one token longer than a line: cut it by columns
                head, rest = _cut(word, width - used)
                lines.append((line + head).rstrip())
                line, used, word = "", 0, rest
                word_width = text_width(word)
            line += word
            used += word_width
        lines.append(line.rstrip())
    return lines


def _tokens(text: str) -> list[str]:
    """Latin words with their trailing space, and every wide character on its own."""
    tokens: list[str] = []
    current = ""
    for ch in text:
        if char_width(ch) == 2:
            if current:
                tokens.append(current)
                current = ""
            tokens.append(ch)
        else:
            current += ch
            if ch == " ":
                tokens.append(current)
                current = ""
    if current:
        tokens.append(current)
    return tokens


def _cut(text: str, width: int) -> tuple[str, str]:
    used = 0
    for index, ch in enumerate(text):
        if used + char_width(ch) > width:
            return text[:index], text[index:]
        used += char_width(ch)
    return text, ""


def pad(text: str, width: int, align: Align = "left") -> str:
    space = max(0, width - text_width(text))
    if align == "right":
        return " " * space + text
    if align == "center":
        return " " * (space // 2) + text + " " * (space - space // 2)
    return text + " " * space


def columns(left: str, right: str, width: int) -> list[str]:
    """`left` flush left and `right` flush right on one line, wrapping `left` if needed."""
    room = width - text_width(right) - 1
    if room < 4:
        return [*wrap(left, width), pad(right, width, "right")]
    lines = wrap(left, room)
    lines[-1] = pad(lines[-1], room) + " " + right
    return [pad(line, width) if i < len(lines) - 1 else line for i, line in enumerate(lines)]


@dataclass(frozen=True)
class Text:
    line: str
    bold: bool = False
    big: bool = False  # double width and height
    align: Align = "left"


@dataclass(frozen=True)
class Qr:
    payload: str
    size: int = 6


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


Op = Text | Qr | Feed | Cut


@dataclass
class Doc:
    """A slip for paper `paper_mm` wide; `add_*` wrap text to the paper's columns."""

    paper_mm: int = 80
    ops: list[Op] = field(default_factory=list)

    @property
    def columns(self) -> int:
        return COLUMNS[self.paper_mm]

    def text(self, text: str, *, bold: bool = False, big: bool = False,
             align: Align = "left") -> Doc:
        width = self.columns // 2 if big else self.columns
        for line in wrap(printable(text), width):
            self.ops.append(Text(line, bold=bold, big=big, align=align))
        return self

    def pair(self, left: str, right: str, *, bold: bool = False) -> Doc:
        for line in columns(printable(left), printable(right), self.columns):
            self.ops.append(Text(line, bold=bold))
        return self

    def rule(self, char: str = "-") -> Doc:
        self.ops.append(Text(char * (self.columns // text_width(char))))
        return self

    def qr(self, payload: str, size: int = 6) -> Doc:
        self.ops.append(Qr(payload, size))
        return self

    def feed(self, lines: int = 1) -> Doc:
        self.ops.append(Feed(lines))
        return self

    def cut(self) -> Doc:
        self.ops.append(Cut())
        return self

    def plain_text(self) -> str:
        """What the slip says, line by line (for previews and logs)."""
        return "\n".join(op.line for op in self.ops if isinstance(op, Text))
