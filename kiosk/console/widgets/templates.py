"""The coupon template picker the members and lists panes both offer."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select


class TemplateSelect(Select[str]):
    """Offers the active templates only: a retired one can no longer be sent."""

    def show(self, templates: list[dict[str, Any]]) -> None:
        self.set_options([(t["name"], t["id"]) for t in templates if t["active"]])
