"""The menu at the manager's desk: every dish, and one form under it to add a dish or change
everything about it (names, category, prices, station, tags, members-only, daily limit,
portions left today, sold out), or take it off the menu. Big fields with their names beside
them and one save: few steps for a manager of fifty.

A chain's dish is the chain's: only its prices, sold out and portions are the store's, so the
rest of the form is greyed, and the hub refuses it anyway with the same words."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from hub.domain.menu import KIDS_TAG, NEW_TAG, SPICE_TAGS
from hub.domain.money import to_fen, yuan

from ..widgets import Table
from .base import Json, Pane

# What only the chain changes of its dishes (greyed for them); prices, sold out and portions
# stay open.
CHAIN_FIELDS = ("#dish-name", "#dish-name-en", "#dish-category", "#dish-station", "#dish-new",
                "#dish-kids", "#dish-spice", "#dish-tags", "#dish-members-only", "#dish-limit",
                "#dish-retire")
KNOWN_TAGS = (NEW_TAG, KIDS_TAG, *SPICE_TAGS)


def _count(text: str, error: str) -> int | None:
    """A whole number as typed, or None for an empty field; ValueError(error) otherwise."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(error)
    return int(text)


class MenuPane(Pane):
    KEY = "menu"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.dishes: dict[str, Json] = {}  # the menu as the hub sent it, by code
        self.editing: str | None = None  # the dish in the form; None: a new dish
        self.retiring: str | None = None  # armed by a first press of "take off the menu"

    def compose(self) -> ComposeResult:
        t = self.t

        def field(key: str, widget_id: str) -> ComposeResult:
            yield Label(t(key))
            yield Input(id=widget_id)

        with VerticalScroll():
            yield Table(*(t(k) for k in ("code", "dish", "category", "price", "member_price",
                                         "station", "state")), id="menu-table")
            yield Static("", id="dish-note", classes="panel")
            with Horizontal(classes="row"):
                yield from field("code", "dish-code")
                yield from field("dish_name", "dish-name")
                yield from field("name_en", "dish-name-en")
            with Horizontal(classes="row"):
                yield from field("category", "dish-category")
                yield from field("station", "dish-station")
                yield from field("price_yuan", "dish-price")
                yield from field("member_price_yuan", "dish-member-price")
            with Horizontal(classes="row"):
                yield Checkbox(t("tag_new"), id="dish-new")
                yield Checkbox(t("tag_kids"), id="dish-kids")
                yield Select([(t("no_spice"), ""), *((t(f"spice_{n}"), tag) for n, tag in
                                                     enumerate(SPICE_TAGS, 1))],
                             allow_blank=False, value="", id="dish-spice")
                yield from field("other_tags", "dish-tags")
            with Horizontal(classes="row"):
                yield Checkbox(t("members_only"), id="dish-members-only")
                yield from field("daily_limit", "dish-limit")
                yield from field("portions", "dish-portions")
            with Horizontal(classes="row"):
                yield Button(t("save"), id="dish-save", variant="primary")
                yield Button(t("new_dish"), id="dish-add")
                yield Button(t("sold_out_today"), id="menu-sold-out", variant="warning")
                yield Button(t("retire"), id="dish-retire", variant="error")

    def on_mount(self) -> None:
        self.load()

    def opened(self) -> None:
        self.load()

    def hub_event(self, event: Json) -> None:
        # a sale draws down portions left: keep the counts (and the reminders) current
        if event["type"] == "checkout.completed" and any(
                dish["portions_left"] is not None for dish in self.dishes.values()):
            self.view("menu", self.console.client.menu,
                      lambda dishes: self.show(dishes, refill=False))

    def load(self) -> None:
        self.view("menu", self.console.client.menu, self.show)

    def state(self, dish: Json) -> str:
        t = self.t
        if not dish["available"]:
            return t("sold_out")
        if dish["portions_left"] is None:
            return t("on_menu")
        left = t("left").format(n=dish["portions_left"])
        return f"{left} {t('running_low')}" if dish["running_low"] else left

    def show(self, dishes: list[Json], refill: bool = True) -> None:
        """The menu as the hub sent it; the form shows its dish anew after the console's own
        change (`refill`), and otherwise keeps what is being typed but the count sales drew."""
        before = self.dishes
        self.dishes = {dish["code"]: dish for dish in dishes}
        table = self.query_one("#menu-table", Table)
        chosen = self.editing  # the dish just changed stays under the cursor
        table.clear()
        for dish in dishes:
            table.add_row(dish["code"], dish["name"], dish["category"], yuan(dish["price_fen"]),
                          yuan(dish["member_price_fen"]), dish["station"], self.state(dish),
                          key=dish["code"])
        for dish in dishes:  # the reminder, once, when a dish goes low while staff look on
            if before and dish["running_low"] and \
                    not before.get(dish["code"], {}).get("running_low"):
                self.notify(f"{dish['name']}: {self.state(dish)}", severity="warning")
        if chosen in self.dishes:
            table.move_cursor(row=table.get_row_index(chosen))
            if refill:
                self.fill(self.dishes[chosen])
            elif chosen in before:
                count = self.query_one("#dish-portions", Input)
                if count.value == str(before[chosen]["portions_left"] or ""):  # untouched
                    count.value = str(self.dishes[chosen]["portions_left"] or "")
        elif dishes and not before:
            self.fill(dishes[0])

    @on(DataTable.RowSelected, "#menu-table")
    def chosen(self, event: DataTable.RowSelected) -> None:
        """A dish clicked (or Enter on it) comes into the form."""
        self.fill(self.dishes[str(event.row_key.value)])

    def fill(self, dish: Json | None) -> None:
        """The form shows this dish (None: an empty form for a new one)."""
        same = dish is not None and dish["code"] == self.editing
        self.editing = dish["code"] if dish else None
        if not same:  # a reload of the same dish keeps a retire waiting for its second press
            self.retiring = None
            self.query_one("#dish-retire", Button).label = self.t("retire")
        found: Json = dish or {"code": "", "name": "", "name_en": "", "category": "",
                               "station": "", "price_fen": None, "member_price_fen": None,
                               "tags": [], "members_only": False, "daily_limit": None,
                               "portions_left": None, "from_chain": False}
        price = found["price_fen"]
        member_price = found["member_price_fen"]
        texts = {"#dish-code": found["code"], "#dish-name": found["name"],
                 "#dish-name-en": found["name_en"], "#dish-category": found["category"],
                 "#dish-station": found["station"],
                 "#dish-price": "" if price is None else yuan(price, ""),
                 "#dish-member-price": "" if member_price is None else yuan(member_price, ""),
                 "#dish-tags": ",".join(tag for tag in found["tags"] if tag not in KNOWN_TAGS),
                 "#dish-limit": str(found["daily_limit"] or ""),
                 "#dish-portions": "" if found["portions_left"] is None
                 else str(found["portions_left"])}
        for selector, text in texts.items():
            self.query_one(selector, Input).value = text
        self.query_one("#dish-code", Input).disabled = dish is not None  # the key stays
        self.query_one("#dish-new", Checkbox).value = NEW_TAG in found["tags"]
        self.query_one("#dish-kids", Checkbox).value = KIDS_TAG in found["tags"]
        spice = next((tag for tag in found["tags"] if tag in SPICE_TAGS), "")
        self.query_one("#dish-spice", Select).value = spice
        self.query_one("#dish-members-only", Checkbox).value = bool(found["members_only"])
        chain = bool(found["from_chain"])
        for selector in CHAIN_FIELDS:
            self.query_one(selector).disabled = chain
        self.query_one("#dish-note", Static).update(self.t("chain_dish") if chain else
                                                    found["name"] or self.t("new_dish"))

    def text(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def form(self, chain: bool) -> Json:
        """The dish as the form has it, for the hub; ValueError for what cannot be sent."""
        price, member_price = self.text("#dish-price"), self.text("#dish-member-price")
        fields: Json = {"price_fen": to_fen(price) if price else None,
                        "member_price_fen": to_fen(member_price) if member_price else None}
        if chain:  # the rest is the chain's
            return fields
        tags = [word.strip() for word in self.text("#dish-tags").replace("，", ",").split(",")
                if word.strip() and word.strip() not in KNOWN_TAGS]
        if self.query_one("#dish-new", Checkbox).value:
            tags.append(NEW_TAG)
        if self.query_one("#dish-kids", Checkbox).value:
            tags.append(KIDS_TAG)
        spice = self.query_one("#dish-spice", Select).value
        if isinstance(spice, str) and spice:
            tags.append(spice)
        limit = _count(self.text("#dish-limit"), self.t("not_a_count"))
        return {**fields, "name": self.text("#dish-name"), "name_en": self.text("#dish-name-en"),
                "category": self.text("#dish-category"), "station": self.text("#dish-station"),
                "tags": tags, "members_only": self.query_one("#dish-members-only", Checkbox).value,
                "daily_limit": limit}

    @on(Button.Pressed, "#dish-save")
    def save(self) -> None:
        code = self.editing or self.text("#dish-code")
        current = self.dishes.get(code) if self.editing else None
        try:
            fields = self.form(chain=bool(current and current["from_chain"]))
            portions = _count(self.text("#dish-portions"), self.t("not_a_count"))
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        count_changed = portions != (current["portions_left"] if current else None)
        client = self.console.client

        def send() -> Any:
            saved = client.save_dish(code, fields)
            return client.portions(code, portions) if count_changed else saved

        self.editing = code
        self.call(send, self.saved)

    def saved(self, dish: Json) -> None:
        self.notify(f"{dish['name']}: {self.t('saved')}")
        self.load()

    @on(Button.Pressed, "#dish-add")
    def add(self) -> None:
        self.fill(None)
        self.query_one("#dish-code", Input).focus()

    @on(Button.Pressed, "#menu-sold-out")
    def toggle_sold_out(self) -> None:
        code = self.editing
        if code is None or code not in self.dishes:
            return
        dish = self.dishes[code]  # by the data, never the screen
        if not dish["available"] and dish["portions_left"] == 0:  # back: no count any more
            self.call(lambda: self.console.client.portions(code, None), lambda _: self.load())
            return
        sold_out = bool(dish["available"])
        self.call(lambda: self.console.client.sold_out(code, sold_out), lambda _: self.load())

    @on(Button.Pressed, "#dish-retire")
    def retire(self) -> None:
        code = self.editing
        if code is None or code not in self.dishes:
            return
        if self.retiring != code:  # a first press only asks
            self.retiring = code
            self.query_one("#dish-retire", Button).label = self.t("confirm_retire")
            return

        def retired(dish: Json) -> None:
            self.notify(f"{dish['name']}: {self.t('retired')}")
            self.editing = None
            self.load()

        self.call(lambda: self.console.client.retire(code), retired)
