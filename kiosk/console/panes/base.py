"""What every tab of the console shares: its words, its hub calls and its place in the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual.widgets import TabPane

if TYPE_CHECKING:
    from ..app import ConsoleApp

Json = dict[str, Any]
T = TypeVar("T")  # what a hub call answers, handed to the screen as it is


class Pane(TabPane):
    """One tab: it builds its widgets, answers their events and keeps its own state as data
    keyed by id. It reaches the hub only through the app's workers, so it never waits on the
    network, and it hears the hub's events through `hub_event`."""

    KEY: ClassVar[str]  # the tab's id and the word for its title

    def __init__(self, title: str) -> None:
        super().__init__(title, id=self.KEY)
        self.asked: dict[str, int] = {}  # by what a read shows: the number of its latest ask

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def t(self, key: str) -> str:
        return self.console.t(key)

    def call(self, fn: Callable[[], T], then: Callable[[T], None]) -> None:
        self.console.call(fn, then)

    def view(self, what: str, fn: Callable[[], T], then: Callable[[T], None]) -> None:
        """A read whose answer replaces what the tab shows of `what`. Reads run in worker
        threads and can come back in any order, so only the latest asked is shown: an older
        answer would put back what a change since has removed."""
        self.drop(what)
        asked = self.asked[what]

        def show(answer: T) -> None:
            if self.asked[what] == asked:
                then(answer)

        self.console.call(fn, show)

    def drop(self, what: str) -> None:
        """No answer asked for so far about `what` is wanted any more: it was cleared."""
        self.asked[what] = self.asked.get(what, 0) + 1

    def opened(self) -> None:
        """The tab was brought to the front: what it shows may be stale."""

    def hub_event(self, event: Json) -> None:
        """An event from the hub's stream, for the panes that show what it changes."""
