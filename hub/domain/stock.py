"""Ingredients: the recipes that turn dishes sold into ingredients used, the stock kept as a
ledger, and the purchase list the forecast makes of them.

Quantities are integers in thousandths of the ingredient's own unit (`qty_milli`: 0.2 kg of
lamb is 200), so stock adds up exactly, as money does in fen. Stock on hand is never a stored
number: it is the last count plus what was received, minus what was wasted and what the paid
orders since then used. Usage is computed from the order lines, not written at checkout:
every way an order is written (the till, a table's checkout, a POS's bill, the demo) counts
without each having to remember, order lines are never changed, and a recipe keeps its old
versions (`since`/`until`), so a recipe changed today does not rewrite what last week's
orders used.

Every entry, every recipe version and every change to an ingredient or a supplier goes to the
outbox in the transaction that writes it (`stock.*` events carrying the row as written), so
HQ's chain books and a hub restored from HQ rebuild the same stock (`apply_event`). Every row
carries its store: the chain books hold every store's, and the reads here take the store to
answer for (this hub's own by default).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from .clock import from_iso
from .errors import InvalidInput, NotFound
from .ids import new_id
from .menu import ImportSummary, import_menu
from .reports.forecast import forecast
from .reports.period import Period
from .store import Store

# The units a recipe or a delivery may name, with the words owners type for them.
UNITS = {"g": "g", "克": "g", "kg": "kg", "千克": "kg", "公斤": "kg", "ml": "ml", "毫升": "ml",
         "l": "l", "升": "l", "pcs": "pcs", "个": "pcs", "只": "pcs", "份": "pcs"}
MAX_QTY = Decimal(1_000_000)  # of one unit, in one row or entry: more is a typo
MAX_DAYS = 28
KINDS = ("received", "waste", "count")
EVENTS = ("stock.supplier", "stock.ingredient", "stock.recipe", "stock.entry")
RECIPE_COLUMNS = ("code", "ingredient", "qty", "unit")
INGREDIENT_COLUMNS = ("supplier", "pack_qty", "delivery_weekdays")


def milli(value: Any, what: str, *, zero: bool = False) -> int:
    """A quantity as typed (12, "0.25", 1.5) in thousandths; InvalidInput naming `what`."""
    try:
        qty = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"{what}: {value!r} is not a quantity") from None
    if not qty.is_finite() or qty < 0 or (qty == 0 and not zero) or qty > MAX_QTY:
        raise InvalidInput(f"{what}: {value!r} must be more than 0 and at most {MAX_QTY}"
                           if not zero else f"{what}: {value!r} must be 0 to {MAX_QTY}")
    thousandths = qty * 1000
    if thousandths != thousandths.to_integral_value():
        raise InvalidInput(f"{what}: {value!r} has more than three decimals")
    return int(thousandths)


def unit_of(value: Any, what: str) -> str:
    unit = UNITS.get(str(value).strip().lower())
    if unit is None:
        raise InvalidInput(f"{what}: unknown unit {value!r} (one of {', '.join(UNITS)})")
    return unit


def amount(qty_milli: int) -> float:
    """Thousandths back as the number people read (exact to the three decimals kept)."""
    return qty_milli / 1000


def _weekdays(value: Any, what: str) -> str:
    """ISO weekdays (1 Monday .. 7 Sunday) as typed, "1,4" or "1 4", kept as "1,4"."""
    text = str(value).replace(",", " ").replace("，", " ").replace("、", " ").split()
    try:
        days = sorted({int(part) for part in text})
    except ValueError:
        raise InvalidInput(f"{what}: delivery_weekdays {value!r} is not weekdays 1-7") from None
    if any(day < 1 or day > 7 for day in days):
        raise InvalidInput(f"{what}: delivery_weekdays {value!r} is not weekdays 1-7")
    return ",".join(str(day) for day in days)


# -- recipes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipesImported:
    changed: int  # dishes whose recipe is new or different
    unchanged: int
    ingredients: int  # ingredients the file names


@dataclass
class _Ingredient:
    unit: str
    row: int
    supplier: str | None = None
    pack_milli: int | None = None


def _agree(old: Any, new: Any, what: str) -> Any:
    if old is not None and new is not None and old != new:
        raise InvalidInput(f"{what}: {new!r} here, {old!r} on an earlier row")
    return new if new is not None else old


def import_recipes(store: Store, rows: Iterable[Mapping[str, Any]], actor: str,
                   with_menu: bool = False) -> RecipesImported:
    """Each dish the file names gets exactly the ingredients its rows list (a new version of
    its recipe when they differ; the same file again changes nothing); dishes it does not name
    keep theirs. A bad row refuses the whole file, naming the row. `with_menu`: the rows of a
    menu file, where a dish's row without an ingredient is the dish alone."""
    recipes: dict[str, dict[str, int]] = defaultdict(dict)
    ingredients: dict[str, _Ingredient] = {}
    suppliers: dict[str, str | None] = {}
    for number, row in enumerate(rows, 2):  # row 1 is the header
        where = f"row {number}"
        code, name = str(row.get("code", "")).strip(), str(row.get("ingredient", "")).strip()
        if with_menu and not name:
            given = [key for key in (*RECIPE_COLUMNS[2:], *INGREDIENT_COLUMNS)
                     if str(row.get(key, "")).strip()]
            if given:
                raise InvalidInput(f"{where}: {', '.join(given)} without an ingredient")
            continue
        if not code or not name:
            raise InvalidInput(f"{where}: code and ingredient are required")
        if len(name) > 40:
            raise InvalidInput(f"{where}: ingredient {name!r} is longer than 40 characters")
        unit = unit_of(row.get("unit", ""), where)
        if name in recipes[code]:
            raise InvalidInput(f"{where}: {code} names {name} twice")
        recipes[code][name] = milli(row.get("qty", ""), where)
        known = ingredients.setdefault(name, _Ingredient(unit=unit, row=number))
        if known.unit != unit:
            raise InvalidInput(f"{where}: {name} is in {unit} here and in {known.unit} on row "
                               f"{known.row}; one ingredient keeps one unit")
        supplier = str(row.get("supplier", "")).strip() or None
        known.supplier = _agree(known.supplier, supplier, f"{where}: {name}'s supplier")
        pack = row.get("pack_qty", "")
        known.pack_milli = _agree(known.pack_milli, milli(pack, f"{where}: pack_qty")
                                  if str(pack).strip() else None, f"{where}: {name}'s pack_qty")
        weekdays = row.get("delivery_weekdays", "")
        if supplier is None and str(weekdays).strip():
            raise InvalidInput(f"{where}: delivery_weekdays needs a supplier")
        if supplier is not None:
            suppliers[supplier] = _agree(
                suppliers.get(supplier), _weekdays(weekdays, where) if str(weekdays).strip()
                else None, f"{where}: {supplier}'s delivery_weekdays")
    if not recipes:
        raise InvalidInput("the file has no recipe rows")
    changed = 0
    sid = store.store_id
    with store.write():
        unknown = [code for code in recipes if store.one(
            "SELECT 1 FROM menu_dishes WHERE code = ?", (code,)) is None]
        if unknown:
            raise InvalidInput(f"no dish with code {', '.join(unknown)} on the menu")
        for name, found in ingredients.items():
            kept = store.one("SELECT unit FROM ingredients WHERE store_id = ? AND name = ?",
                             (sid, name))
            if kept is not None and kept["unit"] != found.unit:
                raise InvalidInput(f"{name} is kept in {kept['unit']}, not {found.unit}")
        for supplier, weekdays in suppliers.items():
            before = _row(store, "suppliers", sid, supplier)
            store.conn.execute(
                "INSERT INTO suppliers (store_id, name, delivery_weekdays) VALUES (?, ?, ?) "
                "ON CONFLICT (store_id, name) DO UPDATE SET delivery_weekdays = "
                "COALESCE(?, delivery_weekdays)", (sid, supplier, weekdays or "", weekdays))
            _emit_if_changed(store, "suppliers", sid, supplier, before)
        for name, found in ingredients.items():
            before = _row(store, "ingredients", sid, name)
            store.conn.execute(
                "INSERT INTO ingredients (store_id, name, unit, supplier, pack_milli) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store_id, name) DO UPDATE SET supplier = "
                "COALESCE(excluded.supplier, supplier), pack_milli = "
                "COALESCE(excluded.pack_milli, pack_milli)",
                (sid, name, found.unit, found.supplier, found.pack_milli))
            _emit_if_changed(store, "ingredients", sid, name, before)
        now = store.now_iso()
        for code, lines in recipes.items():
            if recipe(store, code) == lines:
                continue
            changed += 1
            version = RecipeVersion(store_id=sid, dish=code, since=now, lines=[
                RecipeLine(id=new_id(), ingredient=name, qty_milli=qty)
                for name, qty in lines.items()])
            _write_recipe(store, version)
            store.emit("stock.recipe", dict(version))
        store.audit(actor, "stock.recipes", None, {"changed": changed, "dishes": len(recipes)})
    return RecipesImported(changed=changed, unchanged=len(recipes) - changed,
                           ingredients=len(ingredients))


class RecipeLine(TypedDict):
    id: str
    ingredient: str
    qty_milli: int


class RecipeVersion(TypedDict):
    """A dish's recipe from `since` on, as the outbox carries it: it ends the one before."""
    store_id: str
    dish: str
    since: str
    lines: list[RecipeLine]


def _write_recipe(store: Store, version: RecipeVersion) -> None:
    store.conn.execute("UPDATE recipe_lines SET until = ? WHERE store_id = ? AND dish = ? "
                       "AND until IS NULL", (version["since"], version["store_id"],
                                             version["dish"]))
    store.conn.executemany(
        "INSERT INTO recipe_lines (id, store_id, dish, ingredient, qty_milli, since) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(line["id"], version["store_id"], version["dish"], line["ingredient"],
          line["qty_milli"], version["since"]) for line in version["lines"]])


# The rows an ingredient's or a supplier's event carries whole, by table.
_COLUMNS = {"suppliers": ("store_id", "name", "delivery_weekdays"),
            "ingredients": ("store_id", "name", "unit", "supplier", "pack_milli")}


def _row(store: Store, table: str, sid: str, name: str) -> dict[str, Any] | None:
    row = store.one(f"SELECT {', '.join(_COLUMNS[table])} FROM {table} WHERE store_id = ? "
                    "AND name = ?", (sid, name))
    return None if row is None else dict(row)


def _emit_if_changed(store: Store, table: str, sid: str, name: str,
                     before: dict[str, Any] | None) -> None:
    """An ingredient or supplier new or changed goes to HQ whole, as it is now."""
    after = _row(store, table, sid, name)
    if after is not None and after != before:
        store.emit(f"stock.{table[:-1]}", after)


@dataclass(frozen=True)
class MenuImported:
    dishes: ImportSummary
    recipes: RecipesImported | None  # None: the file has no recipe rows


def import_menu_file(store: Store, rows: Iterable[Mapping[str, Any]],
                     actor: str) -> MenuImported:
    """A menu file that may carry the dishes' recipes: `ingredient`, `qty`, `unit` (and the
    ingredient's `supplier`, `pack_qty`, `delivery_weekdays`) on a dish's row for its first
    ingredient and on rows of only `code` and those columns for the others. Dishes and
    recipes go in together or not at all; dishes without ingredient rows keep their recipe."""
    rows = list(rows)
    with store.write():
        dishes = import_menu(store, rows, actor)
        if not any(str(row.get("ingredient", "")).strip() for row in rows):
            return MenuImported(dishes, None)
        return MenuImported(dishes, import_recipes(store, rows, actor, with_menu=True))


def recipe(store: Store, code: str, store_id: str | None = None) -> dict[str, int]:
    """The dish's ingredients in force, in thousandths per portion."""
    return {row[0]: row[1] for row in store.conn.execute(
        "SELECT ingredient, qty_milli FROM recipe_lines WHERE store_id = ? AND dish = ? AND "
        "until IS NULL", (store_id or store.store_id, code))}


def apply_event(store: Store, kind: str, data: dict[str, Any]) -> None:
    """One of a store's own `stock.*` events, written again as the store wrote it: a hub
    restored from HQ, and HQ's chain books, rebuild its stock from them. Inside the caller's
    transaction; the same event twice changes nothing."""
    if kind == "stock.entry":
        store.db.table("stock_entries").insert(
            {key: data[key] for key in ENTRY_COLUMNS}, ignore=True)
    elif kind in ("stock.supplier", "stock.ingredient"):
        table = "suppliers" if kind == "stock.supplier" else "ingredients"
        store.db.table(table).upsert({key: data[key] for key in _COLUMNS[table]},
                                     pk=("store_id", "name"))
    elif kind == "stock.recipe":
        if store.one("SELECT 1 FROM recipe_lines WHERE id = ?",
                     (data["lines"][0]["id"],)) is None:
            _write_recipe(store, RecipeVersion(
                store_id=data["store_id"], dish=data["dish"], since=data["since"],
                lines=[RecipeLine(id=line["id"], ingredient=line["ingredient"],
                                  qty_milli=line["qty_milli"]) for line in data["lines"]]))
    else:
        raise ValueError(f"not a stock event: {kind}")


# -- the ledger -----------------------------------------------------------------------------


ENTRY_COLUMNS = ("id", "store_id", "ingredient", "kind", "qty_milli", "note", "actor", "at")


class Entry(TypedDict):
    id: str
    ingredient: str
    kind: str
    qty: float
    unit: str
    at: str


def record(store: Store, ingredient: str, kind: str, qty: Any, actor: str,
           note: str = "") -> Entry:
    """A delivery received, waste thrown away, or a count of what is there (which may be 0)."""
    if kind not in KINDS:
        raise InvalidInput(f"a stock entry is one of {', '.join(KINDS)}")
    qty_milli = milli(qty, f"{kind} {ingredient}", zero=kind == "count")
    with store.write():
        found = store.one("SELECT unit FROM ingredients WHERE store_id = ? AND name = ?",
                          (store.store_id, ingredient))
        if found is None:
            raise NotFound(f"no ingredient {ingredient!r} (import the recipes that use it)")
        entry = Entry(id=new_id(), ingredient=ingredient, kind=kind, qty=amount(qty_milli),
                      unit=found["unit"], at=store.now_iso())
        row = {"id": entry["id"], "store_id": store.store_id, "ingredient": ingredient,
               "kind": kind, "qty_milli": qty_milli, "note": note[:200], "actor": actor,
               "at": entry["at"]}
        store.db.table("stock_entries").insert(row)
        store.emit("stock.entry", row)
        store.audit(actor, f"stock.{kind}", ingredient, {"qty_milli": qty_milli})
    return entry


# What the paid orders used of each ingredient, through the recipe in force when each was
# paid. The orders are read from their time index first (CROSS JOIN keeps SQLite's join order):
# led by the recipes, SQLite read every line ever sold of each dish, a year of a busy store's
# two million lines for every count, however short the span asked for. A platform's order it
# cancelled was not cooked, as a rule, and used nothing (a count shows it if it was); one it
# refunded after delivery was eaten, and used what it took.
_USAGE = ("FROM orders o CROSS JOIN order_lines l ON l.order_id = o.id "
          "CROSS JOIN recipe_lines r ON r.store_id = o.store_id AND r.dish = l.code "
          "AND r.since <= o.created_at AND (r.until IS NULL OR o.created_at < r.until) "
          "AND (o.channel <> 'delivery' OR NOT EXISTS (SELECT 1 FROM delivery_orders d "
          "WHERE d.order_id = o.id AND d.state = 'cancelled')) ")


def _used(store: Store, sid: str, after: str | None, until: str,
          ingredients: list[str]) -> dict[str, int]:
    """Thousandths of each of `ingredients` the store's orders paid in (after, until] used,
    in one pass over those orders: none before the first of their recipes is read."""
    marks = ", ".join("?" for _ in ingredients)
    first = store.scalar(f"SELECT MIN(since) FROM recipe_lines WHERE store_id = ? AND "
                         f"ingredient IN ({marks})", (sid, *ingredients))
    if first is None:
        return {}
    return {row[0]: int(row[1]) for row in store.conn.execute(
        "SELECT r.ingredient, SUM(l.qty * r.qty_milli) " + _USAGE +
        "WHERE o.store_id = ? AND o.created_at > ? AND o.created_at <= ? AND "
        f"o.created_at >= ? AND r.ingredient IN ({marks}) GROUP BY r.ingredient",
        (sid, after or "", until, first, *ingredients))}


def _used_by_time(store: Store, sid: str, after: str, until: str,
                  ingredients: list[str]) -> list[tuple[str, str, int]]:
    """(ingredient, paid at, thousandths) of the orders paid in (after, until], order by
    order: the few minutes at a stocktake's edges."""
    marks = ", ".join("?" for _ in ingredients)
    return [(row[0], row[1], int(row[2])) for row in store.conn.execute(
        "SELECT r.ingredient, o.created_at, SUM(l.qty * r.qty_milli) " + _USAGE +
        "WHERE o.store_id = ? AND o.created_at > ? AND o.created_at <= ? AND "
        f"r.ingredient IN ({marks}) GROUP BY r.ingredient, o.created_at",
        (sid, after, until, *ingredients))]


STOCKTAKE_S = 6 * 3600  # counts this close together (and their counts before) are one stocktake


def _used_spans(store: Store, sid: str,
                spans: list[tuple[str, str | None, str]]) -> list[int]:
    """Thousandths each (ingredient, since, at) span's orders used, (since, at]. The spans
    are gathered into stocktakes (counts close together, after counts close together, or
    first counts): a stocktake's orders in the span all of its counts share are read once,
    grouped by ingredient, and only those at its edges order by order. So a first count's
    whole history is read once per stocktake, not once per ingredient."""
    def moment(text: str | None) -> float:
        return from_iso(text).timestamp() if text else 0.0

    stocktakes: list[list[int]] = []
    for n in sorted(range(len(spans)), key=lambda n: (spans[n][1] or "", spans[n][2])):
        _, since, at = spans[n]
        first = spans[stocktakes[-1][0]] if stocktakes else None
        if first is not None and (since is None) == (first[1] is None) and \
                moment(since) - moment(first[1]) <= STOCKTAKE_S and \
                abs(moment(at) - moment(first[2])) <= STOCKTAKE_S:
            stocktakes[-1].append(n)
        else:
            stocktakes.append([n])
    used = [0] * len(spans)
    for members in stocktakes:
        ingredients = sorted({spans[n][0] for n in members})
        low = min(spans[n][1] or "" for n in members)
        high = max(spans[n][1] or "" for n in members)
        start, end = min(spans[n][2] for n in members), max(spans[n][2] for n in members)
        if high >= start:  # counts that overlap their counts before: each on its own
            for n in members:
                name, since, at = spans[n]
                used[n] = _used(store, sid, since, at, [name]).get(name, 0)
            continue
        shared = _used(store, sid, high, start, ingredients)
        edges = (_used_by_time(store, sid, low, high, ingredients) if low < high else []) + \
            (_used_by_time(store, sid, start, end, ingredients) if start < end else [])
        for n in members:
            name, since, at = spans[n]
            used[n] = shared.get(name, 0) + sum(
                qty for ingredient, paid, qty in edges
                if ingredient == name and (since or "") < paid <= at)
    return used


def _used_since(store: Store, sid: str, since: dict[str, str], until: str) -> dict[str, int]:
    """Thousandths each ingredient the orders paid up to `until` used after its own time in
    `since` (its last count, never after `until`; "" for one never counted), reading the
    orders once: those after the latest of the times by ingredient, those between the
    earliest and the latest (a stocktake's few minutes, as a rule) order by order."""
    first = store.scalar("SELECT MIN(since) FROM recipe_lines WHERE store_id = ?", (sid,))
    if not since or first is None:
        return {}
    earliest, latest = max(min(since.values()), first), max(since.values())
    used = {row[0]: int(row[1]) for row in store.conn.execute(
        "SELECT r.ingredient, SUM(l.qty * r.qty_milli) " + _USAGE +
        "WHERE o.store_id = ? AND o.created_at > ? AND o.created_at >= ? "
        "AND o.created_at <= ? GROUP BY r.ingredient", (sid, latest, first, until))}
    if min(since.values()) < latest and earliest <= latest:  # an order at `first` counts
        for ingredient, at, qty in store.conn.execute(
                "SELECT r.ingredient, o.created_at, SUM(l.qty * r.qty_milli) " + _USAGE +
                "WHERE o.store_id = ? AND o.created_at >= ? AND o.created_at <= ? "
                "GROUP BY r.ingredient, o.created_at", (sid, earliest, latest)):
            if at > since.get(ingredient, latest):
                used[ingredient] = used.get(ingredient, 0) + int(qty)
    return used


def _entries(store: Store, sid: str, kind: str, after: str | None,
             until: str) -> dict[str, int]:
    return {row[0]: row[1] for row in store.conn.execute(
        "SELECT ingredient, SUM(qty_milli) FROM stock_entries WHERE store_id = ? AND kind = ? "
        "AND at > ? AND at <= ? GROUP BY ingredient", (sid, kind, after or "", until))}


class Level(TypedDict):
    ingredient: str
    unit: str
    supplier: str | None
    on_hand: float
    counted_at: str | None  # the last count it starts from; None: from the first entry


def _on_hand(store: Store, sid: str, until: str) -> list[tuple[Any, int, str | None]]:
    """(ingredient row, thousandths on hand, last count's time) at `until`, the orders read
    once for all of them (`_used_since`)."""
    counted = []
    for row in store.conn.execute("SELECT name, unit, supplier, pack_milli FROM ingredients "
                                  "WHERE store_id = ? ORDER BY name", (sid,)):
        count = store.one("SELECT qty_milli, at FROM stock_entries WHERE store_id = ? AND "
                          "ingredient = ? AND kind = 'count' AND at <= ? "
                          "ORDER BY at DESC, id DESC LIMIT 1", (sid, row["name"], until))
        counted.append((row, count))
    used = _used_since(store, sid, {row["name"]: "" if count is None else count["at"]
                                    for row, count in counted}, until)
    found = []
    for row, count in counted:
        name, since = row["name"], None if count is None else count["at"]
        flows = store.totals(
            "SELECT COALESCE(SUM(CASE kind WHEN 'received' THEN qty_milli ELSE 0 END), 0) AS r, "
            "COALESCE(SUM(CASE kind WHEN 'waste' THEN qty_milli ELSE 0 END), 0) AS w "
            "FROM stock_entries WHERE store_id = ? AND ingredient = ? AND at > ? AND at <= ?",
            (sid, name, since or "", until))
        qty = (0 if count is None else count["qty_milli"]) + flows["r"] - flows["w"] \
            - used.get(name, 0)
        found.append((row, int(qty), since))
    return found


def levels(store: Store, store_id: str | None = None) -> list[Level]:
    """What each of the store's ingredients has on hand now, by the ledger (at HQ's chain
    books, any store's)."""
    return [Level(ingredient=row["name"], unit=row["unit"], supplier=row["supplier"],
                  on_hand=amount(qty), counted_at=since)
            for row, qty, since in _on_hand(store, store_id or store.store_id,
                                            store.now_iso())]


class Variance(TypedDict):
    ingredient: str
    unit: str
    counted_at: str
    opening: float  # the count before (0 before the first)
    received: float
    used: float
    waste: float
    expected: float  # opening + received - used - waste
    counted: float
    variance: float  # counted - expected: negative is stock gone unaccounted for


def variance(store: Store, period: Period, store_id: str | None = None) -> list[Variance]:
    """Every count in the period against the ledger since the count before it, what the
    orders used read a stocktake at a time (`_used_spans`)."""
    sid = store_id or store.store_id
    counts = store.conn.execute(
        "SELECT e.id, e.ingredient, e.qty_milli, e.at, i.unit FROM stock_entries e "
        "JOIN ingredients i ON i.store_id = e.store_id AND i.name = e.ingredient "
        "WHERE e.store_id = ? AND e.kind = 'count' AND e.at >= ? AND e.at < ? "
        "ORDER BY e.ingredient, e.at, e.id", (sid, period.lo, period.hi)).fetchall()
    openings, spans = [], []
    for count in counts:
        before = store.one(
            "SELECT qty_milli, at FROM stock_entries WHERE store_id = ? AND ingredient = ? AND "
            "kind = 'count' AND (at < ? OR (at = ? AND id < ?)) ORDER BY at DESC, id DESC "
            "LIMIT 1", (sid, count["ingredient"], count["at"], count["at"], count["id"]))
        openings.append(0 if before is None else before["qty_milli"])
        spans.append((count["ingredient"], None if before is None else before["at"],
                      count["at"]))
    report = []
    for count, opening, (name, since, at), used in zip(counts, openings, spans,
                                                       _used_spans(store, sid, spans),
                                                       strict=True):
        received = _entries(store, sid, "received", since, at).get(name, 0)
        waste = _entries(store, sid, "waste", since, at).get(name, 0)
        expected = opening + received - used - waste
        report.append(Variance(
            ingredient=name, unit=count["unit"], counted_at=at, opening=amount(opening),
            received=amount(received), used=amount(used), waste=amount(waste),
            expected=amount(expected), counted=amount(count["qty_milli"]),
            variance=amount(count["qty_milli"] - expected)))
    return report


# -- the purchase list ----------------------------------------------------------------------


class ToBuy(TypedDict):
    ingredient: str
    unit: str
    need: float  # what the forecast dishes use over the days
    on_hand: float
    to_buy: float  # need - on hand, never below 0
    pack_qty: float | None
    packs: int | None  # to_buy in whole packs (None: no pack size, buy to_buy)
    buy: float  # what to order: the packs' contents, or to_buy


class SupplierOrder(TypedDict):
    supplier: str  # "" for ingredients without one
    delivery_weekdays: list[int]
    lines: list[ToBuy]


class Restock(TypedDict):
    ingredient: str
    unit: str
    supplier: str
    on_hand: float
    runs_out_on: str  # the first day the forecast uses more than is on hand
    next_delivery: str


class StockDays(TypedDict):
    ingredient: str
    unit: str
    on_hand: float
    days_left: float | None  # None: it lasts the whole horizon (or the forecast uses none)


class PurchaseList(TypedDict):
    days: int
    first_day: str
    last_day: str
    suppliers: list[SupplierOrder]
    restock: list[Restock]
    unforecast: list[str]  # dishes with recipes the forecast had no figure for
    horizon: int  # the days ahead `stock_days` looks over (the list's days, at least 7)
    stock_days: list[StockDays]


def next_delivery(weekdays: Iterable[int], today: date) -> date | None:
    """The first day after today a supplier with these ISO weekdays delivers."""
    days = set(weekdays)
    for n in range(1, 8):
        if (today + timedelta(days=n)).isoweekday() in days:
            return today + timedelta(days=n)
    return None


def daily_need(store: Store, days: int) -> tuple[list[date], dict[str, list[int]], list[str]]:
    """Thousandths of each ingredient the forecast's dishes use on each day ahead (at least a
    week, for the restock alert), and the recipe dishes the forecast had no figure for."""
    ahead = forecast(store, Period(store, None, None), days_ahead=max(days, 7),
                     dish_limit=None,
                     backtest_days=0)["next_week"]
    codes: dict[str, str] = {}
    for row in store.conn.execute("SELECT DISTINCT r.dish, d.name FROM recipe_lines r "
                                  "JOIN menu_dishes d ON d.code = r.dish WHERE r.store_id = ? "
                                  "AND r.until IS NULL", (store.store_id,)):
        codes.setdefault(row["name"], row["dish"])
    need: dict[str, list[int]] = defaultdict(lambda: [0] * len(ahead))
    seen: set[str] = set()
    recipes = {code: recipe(store, code) for code in codes.values()}
    for n, day in enumerate(ahead):
        for dish in day["prepare"]:
            code = codes.get(dish["dish"])
            if code is None:
                continue
            seen.add(code)
            for ingredient, qty in recipes[code].items():
                need[ingredient][n] += dish["qty"] * qty
    return ([date.fromisoformat(day["date"]) for day in ahead], dict(need),
            sorted(set(recipes) - seen))


def days_left(on_hand: int, usage: list[int]) -> float | None:
    """How many days of the forecast's usage the stock on hand covers, the day it runs out
    counted in part (4 left, using 2 then 3: 2 days and 2/3); None if it lasts them all."""
    left = on_hand
    if left <= 0:
        return 0.0
    for n, used in enumerate(usage):
        if used > left:
            return round(n + left / used, 2)
        left -= used
    return None


def purchase(store: Store, days: int = 7) -> PurchaseList:
    """What to buy for the next `days` days, per supplier, rounded up to whole packs, and the
    ingredients the forecast says run out before their supplier next delivers."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"a purchase list covers 1 to {MAX_DAYS} days")
    dates, need, unforecast = daily_need(store, days)
    weekdays = {row["name"]: [int(d) for d in row["delivery_weekdays"].split(",") if d]
                for row in store.conn.execute("SELECT name, delivery_weekdays FROM suppliers "
                                              "WHERE store_id = ?", (store.store_id,))}
    orders: dict[str, list[ToBuy]] = defaultdict(list)
    restock: list[Restock] = []
    lasting: list[StockDays] = []
    today = dates[0] - timedelta(days=1)
    for row, on_hand, _ in _on_hand(store, store.store_id, store.now_iso()):
        name, unit, supplier = row["name"], row["unit"], row["supplier"] or ""
        usage = need.get(name, [0] * len(dates))
        lasting.append(StockDays(ingredient=name, unit=unit, on_hand=amount(on_hand),
                                 days_left=days_left(on_hand, usage) if any(usage) else None))
        wanted = sum(usage[:days])
        short = max(wanted - max(on_hand, 0), 0)
        pack = row["pack_milli"]
        packs = None if pack is None else math.ceil(short / pack)
        if wanted:
            orders[supplier].append(ToBuy(
                ingredient=name, unit=unit, need=amount(wanted), on_hand=amount(on_hand),
                to_buy=amount(short), pack_qty=None if pack is None else amount(pack),
                packs=packs, buy=amount(short if packs is None else packs * pack)))
        delivery = next_delivery(weekdays.get(supplier, ()), today)
        if delivery is None:
            continue
        running = on_hand
        for day, used in zip(dates, usage, strict=True):
            if day >= delivery:
                break
            running -= used
            if running < 0:
                restock.append(Restock(ingredient=name, unit=unit, supplier=supplier,
                                       on_hand=amount(on_hand), runs_out_on=day.isoformat(),
                                       next_delivery=delivery.isoformat()))
                break
    return PurchaseList(
        days=days, first_day=dates[0].isoformat(), last_day=dates[days - 1].isoformat(),
        suppliers=[SupplierOrder(supplier=supplier, delivery_weekdays=weekdays.get(supplier, []),
                                 lines=lines) for supplier, lines in sorted(orders.items())],
        restock=restock, unforecast=unforecast, horizon=len(dates), stock_days=lasting)
