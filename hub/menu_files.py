"""The menu (and the recipes) as a file: CSV (UTF-8, with or without Excel's BOM) or XLSX,
with a header row.

The columns are shared/SPEC.md's ("The till"); the domain (hub.domain.menu) checks the rows,
so an owner's spreadsheet and the API's edits obey one set of rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .domain.errors import InvalidInput
from .domain.menu import EXTRA_COLUMNS, FILE_COLUMNS, export_rows
from .domain.stock import INGREDIENT_COLUMNS, RECIPE_COLUMNS
from .domain.store import Store
from .export import _write_csv, _write_xlsx
from .sheets import read_sheet

MAX_ROWS = 50_000  # a menu of 500 dishes with up to 100 ingredients each: more is a wrong file


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The file's rows as {column: value}, the recipe columns too; columns laoke does not
    read are left out."""
    return read_sheet(path, "a menu", ("code", "name", "price_fen"),
                      {*FILE_COLUMNS, *EXTRA_COLUMNS, *RECIPE_COLUMNS, *INGREDIENT_COLUMNS},
                      MAX_ROWS)


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
