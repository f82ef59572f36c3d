"""Tables and the orders open on them: a party sits down, orders through the meal, pays.

A table is opened by a check-in (a member's, or a walk-in party's: a walk-in is a visit with
no member, so every report that counts covers counts it). Items are added during the meal;
each round sent to the kitchen is marked sent, so the next ticket carries only what is new.
The table closes in the checkout's own transaction, so a paid table is never left open and an
open table is never paid twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .coupons import Line
from .errors import InvalidInput, NotFound, TabClosed, TableTaken
from .ids import new_id
from .ledgers import whole_number
from .menu import MenuLine, get_dish, ordered_dish, set_choices, set_groups
from .store import Store
from .visits import check_in

MAX_ITEMS = 200  # a checkout's line limit


@dataclass(frozen=True)
class Round:
    """What one send to the kitchen carries: the new items, by the station that cooks them."""

    tab: dict[str, Any]
    by_station: dict[str, list[dict[str, Any]]]


def save_table(store: Store, name: str, *, area: str = "", seats: int = 4,
               actor: str = "system") -> dict[str, Any]:
    """A table of the layout (areas, tables, seats): what occupancy is measured against."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 20:
        raise InvalidInput("a table is a short name such as 'A5'")
    if not isinstance(area, str) or len(area) > 20:
        raise InvalidInput("area must be at most 20 characters")
    table: dict[str, Any] = {"name": name.strip(), "area": area.strip(),
                             "seats": whole_number(seats, "seats", 1, 100)}
    with store.write():
        store.conn.execute(
            "INSERT INTO dining_tables (name, area, seats) VALUES (:name, :area, :seats) "
            "ON CONFLICT (name) DO UPDATE SET area = excluded.area, seats = excluded.seats",
            table)
        store.audit(actor, "table.saved", table["name"], table)
    return table


def tables(store: Store) -> list[dict[str, Any]]:
    """The layout with what is open on each table now."""
    rows = store.conn.execute(
        "SELECT t.name, t.area, t.seats, o.id AS tab_id, o.party_size, o.member_id, "
        "o.opened_at FROM dining_tables t LEFT JOIN tabs o ON o.table_no = t.name "
        "AND o.closed_at IS NULL ORDER BY t.area, t.name").fetchall()
    return [dict(row) for row in rows]


def _tab(store: Store, tab_id: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM tabs WHERE id = ?", (tab_id,))
    if row is None:
        raise NotFound(f"no open table {tab_id!r}")
    return dict(row)


def get_tab(store: Store, tab_id: str) -> dict[str, Any]:
    """The tab with its items, each saying whether the kitchen has it yet."""
    tab = _tab(store, tab_id)
    tab["items"] = [{**dict(row), "sent": row["sent_at"] is not None} for row in
                    store.conn.execute("SELECT line_no, code, dish, qty, unit_price_fen, "
                                       "station, sent_at, staff_id FROM tab_items "
                                       "WHERE tab_id = ? "
                                       "ORDER BY line_no", (tab_id,))]
    return tab


def open_tab(store: Store, table: str, party_size: int, member_id: str | None = None,
             staff_id: str | None = None) -> dict[str, Any]:
    """Seat a party: the check-in (its visit) and the table's open order, together."""
    with store.write():
        if store.one("SELECT 1 FROM dining_tables WHERE name = ?", (table,)) is None:
            raise NotFound(f"no table {table!r} in the layout")
        if store.one("SELECT 1 FROM tabs WHERE table_no = ? AND closed_at IS NULL",
                     (table,)) is not None:
            raise TableTaken(f"table {table} is taken: close its bill first")
        visit = check_in(store, member_id, table, party_size, staff_id)
        tab = {"id": new_id(), "table_no": table, "visit_id": visit["id"],
               "member_id": member_id, "party_size": visit["party_size"], "staff_id": staff_id,
               "opened_at": visit["visited_at"]}
        store.conn.execute(
            "INSERT INTO tabs (id, table_no, visit_id, member_id, party_size, staff_id, "
            "opened_at) VALUES (:id, :table_no, :visit_id, :member_id, :party_size, "
            ":staff_id, :opened_at)", tab)
    return {**get_tab(store, tab["id"]), "visit": visit}


def _item(store: Store, line: Line | MenuLine) -> dict[str, Any]:
    qty = whole_number(line.qty, "qty", 1, 999)
    if isinstance(line, MenuLine):
        dish = ordered_dish(store, line.code, qty)
        groups = set_groups(store, dish["code"])
        choices = set_choices(groups, qty, line.choices) if groups is not None else []
        for choice in choices:
            ordered_dish(store, choice, 1)
        # priced at checkout, for the guest who pays (member price, a kept price)
        return {"code": dish["code"], "dish": dish["name"], "qty": qty, "unit_price_fen": None,
                "station": dish["station"],
                "choices": json.dumps(choices, ensure_ascii=False) if choices else None}
    if not isinstance(line.dish, str) or not line.dish.strip() or len(line.dish) > 60:
        raise InvalidInput("an open item needs a dish name of 1 to 60 characters")
    return {"code": None, "dish": line.dish.strip(), "qty": qty,
            "unit_price_fen": whole_number(line.unit_price_fen, "unit_price_fen", 0,
                                           10_000_000), "station": "", "choices": None}


def add_items(store: Store, tab_id: str, lines: Sequence[Line | MenuLine],
              staff_id: str | None = None) -> dict[str, Any]:
    """Order more during the meal, taken by `staff_id`; nothing reaches the kitchen until
    it is sent."""
    if not lines:
        raise InvalidInput("add at least one item")
    with store.write():
        tab = _tab(store, tab_id)
        if tab["closed_at"] is not None:
            raise TabClosed(f"table {tab['table_no']}'s bill is already paid")
        count = int(store.scalar("SELECT COUNT(*) FROM tab_items WHERE tab_id = ?", (tab_id,)))
        if count + len(lines) > MAX_ITEMS:
            raise InvalidInput(f"a table's bill holds at most {MAX_ITEMS} items")
        items = [_item(store, line) for line in lines]
        store.conn.executemany(
            "INSERT INTO tab_items (tab_id, line_no, code, dish, qty, unit_price_fen, station, "
            "choices, added_at, staff_id) VALUES (:tab_id, :line_no, :code, :dish, :qty, "
            ":unit_price_fen, :station, :choices, :added_at, :staff_id)",
            [{**item, "tab_id": tab_id, "line_no": count + n, "added_at": store.now_iso(),
              "staff_id": staff_id}
             for n, item in enumerate(items, 1)])
    return get_tab(store, tab_id)


def send_round(store: Store, tab_id: str) -> Round:
    """Mark what is new as sent and say what each station must cook (empty: nothing new)."""
    with store.write():
        tab = _tab(store, tab_id)
        new = []
        for row in store.conn.execute(
                "SELECT line_no, code, dish, qty, station, choices FROM tab_items "
                "WHERE tab_id = ? AND sent_at IS NULL ORDER BY line_no", (tab_id,)):
            if row["choices"] is None:
                new.append(dict(row))
                continue
            chosen = json.loads(row["choices"])  # a set meal: the kitchen cooks its choices
            for choice in dict.fromkeys(chosen):
                dish = get_dish(store, choice)
                new.append({"line_no": row["line_no"], "code": choice, "dish": dish["name"],
                            "qty": chosen.count(choice), "station": dish["station"]})
        store.conn.execute("UPDATE tab_items SET sent_at = ? WHERE tab_id = ? AND sent_at IS "
                           "NULL", (store.now_iso(), tab_id))
    by_station: dict[str, list[dict[str, Any]]] = {}
    for item in new:
        by_station.setdefault(item["station"], []).append(item)
    return Round(tab, by_station)


def bill_lines(store: Store, tab_id: str) -> list[Line | MenuLine]:
    """The tab's items as checkout lines: menu dishes by code (priced at the till for the
    guest who pays), open items at the price they were given."""
    rows = store.conn.execute("SELECT code, dish, qty, unit_price_fen, choices FROM tab_items "
                              "WHERE tab_id = ? ORDER BY line_no", (tab_id,)).fetchall()
    return [MenuLine(row["code"], row["qty"], tuple(json.loads(row["choices"] or "[]")))
            if row["code"] is not None
            else Line(row["dish"], row["qty"], row["unit_price_fen"]) for row in rows]


def close_tab(store: Store, tab_id: str, order_id: str) -> None:
    """Inside the checkout's transaction: the table is free again and the bill is its order."""
    if not store.conn.in_transaction:
        raise RuntimeError("a table closes only inside its checkout's transaction")
    tab = _tab(store, tab_id)
    if tab["closed_at"] is not None:
        raise TabClosed(f"table {tab['table_no']}'s bill is already paid")
    store.conn.execute("UPDATE tabs SET closed_at = ?, order_id = ? WHERE id = ?",
                       (store.now_iso(), order_id, tab_id))

