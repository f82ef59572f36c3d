"""A table of things the hub keeps, one row per thing, keyed by its id."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


class Table(DataTable[Any]):
    """Rows are keyed by the id of what they show, so a handler asks which thing is chosen
    and looks it up in its pane's data; nothing is read back from a rendered cell."""

    def __init__(self, *columns: str, id: str) -> None:
        super().__init__(id=id, cursor_type="row")
        # Columns exist from the start, however early the hub's first answer arrives.
        self.add_columns(*columns)

    def chosen(self) -> str | None:
        """The id of the row under the cursor, or None in an empty table."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
