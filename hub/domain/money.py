"""Money as people read and type it. Amounts are integer fen everywhere else; this is the
one place that turns them into yuan with two decimals and back, so a slip, a screen, a
message and the command line all show the same amount the same way."""

from __future__ import annotations


def yuan(fen: int | None, unit: str = "元", *, width: int = 0, sign: bool = False) -> str:
    """`12.50元`, or `-` for an amount nobody knows. `unit` follows the figure (`" 元"`,
    `" yuan"`); `width` right-aligns the figure in columns; `sign` shows `+` on a gain."""
    if fen is None:
        return "-"
    return f"{fen / 100:{'+' if sign else ''}{width}.2f}{unit}"


def to_fen(text: str) -> int:
    """Yuan as typed by a cashier (12, 12.5, 12.50, 12元, ¥12) to integer fen; ValueError
    for anything else, finer than a fen included."""
    text = text.strip().replace("元", "").replace("¥", "")
    if not text:
        return 0
    whole, _, part = text.partition(".")
    if (not whole.isdigit() and whole != "") or not (part.isdigit() or part == "") or len(part) > 2:
        raise ValueError(f"not an amount: {text!r}")
    return int(whole or 0) * 100 + int((part + "00")[:2])
