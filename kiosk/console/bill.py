"""A bill as a cashier types it: a dish per line, with its quantity and price in yuan."""

from __future__ import annotations

from typing import Any

from hub.domain.money import to_fen


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
