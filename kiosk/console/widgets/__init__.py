"""Widgets more than one pane uses."""

from .table import Table
from .templates import TemplateSelect

__all__ = ["Table", "TemplateSelect"]
