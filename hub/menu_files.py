"""The menu (and the recipes) as a file: CSV (UTF-8, with or without Excel's BOM) or XLSX,
with a header row.

The columns are shared/SPEC.md's ("The till"); the domain (hub.domain.menu) checks the rows,
so an owner's spreadsheet and the API's edits obey one set of rules.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from .domain.errors import InvalidInput
from .domain.menu import EXTRA_COLUMNS, FILE_COLUMNS, export_rows
from .domain.store import Store
from .export import _write_csv, _write_xlsx

MAX_ROWS = 5000  # a restaurant's menu (or its recipes), with room; more is a wrong file


def read_table(path: Path, required: Sequence[str], known: Collection[str],
               what: str = "menu") -> list[dict[str, Any]]:
    """A sheet's rows as {column: value}, for any file laoke imports (the menu, recipes);
    columns not in `known` are left out."""
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
        raise InvalidInput(f"{path.name}: a {what} is a .csv or .xlsx file")
    if not table:
        raise InvalidInput(f"{path.name}: the file is empty")
    header = [str(name or "").strip().lower() for name in table[0]]
    missing = [name for name in required if name not in header]
    if missing:
        raise InvalidInput(f"{path.name}: the header row has no {', '.join(missing)} column")
    rows = [row for row in table[1:] if any(cell not in (None, "") for cell in row)]
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"{path.name}: {len(rows)} rows, more than a {what}'s {MAX_ROWS}")
    return [{name: ("" if cell is None else cell) for name, cell in zip(header, row, strict=False)
             if name in known} for row in rows]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The menu file's rows as {column: value}; columns laoke does not read are left out."""
    return read_table(path, ("code", "name", "price_fen"), {*FILE_COLUMNS, *EXTRA_COLUMNS})


def write_menu(store: Store, path: Path) -> int:
    """The menu in the file's columns; the format follows the name (.csv or .xlsx)."""
    fmt = path.suffix.lower()
    if fmt not in (".csv", ".xlsx"):
        raise InvalidInput(f"{path.name}: a menu is written as .csv or .xlsx")
    columns = [*FILE_COLUMNS, *EXTRA_COLUMNS]
    rows = export_rows(store)
    writer = _write_csv if fmt == ".csv" else _write_xlsx
    tmp = path.with_name(path.name + ".part")
    count = writer(tmp, columns, (tuple(row[c] for c in columns) for row in rows), lambda: None)
    tmp.replace(path)
    return count
