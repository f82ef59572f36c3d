"""The staff console: the owner's and the cashier's view of the store, in a terminal.

`app.py` is the App (keys, tabs, language, the hub client and its event stream); each tab is
a pane in `panes/` that owns its widgets, handlers and state; `widgets/` holds what panes
share; `console.tcss` is the one stylesheet.
"""

from hub.domain.money import to_fen

from .app import ConsoleApp, run_console
from .bill import parse_lines

__all__ = ["ConsoleApp", "parse_lines", "run_console", "to_fen"]
