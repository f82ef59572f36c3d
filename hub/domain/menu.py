"""The menu: what the kitchen sells, at what price and to whom; the till prices lines from it.

A dish is keyed by its stable `code`, the name the import file, a POS or a delivery platform's
mapping use for it, so its name and price can change without breaking any of them. A price
change is kept in the price history, and a guest (or every guest of a tier, or of a member
tag such as 老会员) can keep an old price until a date: the old-member price owners promise
their regulars. A dish may have a count of portions left today (沽清): each order draws it down
and at zero the dish is sold out by itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin

from .audience import NEW_DISH_TAG, local_today
from .clock import day_bounds
from .coupons import Line
from .errors import InvalidInput, MembersOnly, NotFound, SoldOut
from .ids import new_id
from .ledgers import whole_number
from .store import Row, Store

# The columns of the menu file (shared/SPEC.md, "The till"), then the ones laoke adds.
FILE_COLUMNS = ("code", "name", "category", "price_fen", "member_price_fen", "station",
                "members_only", "daily_limit")
EXTRA_COLUMNS = ("name_en", "tags")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
MAX_PRICE_FEN = 10_000_000  # the till's largest line price
MAX_PORTIONS = 100_000  # a day's count of one dish
# Tags the console and the tablet know by name (any other word is a tag too); a dish has at
# most one spicy level.
NEW_TAG, KIDS_TAG = NEW_DISH_TAG, "儿童"
SPICE_TAGS = ("微辣", "中辣", "特辣")
CLEARABLE = ("member_price_fen", "daily_limit")  # null on an edit: none


@dataclass(frozen=True)
class MenuLine:
    """A bill's line by the menu's code: the hub prices it (member price, a kept old price)
    and refuses a members-only dish to a walk-in or past its daily limit. A set meal names the
    dishes chosen for it, for every set ordered (`choices`)."""

    code: str
    qty: int
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int


def _text(value: Any, what: str, longest: int, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise InvalidInput(f"{what} is required")
    if len(text) > longest or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"{what} must be at most {longest} printable characters")
    return text


def _fen(value: Any, what: str, optional: bool = False) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise InvalidInput(f"{what} is required")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{what} must be a whole number of fen")
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_PRICE_FEN:
        raise InvalidInput(f"{what} must be a whole number of fen from 0 to {MAX_PRICE_FEN}, "
                           f"got {value!r}")
    return int(text)


def _flag(value: Any, what: str) -> bool:
    text = "" if value is None else str(value).strip().lower()
    if text in ("1", "true", "yes", "是"):
        return True
    if text in ("", "0", "false", "no", "否"):
        return False
    raise InvalidInput(f"{what} must be 1 or 0, got {value!r}")


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        words = value
    else:
        words = re.split(r"[,，;；|]", "" if value is None else str(value))
    tags = sorted({tag for tag in (_text(word, "a tag", 20) for word in words) if tag})
    if len(set(tags) & set(SPICE_TAGS)) > 1:
        raise InvalidInput(f"one spicy level of {'/'.join(SPICE_TAGS)}, got {', '.join(tags)}")
    return tags


def checked_dish(fields: Mapping[str, Any], current: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """A dish as the menu keeps it, from a row of fields; fields a row leaves out keep their
    current value (an import of only code, name and price changes nothing else)."""
    base = dict(current or {})

    def given(key: str) -> bool:
        return key in fields and (current is None or fields[key] is not None)

    code = _text(fields.get("code"), "code", 32, required=True)
    if not CODE_PATTERN.match(code):
        raise InvalidInput(f"code {code!r}: letters, digits, '.', '_' or '-', up to 32")
    dish: dict[str, Any] = {"code": code}
    dish["name"] = _text(fields["name"], "name", 60, required=True) if given("name") \
        else base.get("name") or _text(None, "name", 60, required=True)
    dish["name_en"] = _text(fields["name_en"], "name_en", 80) if given("name_en") \
        else base.get("name_en", "")
    dish["category"] = _text(fields["category"], "category", 40) if given("category") \
        else base.get("category", "")
    dish["price_fen"] = _fen(fields["price_fen"], "price_fen") if given("price_fen") \
        else base["price_fen"] if "price_fen" in base else _fen(None, "price_fen")
    dish["member_price_fen"] = (_fen(fields["member_price_fen"], "member_price_fen",
                                     optional=True)
                                if given("member_price_fen") else base.get("member_price_fen"))
    if dish["member_price_fen"] is not None and dish["member_price_fen"] > dish["price_fen"]:
        raise InvalidInput(f"{code}: the member price is above the price")
    dish["station"] = _text(fields["station"], "station", 30) if given("station") \
        else base.get("station", "")
    dish["tags"] = _tags(fields["tags"]) if given("tags") else list(base.get("tags", []))
    dish["members_only"] = _flag(fields["members_only"], "members_only") \
        if given("members_only") else bool(base.get("members_only", False))
    limit = _fen(fields["daily_limit"], "daily_limit", optional=True) \
        if given("daily_limit") else base.get("daily_limit")
    if limit == 0:
        raise InvalidInput(f"{code}: daily_limit must be empty (none) or at least 1")
    dish["daily_limit"] = limit
    return dish


@lru_cache(maxsize=4096)
def initials(name: str) -> str:
    """宫保鸡丁 -> gbjd: how a waiter types a dish on the tablet (拼音首字母)."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")).lower()


def _row(row: Row, today: str, remind_at: int = 0) -> dict[str, Any]:
    dish = {k: row[k] for k in ("code", "name", "name_en", "category", "price_fen",
                                "member_price_fen", "station", "daily_limit")}
    dish["initials"] = initials(row["name"])
    dish["tags"] = json.loads(row["tags"])
    dish["members_only"] = bool(row["members_only"])
    # a count set on an earlier day is void: the store's day starts without one
    left = row["portions_left"] if row["portions_day"] == today else None
    dish["portions_left"] = left
    dish["running_low"] = left is not None and 0 < left <= remind_at
    dish["available"] = row["sold_out_day"] != today and left != 0
    dish["from_chain"] = bool(row["from_chain"])
    dish["retired"] = row["retired_at"] is not None
    return dish


def _today(store: Store) -> str:
    return local_today(store).isoformat()


def get_dish(store: Store, code: str) -> dict[str, Any]:
    """A dish as this store sells it (its own prices for a chain dish); a retired dish too,
    since the bills that ordered it still name it."""
    row = store.one("SELECT * FROM menu_view WHERE code = ?", (code,))
    if row is None:
        raise NotFound(f"no dish with code {code!r} on the menu")
    return _row(row, _today(store), store.settings.till.portions_reminder)


def menu(store: Store) -> list[dict[str, Any]]:
    """Every dish on the menu (not the retired), by category and the order the menu file gave
    them; a set meal with the groups its guest chooses from (`set_groups`, else None)."""
    today = _today(store)
    remind_at = store.settings.till.portions_reminder
    sets = {code: json.loads(groups) for code, groups in
            store.conn.execute("SELECT code, groups FROM menu_sets")}
    return [{**_row(row, today, remind_at), "set_groups": sets.get(row["code"])}
            for row in store.conn.execute(
                "SELECT * FROM menu_view WHERE retired_at IS NULL "
                "ORDER BY category, position, code")]


def _save(store: Store, dish: dict[str, Any], current: dict[str, Any] | None, position: int,
          actor: str) -> None:
    now = store.now_iso()
    store.conn.execute(
        "INSERT INTO menu_dishes (code, name, name_en, category, price_fen, member_price_fen, "
        "station, tags, members_only, daily_limit, position, updated_at) VALUES (:code, "
        ":name, :name_en, :category, :price_fen, :member_price_fen, :station, :tags, "
        ":members_only, :daily_limit, :position, :now) ON CONFLICT (code) DO UPDATE SET "
        "name = excluded.name, name_en = excluded.name_en, category = excluded.category, "
        "price_fen = excluded.price_fen, member_price_fen = excluded.member_price_fen, "
        "station = excluded.station, tags = excluded.tags, "
        "members_only = excluded.members_only, daily_limit = excluded.daily_limit, "
        "position = excluded.position, updated_at = excluded.updated_at, retired_at = NULL",
        {**dish, "tags": json.dumps(dish["tags"], ensure_ascii=False),
         "members_only": int(dish["members_only"]), "position": position, "now": now})
    prices = (dish["price_fen"], dish["member_price_fen"])
    if current is None or prices != (current["price_fen"], current["member_price_fen"]):
        store.conn.execute(
            "INSERT INTO menu_price_history (id, code, price_fen, member_price_fen, since, "
            "actor) VALUES (?, ?, ?, ?, ?, ?)", (new_id(), dish["code"], *prices, now, actor))


STORE_PRICES = ("price_fen", "member_price_fen")  # what a store sets of a chain dish


def _own_prices(store: Store, dish: dict[str, Any], current: dict[str, Any]) -> None:
    """A chain dish changed at the store: its prices become the store's own; the rest is the
    chain's to change, at HQ."""
    changed = [k for k in dish if k not in STORE_PRICES and dish[k] != current[k]]
    if changed:
        raise InvalidInput(f"{dish['code']} is the chain's dish: its {', '.join(changed)} "
                           "change at HQ (a store sets its own prices)")
    store.conn.execute(
        "INSERT INTO menu_overrides (code, price_fen, member_price_fen, updated_at) VALUES "
        "(?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET price_fen = excluded.price_fen, "
        "member_price_fen = excluded.member_price_fen, updated_at = excluded.updated_at",
        (dish["code"], dish["price_fen"], dish["member_price_fen"], store.now_iso()))


def save_dish(store: Store, fields: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """Add a dish or change one (the console's edit, the API's). Unlike a file's empty cell,
    an edit's explicit null member price or daily limit means none: the edit clears it."""
    fields = {k: "" if v is None and k in CLEARABLE else v for k, v in fields.items()}
    code = _text(fields.get("code"), "code", 32, required=True)
    with store.write():
        row = store.one("SELECT * FROM menu_view WHERE code = ?", (code,))
        current = _row(row, _today(store)) if row is not None else None
        dish = checked_dish(fields, current)
        if current is not None and current["from_chain"]:
            _own_prices(store, dish, current)
            store.audit(actor, "menu.dish_priced", code)
            return get_dish(store, code)
        position = row["position"] if row is not None else int(store.scalar(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM menu_dishes"))
        _save(store, dish, current, position, actor)
        store.audit(actor, "menu.dish_saved", code)
    return get_dish(store, code)


def recipe_only(fields: Mapping[str, Any]) -> bool:
    """A row of a menu file that is only a further ingredient of the dish its code names (an
    ingredient and no name or price): a line of the dish's recipe (hub/domain/stock.py), not
    a dish."""
    def filled(key: str) -> bool:
        return bool(str(fields.get(key) or "").strip())

    return filled("ingredient") and not filled("name") and not filled("price_fen")


def import_menu(store: Store, rows: Iterable[Mapping[str, Any]], actor: str) -> ImportSummary:
    """Every row of a menu file, all or nothing: one bad row names itself and changes nothing.

    Importing the same file again changes nothing; a row whose code exists updates that dish.
    """
    added = updated = unchanged = 0
    with store.write():
        today = _today(store)
        current = {row["code"]: _row(row, today)
                   for row in store.conn.execute("SELECT * FROM menu_view")}
        seen: set[str] = set()
        for number, fields in enumerate(rows, 2):  # row 1 is the header
            if recipe_only(fields):
                continue
            try:
                dish = checked_dish(fields, current.get(str(fields.get("code") or "").strip()))
            except InvalidInput as error:
                raise InvalidInput(f"row {number}: {error.message}") from None
            if dish["code"] in seen:
                raise InvalidInput(f"row {number}: code {dish['code']!r} appears twice")
            seen.add(dish["code"])
            before = current.get(dish["code"])
            same = before is not None and not before["retired"] \
                and all(before[k] == dish[k] for k in dish)
            if before is not None and before["from_chain"]:  # the store's own prices only
                if not same:
                    try:
                        _own_prices(store, dish, before)
                    except InvalidInput as error:
                        raise InvalidInput(f"row {number}: {error.message}") from None
                unchanged, updated = (unchanged + 1, updated) if same else (unchanged,
                                                                            updated + 1)
                continue
            if same:
                unchanged += 1
            else:
                added, updated = (added + 1, updated) if before is None else (added,
                                                                              updated + 1)
            _save(store, dish, before, number, actor)
        store.audit(actor, "menu.imported", None,
                    {"added": added, "updated": updated, "unchanged": unchanged})
    return ImportSummary(added, updated, unchanged)


def apply_chain_menu(store: Store, dishes: Sequence[Mapping[str, Any]]) -> int:
    """HQ's chain menu, inside the caller's change: each dish as the chain has it now. A
    store's own prices for them and what it sold out today stay its own."""
    today = _today(store)
    for fields in dishes:
        row = store.one("SELECT * FROM menu_dishes WHERE code = ?",
                        (str(fields.get("code") or "").strip(),))
        current = _row(row, today) if row is not None else None
        dish = checked_dish(fields, current)
        position = row["position"] if row is not None else int(store.scalar(
            "SELECT COALESCE(MAX(position), 0) + 1 FROM menu_dishes"))
        _save(store, dish, current, position, "hq")
        store.conn.execute("UPDATE menu_dishes SET from_chain = 1 WHERE code = ?",
                           (dish["code"],))
    return len(dishes)


def export_rows(store: Store) -> list[dict[str, Any]]:
    """The menu as the file has it: the same columns `import_menu` reads."""
    return [{**{k: dish[k] for k in FILE_COLUMNS if k != "members_only"},
             "members_only": int(dish["members_only"]), "name_en": dish["name_en"],
             "tags": ",".join(dish["tags"])} for dish in menu(store)]


def retire_dish(store: Store, code: str, actor: str) -> dict[str, Any]:
    """Take a dish off the menu for good: kept, since orders and the price history name it,
    and back with its code if it is saved or imported again. A chain's dish is HQ's to take
    off; a store sells it out."""
    with store.write():
        dish = get_dish(store, code)
        if dish["from_chain"]:
            raise InvalidInput(f"{code} is the chain's dish: it comes off the menu at HQ "
                               "(a store can sell it out)")
        store.conn.execute("UPDATE menu_dishes SET retired_at = ? WHERE code = ?",
                           (store.now_iso(), code))
        store.audit(actor, "menu.dish_retired", code)
    return get_dish(store, code)


def set_portions(store: Store, code: str, left: int | None, actor: str) -> dict[str, Any]:
    """How many portions of a dish the kitchen has left today (沽清/限量份数), or None for no
    count. Orders draw it down; at zero the dish is sold out by itself; the count is void when
    the store's next day starts. A chain's dish too: what it has left is the store's."""
    if left is not None:
        left = whole_number(left, "portions left", 0, MAX_PORTIONS)
    with store.write():
        get_dish(store, code)
        store.conn.execute("UPDATE menu_dishes SET portions_left = ?, portions_day = ? "
                           "WHERE code = ?", (left, None if left is None else _today(store),
                                              code))
        store.audit(actor, "menu.portions", code, {"left": left})
    return get_dish(store, code)


def draw_portions(store: Store, dish: Mapping[str, Any], qty: int) -> None:
    """Inside an order's transaction: take `qty` portions off what is left today (nothing for
    a dish without a count), refusing more than there is. Ingredient stock is not drawn
    here: hub.domain.stock computes it from the paid orders' lines."""
    left = dish["portions_left"]
    if left is None:
        return
    if qty > left:
        raise SoldOut(f"{dish['name']} ({dish['code']}): {left} portions left today")
    store.conn.execute("UPDATE menu_dishes SET portions_left = portions_left - ? "
                       "WHERE code = ?", (qty, dish["code"]))


def set_sold_out(store: Store, code: str, sold_out: bool, actor: str) -> dict[str, Any]:
    """Sold out for the rest of today; it is back on the menu tomorrow by itself."""
    with store.write():
        get_dish(store, code)
        store.conn.execute("UPDATE menu_dishes SET sold_out_day = ? WHERE code = ?",
                           (_today(store) if sold_out else None, code))
        store.audit(actor, "menu.sold_out" if sold_out else "menu.back", code)
    return get_dish(store, code)


def price_history(store: Store, code: str) -> list[dict[str, Any]]:
    get_dish(store, code)
    return [dict(row) for row in store.conn.execute(
        "SELECT price_fen, member_price_fen, since, actor FROM menu_price_history "
        "WHERE code = ? ORDER BY since, id", (code,))]


def keep_price(store: Store, code: str, until: str, actor: str, *,
               member_id: str | None = None, tier: str | None = None, tag: str | None = None,
               price_fen: int | None = None) -> dict[str, Any]:
    """Keep a price (by default the one before the last change) for one guest, a tier, or
    every guest with a member tag (老会员)."""
    if [member_id, tier, tag].count(None) != 2:
        raise InvalidInput("keep a price for one guest, one tier or one member tag")
    if tag is not None:
        tag = _text(tag, "tag", 20, required=True)
    with store.write():
        dish = get_dish(store, code)
        if price_fen is None:
            earlier = store.one(
                "SELECT price_fen FROM menu_price_history WHERE code = ? "
                "ORDER BY since DESC, id DESC LIMIT 1 OFFSET 1", (code,))
            price_fen = earlier["price_fen"] if earlier is not None else dish["price_fen"]
        price = _fen(price_fen, "price_fen")
        if member_id is not None and store.one(
                "SELECT 1 FROM members WHERE id = ? AND erased_at IS NULL", (member_id,)) is None:
            raise NotFound(f"no member {member_id!r}")
        if tier is not None:
            store.settings.tier(tier)
        hold = {"id": new_id(), "code": code, "member_id": member_id, "tier": tier, "tag": tag,
                "price_fen": price, "until": _text(until, "until", 30, required=True),
                "created_at": store.now_iso(), "actor": actor}
        store.db.table("menu_price_holds").insert(hold)
        store.audit(actor, "menu.price_kept", code, {"member_id": member_id, "tier": tier,
                                                     "tag": tag, "price_fen": price,
                                                     "until": until})
    return hold


def unit_price(store: Store, dish: Mapping[str, Any], member: Row | None) -> int:
    """What this guest pays for one: the lowest price they are entitled to, of the member
    price and every old price kept for them, their tier or one of their member tags while it
    holds. Entitlements never stack: the lowest one wins."""
    if member is None:
        return int(dish["price_fen"])
    best = dish["member_price_fen"] if dish["member_price_fen"] is not None \
        else dish["price_fen"]
    kept = store.scalar(
        "SELECT MIN(price_fen) FROM menu_price_holds WHERE code = :code AND until >= :today "
        "AND (member_id = :id OR tier = :tier OR tag IN (SELECT j.value FROM members m, "
        "json_each(m.tags) j WHERE m.id = :id))",
        {"code": dish["code"], "today": _today(store), "id": member["id"],
         "tier": member["tier"]})
    return int(min(best, kept) if kept is not None else best)


def sold_today(store: Store, code: str) -> int:
    start, end = day_bounds(store.settings.timezone, local_today(store))
    return int(store.scalar(
        "SELECT COALESCE(SUM(l.qty), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE l.code = ? AND o.created_at >= ? AND o.created_at < ?", (code, start, end)))


def save_set(store: Store, code: str, groups: Sequence[Mapping[str, Any]],
             actor: str) -> dict[str, Any]:
    """Make a dish of the menu a set meal at its own price (双人浪漫套餐): groups of dishes to
    choose from, so many of each (`{"name": "热菜任选一", "choose": 1, "codes": [...]}`)."""
    if not 1 <= len(groups) <= 10:
        raise InvalidInput("a set meal has 1 to 10 groups to choose from")
    checked = []
    with store.write():
        get_dish(store, code)
        for group in groups:
            choose = group.get("choose", 1)
            if isinstance(choose, bool) or not isinstance(choose, int) or not 1 <= choose <= 10:
                raise InvalidInput("choose must be a whole number from 1 to 10")
            codes = [str(c) for c in group.get("codes") or []]
            if not codes or code in codes:
                raise InvalidInput("each group names the dishes of the menu to choose from")
            for choice in codes:
                get_dish(store, choice)
            checked.append({"name": _text(group.get("name"), "a group's name", 30),
                            "choose": choose, "codes": codes})
        store.conn.execute(
            "INSERT INTO menu_sets (code, groups) VALUES (?, ?) ON CONFLICT (code) DO UPDATE "
            "SET groups = excluded.groups", (code, json.dumps(checked, ensure_ascii=False)))
        store.audit(actor, "menu.set_saved", code, {"groups": checked})
    return {"code": code, "groups": checked}


def set_groups(store: Store, code: str) -> list[dict[str, Any]] | None:
    """The groups of a set meal, or None for a dish on its own."""
    found = store.scalar("SELECT groups FROM menu_sets WHERE code = ?", (code,))
    return None if found is None else list(json.loads(found))


def set_choices(groups: Sequence[Mapping[str, Any]], qty: int,
                choices: Sequence[str]) -> list[str]:
    """The dishes chosen for `qty` sets, checked against the groups: so many from each."""
    left = list(choices)
    picked: list[str] = []
    for group in groups:
        wanted = group["choose"] * qty
        mine = [choice for choice in left if choice in group["codes"]][:wanted]
        if len(mine) < wanted:
            raise InvalidInput(f"{group['name'] or 'a group'}: choose {group['choose']} of "
                               f"{', '.join(group['codes'])} for each set")
        for choice in mine:
            left.remove(choice)
        picked += mine
    if left:
        raise InvalidInput(f"{', '.join(left)}: not a choice of this set meal")
    return picked


def ordered_dish(store: Store, code: str, qty: int) -> dict[str, Any]:
    """A dish as an order takes it, inside the order's transaction: refused when it is off the
    menu or sold out, and its portions drawn. An order is taken once: a table's round when it
    is ordered (the kitchen cooks it now, so the count must say so before the next table
    orders), a till's bill without a table at its checkout; a table's checkout takes nothing
    again. A POS's bill was taken by the POS, which keeps its own count."""
    dish = get_dish(store, code)
    if dish["retired"]:
        raise SoldOut(f"{dish['name']} ({code}) is no longer on the menu")
    if not dish["available"]:
        raise SoldOut(f"{dish['name']} ({code}) is sold out today")
    draw_portions(store, dish, qty)
    return dish


def priced_lines(store: Store, line: MenuLine, member: Row | None,
                 already: Mapping[str, int], taken: bool = False) -> list[Line]:
    """A menu line as the bill's lines: the dish priced for this guest, or a set meal at its
    price with the chosen dishes after it at no price (the kitchen cooks them, the reports
    count them). `already` counts this bill's earlier units of each dish; `taken`: a table's
    order, already taken (`ordered_dish`) when it went to the kitchen."""
    code = line.code.strip()
    groups = set_groups(store, code)
    if groups is None:
        if line.choices:
            raise InvalidInput(f"{code} is not a set meal: it has no choices")
        return [priced_line(store, code, line.qty, member, already.get(code, 0), taken)]
    priced = [priced_line(store, code, line.qty, member, already.get(code, 0), taken)]
    for choice in set_choices(groups, line.qty, line.choices):
        dish = get_dish(store, choice) if taken else ordered_dish(store, choice, 1)
        priced.append(Line(dish=dish["name"], qty=1, unit_price_fen=0, code=choice))
    return priced


def priced_line(store: Store, code: str, qty: int, member: Row | None,
                already: int = 0, taken: bool = False) -> Line:
    """A bill's line for a dish of the menu, priced for this guest; inside the checkout's
    transaction, so two tills cannot both sell the last of a limited dish. `already` counts
    this bill's earlier lines of the same dish; `taken`: a table's, taken as it was ordered."""
    dish = get_dish(store, code) if taken else ordered_dish(store, code, qty)
    if dish["members_only"] and member is None:
        raise MembersOnly(f"{dish['name']} ({code}) is for members only")
    if dish["daily_limit"] is not None:
        left = dish["daily_limit"] - sold_today(store, code) - already
        if qty > left:
            raise SoldOut(f"{dish['name']} ({code}): {max(left, 0)} of today's "
                          f"{dish['daily_limit']} left")
    return Line(dish=dish["name"], qty=qty, unit_price_fen=unit_price(store, dish, member),
                code=code)


def _part(text: Any) -> str:
    part = _text(text, "a combo part", 60, required=True)
    kind, sep, _ = part.partition(":")
    if sep and kind != "category":
        raise InvalidInput(f"combo part {part!r}: a dish code, or category:NAME")
    return part


def save_combo(store: Store, name: str, parts: list[str], off_fen: int, actor: str,
               active: bool = True) -> dict[str, Any]:
    """A combo: these together (dish codes, or category:NAME for any dish of it), this much
    off, once for each complete set on a bill (主食+汤品组合立减10元)."""
    name = _text(name, "name", 40, required=True)
    checked = [_part(part) for part in parts]
    if not 2 <= len(checked) <= 6:
        raise InvalidInput("a combo is 2 to 6 parts")
    off = _fen(off_fen, "off_fen")
    if not off:
        raise InvalidInput("a combo takes something off: off_fen above 0")
    with store.write():
        for part in checked:
            if not part.startswith("category:"):
                get_dish(store, part)
        store.conn.execute(
            "INSERT INTO menu_combos (name, parts, off_fen, active, updated_at) VALUES "
            "(?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET parts = excluded.parts, "
            "off_fen = excluded.off_fen, active = excluded.active, "
            "updated_at = excluded.updated_at",
            (name, json.dumps(checked, ensure_ascii=False), off, int(active), store.now_iso()))
        store.audit(actor, "menu.combo_saved", name, {"parts": checked, "off_fen": off})
    return {"name": name, "parts": checked, "off_fen": off, "active": active}


def combos(store: Store) -> list[dict[str, Any]]:
    return [{"name": row["name"], "parts": json.loads(row["parts"]), "off_fen": row["off_fen"],
             "active": bool(row["active"])} for row in store.conn.execute(
                 "SELECT * FROM menu_combos ORDER BY off_fen DESC, name")]


def combo_discount(store: Store, lines: Sequence[Line]) -> int:
    """What the active combos take off this bill: the biggest combos first, each unit of a
    dish counted in one combo at most."""
    found = [combo for combo in combos(store) if combo["active"]]
    if not found:
        return 0
    categories = dict(store.conn.execute("SELECT code, category FROM menu_dishes").fetchall())
    # a set meal's dishes come at no price: a combo counts only what was paid for
    units = [(line.code, categories.get(line.code)) for line in lines
             if line.code and line.unit_price_fen for _ in range(line.qty)]
    off = 0
    for combo in found:
        while True:
            taken: list[int] = []
            for part in combo["parts"]:
                wanted = part.removeprefix("category:")
                by_category = part.startswith("category:")
                match = next((i for i, (code, category) in enumerate(units) if i not in taken
                              and (category if by_category else code) == wanted), None)
                if match is None:
                    break
                taken.append(match)
            if len(taken) < len(combo["parts"]):
                break
            units = [unit for i, unit in enumerate(units) if i not in taken]
            off += combo["off_fen"]
    return off
