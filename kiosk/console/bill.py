"""What a cashier types and reads: amounts in yuan, and a bill as lines of text."""

from __future__ import annotations

from typing import Any


def yuan(fen: int | None) -> str:
    return "-" if fen is None else f"{fen / 100:.2f}元"


def to_fen(text: str) -> int:
    """Yuan as typed by a cashier (12, 12.5, 12.50) to integer fen."""
    text = text.strip().replace("元", "").replace("¥", "")
    if not text:
        return 0
    whole, _, part = text.partition(".")
    if (not whole.isdigit() and whole != "") or not (part.isdigit() or part == "") or len(part) > 2:
        raise ValueError(f"not an amount: {text!r}")
    return int(whole or 0) * 100 + int((part + "00")[:2])


def parse_lines(text: str) -> list[dict[str, Any]]:
    """`宫保鸡丁 2 48` per line: name (may contain spaces), quantity, unit price in yuan."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) < 3 or not parts[-2].isdigit():
            raise ValueError(f"line {number}: write `dish qty price`, e.g. `宫保鸡丁 2 48`")
        lines.append({"dish": " ".join(parts[:-2]), "qty": int(parts[-2]),
                      "unit_price_fen": to_fen(parts[-1])})
    if not lines:
        raise ValueError("no dishes on the bill")
    return lines
