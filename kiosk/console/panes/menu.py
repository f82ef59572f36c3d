"""The menu at the manager's desk: every dish with its prices, a new price, sold out today."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input

from hub.domain.money import to_fen, yuan

from ..widgets import Table
from .base import Json, Pane


class MenuPane(Pane):
    KEY = "menu"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.dishes: dict[str, Json] = {}  # the menu as the hub sent it, by code

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            yield Table(*(t(k) for k in ("code", "dish", "category", "price", "member_price",
                                         "state")), id="menu-table")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("new_price"), id="menu-price")
                yield Button(t("set_price"), id="menu-set-price")
                yield Button(t("sold_out_today"), id="menu-sold-out", variant="warning")

    def on_mount(self) -> None:
        self.load()

    def opened(self) -> None:
        self.load()

    def load(self) -> None:
        self.call(self.console.client.menu, self.show)

    def show(self, dishes: list[Json]) -> None:
        t = self.t
        self.dishes = {dish["code"]: dish for dish in dishes}
        table = self.query_one("#menu-table", Table)
        chosen = table.chosen()  # the dish just changed stays under the cursor
        table.clear()
        for dish in dishes:
            table.add_row(dish["code"], dish["name"], dish["category"], yuan(dish["price_fen"]),
                          yuan(dish["member_price_fen"]),
                          t("on_menu") if dish["available"] else t("sold_out"), key=dish["code"])
        if chosen in self.dishes:
            table.move_cursor(row=table.get_row_index(chosen))

    @on(Button.Pressed, "#menu-set-price")
    def set_price(self) -> None:
        code = self.query_one("#menu-table", Table).chosen()
        if code is None:
            return
        try:
            price = to_fen(self.query_one("#menu-price", Input).value)
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        self.call(lambda: self.console.client.save_dish(code, {"price_fen": price}),
                  lambda _: self.load())

    @on(Button.Pressed, "#menu-sold-out")
    def toggle_sold_out(self) -> None:
        code = self.query_one("#menu-table", Table).chosen()
        if code is None:
            return
        sold_out = bool(self.dishes[code]["available"])  # by the data, never the screen
        self.call(lambda: self.console.client.sold_out(code, sold_out), lambda _: self.load())
