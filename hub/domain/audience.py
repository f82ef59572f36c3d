"""Segments as rules over the store's own data, compiled to one SQL query.

A campaign's audience, the `laoke segment` command and the console's segment preview all go
through `pick()`, so the size an owner sees before switching a campaign on is exactly the set
the campaign will act on. Every rule narrows the set (they combine with AND).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .clock import to_iso
from .errors import InvalidInput
from .members import SPICE_LEVELS
from .store import Store

RFM_GROUPS = ("champions", "loyal", "new", "at_risk", "hibernating")
FAVOURITE_MIN_QTY = 2
NEW_DISH_TAG = "新品"  # the menu's tag for a new dish (menu.NEW_TAG)
YEAR_DAYS = 365


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Seen at least once (visit or order), but not in the last N days.
    lapsed_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    # Birthday today or within the next N days (store time).
    birthday_within: Annotated[int, Field(ge=0, le=366)] | None = None
    tiers: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)  # any of them
    # A spice level (code or label, e.g. 微辣) or text in the guest's notes or avoid list.
    taste: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    # Ordered this dish at least FAVOURITE_MIN_QTY times.
    favourite_dish: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    rfm: Literal["champions", "loyal", "new", "at_risk", "hibernating"] | None = None
    # Paid over the last 365 days, and orders over the last 365 days.
    spend_min_fen: Annotated[int, Field(ge=0)] | None = None
    spend_max_fen: Annotated[int, Field(ge=0)] | None = None
    frequency_min: Annotated[int, Field(ge=0)] | None = None
    frequency_max: Annotated[int, Field(ge=0)] | None = None
    first_visit_only: bool = False  # came once, never again
    delivery_only: bool = False  # every order was a delivery
    # Moved from the table to delivery: mostly dine-in in the N days before the last N days,
    # mostly delivery in the last N (MOVED_TO_DELIVERY).
    moved_to_delivery_days: Annotated[int, Field(ge=7, le=365)] | None = None
    consent: bool = False  # only guests who agreed to marketing
    # Has not yet ordered a dish the menu tags 新品 (first tastings: with frequency_min, for
    # regulars); nobody while the menu has no new dish.
    new_dish_untasted: bool = False


def parse_audience(data: Any) -> Audience:
    """Rules from JSON, or InvalidInput naming the first bad rule."""
    if isinstance(data, Audience):
        return data
    try:
        return Audience.model_validate(data or {})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "audience"
        reason = "unknown rule" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidInput(f"audience: {where}: {reason}") from None


# Guests who moved from the table to delivery, with their figures: of their orders that count
# between :shift_from and :shift_to (UTC text), more than half of those before :shift_mid
# were dine-in and more than half of those from it on were deliveries.
MOVED_TO_DELIVERY = (
    "SELECT o.member_id, SUM(o.created_at < :shift_mid) AS earlier_orders, "
    "SUM(o.created_at < :shift_mid AND o.channel = 'dine_in') AS earlier_dine_in, "
    "SUM(o.created_at >= :shift_mid) AS recent_orders, "
    "SUM(o.created_at >= :shift_mid AND o.channel = 'delivery') AS recent_delivery "
    "FROM counted_orders o WHERE o.created_at >= :shift_from AND o.created_at < :shift_to "
    "AND o.member_id IS NOT NULL GROUP BY o.member_id "
    "HAVING 2 * earlier_dine_in > earlier_orders AND 2 * recent_delivery > recent_orders")


class Shift(TypedDict):
    member_id: str
    earlier_orders: int
    earlier_dine_in: int
    recent_orders: int
    recent_delivery: int


def moved_to_delivery(store: Store, since: str, middle: str, until: str) -> list[Shift]:
    """Guests mostly at the table in [since, middle) and mostly on delivery in [middle,
    until), the most delivery orders first: the report's list, by the audience's rule."""
    return [Shift(member_id=r[0], earlier_orders=r[1], earlier_dine_in=r[2],
                  recent_orders=r[3], recent_delivery=r[4]) for r in store.conn.execute(
        f"{MOVED_TO_DELIVERY} ORDER BY recent_delivery DESC, o.member_id",
        {"shift_from": since, "shift_mid": middle, "shift_to": until})]


class Pick(NamedTuple):
    """A guest the rules chose, and the occasion they were chosen for.

    The occasion makes "once per lapse" and "once per birthday" exact: a guest who lapses,
    returns and lapses again is a new occasion; the same lapse seen by tomorrow's run is not.
    """

    member_id: str
    occasion: str
    last_seen: str


def local_today(store: Store) -> date:
    return store.now().astimezone(ZoneInfo(store.settings.timezone)).date()


def birthday_days(today: date, days: int) -> list[str]:
    """MM-DD strings of the next `days` days from today; Feb 29 guests celebrate on Feb 28
    in years without one."""
    wanted: list[str] = []
    for offset in range(days + 1):
        day = today + timedelta(days=offset)
        wanted.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and (day + timedelta(days=1)).month == 3:
            wanted.append("02-29")
    return wanted


def rfm_group(recency_days: float, frequency: int, monetary: int, median_spend: int) -> str:
    """One guest's group: recent is within 30 days, frequent is 3 orders or more."""
    recent, frequent = recency_days <= 30, frequency >= 3
    if recent and frequent and monetary >= median_spend:
        return "champions"
    if frequent and recent:
        return "loyal"
    if recent:
        return "new"
    if frequent:
        return "at_risk"
    return "hibernating"


def _marks(prefix: str, values: list[str], params: dict[str, Any]) -> str:
    names = []
    for n, value in enumerate(values):
        params[f"{prefix}{n}"] = value
        names.append(f":{prefix}{n}")
    return ", ".join(names)


def _compile(store: Store, rules: Audience) -> tuple[str, dict[str, Any]]:
    """The query and its parameters. Rules on when and how guests came read `member_stats`
    (kept by triggers); only spend and frequency over the last year aggregate orders."""
    now = store.now()
    params: dict[str, Any] = {"year_ago": to_iso(now - timedelta(days=YEAR_DAYS)),
                              "now": to_iso(now)}
    where = ["m.erased_at IS NULL"]
    # Rules that only guests who came at all can meet: read the stats first, by index.
    seen_only = rules.lapsed_days is not None or rules.first_visit_only or \
        rules.delivery_only or rules.moved_to_delivery_days is not None
    yearly = rules.rfm is not None or any(getattr(rules, name) is not None for name in (
        "spend_min_fen", "spend_max_fen", "frequency_min", "frequency_max"))
    if rules.lapsed_days is not None:
        params["cutoff"] = to_iso(now - timedelta(days=rules.lapsed_days))
        where.append("s.last_seen < :cutoff")
    if rules.birthday_within is not None:
        days = birthday_days(local_today(store), rules.birthday_within)
        where.append(f"substr(m.birthday, 6) IN ({_marks('b', days, params)})")
    if rules.tiers:
        where.append(f"m.tier IN ({_marks('t', rules.tiers, params)})")
    if rules.tags:
        where.append("EXISTS (SELECT 1 FROM json_each(m.tags) "
                     f"WHERE value IN ({_marks('g', rules.tags, params)}))")
    if rules.taste is not None:
        codes = [code for code, label in SPICE_LEVELS.items() if rules.taste in (code, label)]
        params["taste_code"] = codes[0] if codes else ""
        params["taste_like"] = f"%{rules.taste}%"
        where.append("(m.spice_level = :taste_code OR m.notes LIKE :taste_like "
                     "OR m.avoid LIKE :taste_like)")
    if rules.favourite_dish is not None:
        params["dish"] = rules.favourite_dish.strip()
        params["dish_qty"] = FAVOURITE_MIN_QTY
        where.append("m.id IN (SELECT o2.member_id FROM order_lines l JOIN orders o2 "
                     "ON o2.id = l.order_id WHERE l.dish = :dish AND o2.member_id IS NOT NULL "
                     "GROUP BY o2.member_id HAVING SUM(l.qty) >= :dish_qty)")
    bounds = (("spend_min_fen", "COALESCE(o.spend_year, 0) >= :spend_min_fen"),
              ("spend_max_fen", "COALESCE(o.spend_year, 0) <= :spend_max_fen"),
              ("frequency_min", "COALESCE(o.n_year, 0) >= :frequency_min"),
              ("frequency_max", "COALESCE(o.n_year, 0) <= :frequency_max"))
    for name, condition in bounds:
        if getattr(rules, name) is not None:
            params[name] = getattr(rules, name)
            where.append(condition)
    if rules.first_visit_only:
        where.append("s.orders <= 1 AND s.visits <= 1")
    if rules.delivery_only:
        where.append("s.orders > 0 AND s.deliveries = s.orders")
    if rules.moved_to_delivery_days is not None:
        window = timedelta(days=rules.moved_to_delivery_days)
        params.update(shift_from=to_iso(now - 2 * window), shift_mid=to_iso(now - window),
                      shift_to=params["now"])
        where.append(f"m.id IN (SELECT member_id FROM ({MOVED_TO_DELIVERY}))")
    if rules.rfm is not None:
        where.append("o.n_year > 0")
    if rules.consent:
        where.append("m.marketing_consent = 1")
    if rules.new_dish_untasted:
        params["new_tag"] = NEW_DISH_TAG
        where.append("EXISTS (SELECT 1 FROM menu_view d, json_each(d.tags) t "
                     "WHERE t.value = :new_tag AND d.retired_at IS NULL AND NOT EXISTS ("
                     "SELECT 1 FROM orders o3 JOIN order_lines l3 ON l3.order_id = o3.id "
                     "WHERE o3.member_id = m.id AND (l3.code = d.code OR l3.dish = d.name)))")

    source = ("member_stats s JOIN members m ON m.rowid = s.member_rowid" if seen_only else
              "members m LEFT JOIN member_stats s ON s.member_rowid = m.rowid")
    if yearly:
        source += (" LEFT JOIN (SELECT member_id, COUNT(*) AS n_year, MAX(created_at) AS last_at,"
                   " SUM(total_fen - discount_fen - refunded_fen) AS spend_year"
                   " FROM counted_orders"
                   " WHERE created_at >= :year_ago AND member_id IS NOT NULL"
                   " GROUP BY member_id) o ON o.member_id = m.id")
    figures = ("julianday(:now) - julianday(o.last_at), o.n_year, o.spend_year"
               if rules.rfm is not None else "NULL, NULL, NULL")
    order = ("substr(m.birthday, 6), m.id" if rules.birthday_within is not None
             and rules.lapsed_days is None else "s.last_seen DESC, s.member_rowid DESC")
    return (f"SELECT m.id, m.birthday, COALESCE(s.last_seen, ''), {figures} FROM {source} "
            f"WHERE {' AND '.join(where)} ORDER BY {order}", params)


def _occasion(rules: Audience, birthday: str | None, seen: str, today: date) -> str:
    if rules.lapsed_days is not None:
        return f"lapse:{seen[:10]}"
    if rules.birthday_within is not None and birthday:
        year = today.year if birthday[5:] >= today.strftime("%m-%d") else today.year + 1
        return f"birthday:{year}"
    return "once"


def pick(store: Store, rules: Audience | dict[str, Any]) -> list[Pick]:
    """Everyone the rules choose now: by birthday for birthday rules, else most recently
    seen first."""
    rules = parse_audience(rules)
    sql, params = _compile(store, rules)
    cursor = store.conn.cursor()
    cursor.row_factory = None  # plain tuples: a million rows come back a second sooner
    rows = cursor.execute(sql, params).fetchall()
    if rules.rfm is not None:
        spend = sorted(r[5] for r in rows)
        median = spend[len(spend) // 2] if spend else 0
        rows = [r for r in rows if rfm_group(r[3], r[4], r[5], median) == rules.rfm]
    today = local_today(store)
    return [Pick(r[0], _occasion(rules, r[1], r[2], today), r[2]) for r in rows]
