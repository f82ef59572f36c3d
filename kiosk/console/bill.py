"""A bill as a cashier types it: a dish of the menu by its code and quantity (the hub prices
it), or an open item with its name, quantity and price in yuan."""

from __future__ import annotations

from typing import Any

from hub.domain.menu import CODE_PATTERN
from hub.domain.money import to_fen


def parse_lines(text: str) -> list[dict[str, Any]]:
    """`HS01 2` (a menu code and a quantity) or `宫保鸡丁 2 48` (name, which may contain
    spaces, quantity, unit price in yuan) per line."""
    lines: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) == 2 and CODE_PATTERN.match(parts[0]) and parts[1].isdigit():
            lines.append({"code": parts[0], "qty": int(parts[1])})
            continue
        if len(parts) < 3 or not parts[-2].isdigit():
            raise ValueError(f"line {number}: write `code qty` (e.g. `HS01 2`) or "
                             "`dish qty price` (e.g. `宫保鸡丁 2 48`)")
        lines.append({"dish": " ".join(parts[:-2]), "qty": int(parts[-2]),
                      "unit_price_fen": to_fen(parts[-1])})
    if not lines:
        raise ValueError("no dishes on the bill")
    return lines
