"""A spreadsheet from an owner: CSV (UTF-8, with or without Excel's BOM) or XLSX, with a header
row. The menu and the delivery platforms' orders are read alike; their rules stay in the
domain, which gets plain {column: value} rows."""

from __future__ import annotations

import csv
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .domain.errors import InvalidInput


def read_sheet(path: Path, what: str, required: Collection[str], known: Collection[str],
               max_rows: int, renames: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The file's rows as {column: value} (headers lower-cased, and read as the owner's
    `renames` say: 订单编号 -> platform_order_id); columns not `known` are left out, a missing
    `required` column, two headers read as one column, or more than `max_rows` rows refuses
    the file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        except Exception as error:  # openpyxl raises many kinds for a file that is not XLSX
            raise InvalidInput(f"{path.name}: not a readable XLSX file ({error})") from None
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
    elif path.suffix.lower() == ".csv":
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                table = list(csv.reader(handle))
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name}: not UTF-8 (save the sheet as CSV UTF-8)") from None
    else:
        raise InvalidInput(f"{path.name}: {what} is a .csv or .xlsx file")
    if not table:
        raise InvalidInput(f"{path.name}: the file is empty")
    header = _header(path, table[0], {k.strip().lower(): v for k, v in (renames or {}).items()})
    missing = [name for name in required if name not in header]
    if missing:
        raise InvalidInput(f"{path.name}: the header row has no {', '.join(missing)} column")
    rows = [row for row in table[1:] if any(cell not in (None, "") for cell in row)]
    if len(rows) > max_rows:
        raise InvalidInput(f"{path.name}: {len(rows)} rows, more than {what}'s {max_rows}")
    return [{name: ("" if cell is None else cell) for name, cell in zip(header, row, strict=False)
             if name in known} for row in rows]


def _header(path: Path, cells: Sequence[Any], renames: Mapping[str, str]) -> list[str]:
    header = [str(name or "").strip().lower() for name in cells]
    header = [renames.get(name, name) for name in header]
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        raise InvalidInput(f"{path.name}: more than one column is read as "
                           f"{', '.join(twice)} (the header row, or the columns' mapping)")
    return header
