"""A realistic generated store: Chinese guests and dishes, a year of weekly and daily rhythm.

Rows are written in bulk (not through checkout one by one) so that a million-member store for
the benchmarks builds in seconds; the ledgers still add up, because every balance is simulated
with the same rules and written as ledger entries. Generated data is not sent to HQ.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from .domain.clock import to_iso
from .domain.codes import make_signed_code
from .domain.coupons import create_template
from .domain.errors import InvalidInput
from .domain.ids import new_id
from .domain.menu import import_menu
from .domain.phones import phone_digits_reversed
from .domain.staff import hash_pin
from .domain.store import Store, dumps
from .domain.tables import save_table
from .domain.tiers import tier_for_spend
from .domain.weather import AHEAD_DAYS, DayWeather, save

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯晨欣怡"
    "婷雪琳佳颖子涵梓轩思雨博文一诺宁晓峰海燕志鑫丹倩瑶"
)
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152",
                   "155", "156", "157", "158", "159", "166", "176", "177", "180", "181", "182",
                   "185", "186", "187", "188", "189", "191", "198", "199")
MENU: tuple[tuple[str, int, int], ...] = (  # dish, price in fen, popularity weight
    ("宫保鸡丁", 4800, 30), ("鱼香肉丝", 4200, 26), ("麻婆豆腐", 3200, 28), ("水煮鱼", 8800, 20),
    ("回锅肉", 4600, 22), ("夫妻肺片", 5200, 12), ("口水鸡", 4800, 14), ("酸菜鱼", 9800, 18),
    ("辣子鸡", 6800, 15), ("毛血旺", 7800, 11), ("干煸四季豆", 3600, 16), ("蒜蓉西兰花", 3200, 12),
    ("清炒时蔬", 2800, 18), ("番茄炒蛋", 2800, 20), ("糖醋里脊", 5200, 14), ("红烧肉", 6800, 16),
    ("东坡肘子", 12800, 6), ("清蒸鲈鱼", 9800, 8), ("白灼虾", 10800, 7), ("蒜蓉粉丝扇贝", 8800, 6),
    ("担担面", 1800, 14), ("钟水饺", 2200, 10), ("龙抄手", 2200, 10), ("扬州炒饭", 3200, 12),
    ("米饭", 300, 60), ("酸辣汤", 2800, 10), ("冬瓜排骨汤", 4800, 8), ("凉拌黄瓜", 1800, 16),
    ("拍蒜木耳", 2200, 10), ("红糖糍粑", 2400, 9), ("冰粉", 1200, 12), ("酸梅汤", 1500, 14),
    ("鲜榨橙汁", 2800, 6), ("青岛啤酒", 1200, 15), ("王老吉", 800, 14),
)
# The menu the till prices from: a code, category and kitchen station for each dish above,
# and a member price on the house specials.
CATEGORIES = (
    ("热菜", "热菜间", ("宫保鸡丁", "鱼香肉丝", "麻婆豆腐", "水煮鱼", "回锅肉", "酸菜鱼", "辣子鸡",
                    "毛血旺", "干煸四季豆", "蒜蓉西兰花", "清炒时蔬", "番茄炒蛋", "糖醋里脊",
                    "红烧肉", "东坡肘子", "清蒸鲈鱼", "白灼虾", "蒜蓉粉丝扇贝")),
    ("凉菜", "凉菜间", ("夫妻肺片", "口水鸡", "凉拌黄瓜", "拍蒜木耳")),
    ("主食", "面点间", ("担担面", "钟水饺", "龙抄手", "扬州炒饭", "米饭")),
    ("汤", "热菜间", ("酸辣汤", "冬瓜排骨汤")),
    ("甜品", "凉菜间", ("红糖糍粑", "冰粉")),
    ("饮品", "吧台", ("酸梅汤", "鲜榨橙汁", "青岛啤酒", "王老吉")),
)
MEMBER_PRICES = {"水煮鱼": 7800, "酸菜鱼": 8800, "东坡肘子": 11800, "白灼虾": 9800}
TABLES = [f"A{i}" for i in range(1, 13)] + [f"B{i}" for i in range(1, 9)] + ["包间1", "包间2"]
TENDERS = (("wechat", 55), ("alipay", 25), ("cash", 12), ("card", 8))
CODE_LETTERS = {"热菜": "R", "凉菜": "L", "主食": "Z", "汤": "T", "甜品": "D", "饮品": "Y"}
DISH_CODES = {dish: f"{CODE_LETTERS[category]}{number:02d}"
              for category, _, dishes in CATEGORIES for number, dish in enumerate(dishes, 1)}


def demo_menu() -> list[dict[str, Any]]:
    """The demo's menu as the menu file has it (hub.domain.menu.import_menu reads it)."""
    prices = {dish: price for dish, price, _ in MENU}
    return [{"code": DISH_CODES[dish], "name": dish, "category": category,
             "price_fen": prices[dish], "member_price_fen": MEMBER_PRICES.get(dish),
             "station": station} for category, station, dishes in CATEGORIES for dish in dishes]


def _table_layout(name: str) -> tuple[str, int]:
    if name.startswith("包间"):
        return "包间", 12
    return ("大厅", 4) if name.startswith("A") else ("二楼", 6)
AVOID = ("香菜", "花椒", "葱", "蒜", "辣椒", "味精", "内脏")
ALLERGIES = ("虾", "花生", "海鲜", "牛奶", "芒果", "鸡蛋", "坚果")
SEATS = ("靠窗", "包间", "大厅", "安静角落")
TAGS = ("商务宴请", "家庭聚餐", "学生", "情侣", "常点外卖", "带小孩")
NOTES = ("少油少盐", "不要味精", "汤要热", "米饭要软", "喜欢酸辣口", "")
SPICE = ("none", "mild", "mild", "medium", "hot")
WEEKDAY_FACTOR = (0.75, 0.8, 0.85, 0.9, 1.3, 1.5, 1.25)  # Monday first
HOURS = {11: 8, 12: 16, 13: 9, 14: 2, 17: 6, 18: 15, 19: 14, 20: 7, 21: 3}
DEMO_STAFF = (("老板 陈建国", "owner", "8888"), ("经理 李娜", "manager", "6666"),
              ("收银 王芳", "cashier", "1111"), ("服务员 张伟", "waiter", "2222"),
              ("服务员 刘洋", "waiter", "3333"))


# The known weather effect a demo store can be generated with (`weather_effect`), for the
# forecast's tests to find: rain keeps guests home, cold brings them in for something hot, and
# the cold shifts what they order.
RAIN_EFFECT = -0.35        # log-change of guests on a wet day (10 mm or more) ...
TEMPERATURE_EFFECT = -0.02  # ... and per degree Celsius of the day's mean
WARM_DISHES = ("酸辣汤", "冬瓜排骨汤", "毛血旺", "水煮鱼")   # more of them per guest when cold
COLD_DISHES = ("冰粉", "酸梅汤", "凉拌黄瓜", "青岛啤酒")     # more of them when hot
DISH_TEMPERATURE_EFFECT = 0.04  # log-change of a dish's share per degree (cold: -, warm: +)
MAX_WEATHER_LIFT = 1.6  # the busiest weather's lift; acceptance is scaled down by it


# The known season a demo store can be generated with (`season`): a store by a university,
# whose guests are away in the winter and summer breaks (寒暑假), for the forecast's season
# term to find. Calendar days, so each year's breaks fall in about the same ISO weeks.
SEASON_BREAKS = (((1, 15), (2, 25)), ((7, 10), (8, 31)))  # (month, day) first and last
SEASON_BREAK_LIFT = 0.6  # the share of the usual guests that come in a break


def season_lift(day: date) -> float:
    """The share of the usual guests a day of the seasonal store gets."""
    when = (day.month, day.day)
    return SEASON_BREAK_LIFT if any(lo <= when <= hi for lo, hi in SEASON_BREAKS) else 1.0


def wet(precipitation_mm: float) -> float:
    """How wet a day is for guests, 0 to 1: ten millimetres keep everyone who would stay in."""
    return min(precipitation_mm, 10.0) / 10.0


def demo_weather(first: date, last: date, seed: int) -> dict[date, DayWeather]:
    """A north-China year: a seasonal swing of the daily mean, day-to-day noise, summer rain."""
    rng = random.Random(seed)
    days = {}
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        season = math.sin(2 * math.pi * (day.timetuple().tm_yday - 105) / 365)
        mean = 13 + 15 * season + rng.gauss(0, 3)
        rain = rng.expovariate(1 / 9) if rng.random() < 0.22 + 0.15 * season else 0.0
        days[day] = DayWeather(day, round(mean + 5, 1), round(mean - 5, 1), round(rain, 1))
    return days


def _weather_lift(day: DayWeather | None) -> float:
    if day is None:
        return 1.0
    return math.exp(RAIN_EFFECT * wet(day.precipitation_mm)
                    + TEMPERATURE_EFFECT * (day.temperature_c - 15)) / MAX_WEATHER_LIFT


def _dish_weights(day: DayWeather | None) -> list[float]:
    weights = [float(w) for _, _, w in MENU]
    if day is None:
        return weights
    lean = DISH_TEMPERATURE_EFFECT * (day.temperature_c - 15)
    return [w * (math.exp(-lean) if dish in WARM_DISHES else
                 math.exp(lean) if dish in COLD_DISHES else 1.0)
            for w, (dish, _, _) in zip(weights, MENU, strict=True)]


@dataclass
class DemoSummary:
    members: int
    visits: int
    orders: int
    order_lines: int
    days: int


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _phones(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}")
    phones = list(seen)
    rng.shuffle(phones)
    return phones


def _pick_lines(rng: random.Random, party: int,
                weights: list[float]) -> list[tuple[str, int, int]]:
    dishes = rng.choices(MENU, weights=weights, k=party + rng.randint(0, 2))
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for dish, price, _ in dishes:
        counts[(dish, price)] += 1
    counts[("米饭", 300)] = max(counts[("米饭", 300)], party)
    return [(dish, qty, price) for (dish, price), qty in counts.items()]


class _Writer:
    """Buffers rows per table and flushes them with executemany."""

    COLUMNS: ClassVar[dict[str, tuple[str, ...]]] = {
        "members": ("id", "name", "phone", "phone_rev", "birthday", "gender", "spice_level",
                    "avoid", "allergies", "notes", "seat_preference", "tags", "vip",
                    "referred_by", "consent_at", "consent_version", "marketing_consent", "tier",
                    "home_store", "created_at", "updated_at", "signed_up_by"),
        "member_cards": ("number", "member_id", "status", "linked_at"),
        "visits": ("id", "store_id", "member_id", "table_no", "party_size", "staff_id",
                   "visited_at"),
        "orders": ("id", "store_id", "member_id", "visit_id", "channel", "total_fen",
                   "tier_discount_fen", "coupon_discount_fen", "points_discount_fen",
                   "discount_fen", "stored_value_paid_fen", "points_earned", "points_redeemed",
                   "coupon_code", "tier", "staff_id", "idempotency_key", "request_hash",
                   "created_at"),
        "order_lines": ("order_id", "line_no", "dish", "qty", "unit_price_fen", "code"),
        "order_tenders": ("order_id", "line_no", "method", "amount_fen", "received_fen"),
        "points_ledger": ("id", "member_id", "store_id", "delta", "kind", "reason", "order_id",
                          "staff_id", "expires_at", "created_at"),
        "stored_value_ledger": ("id", "member_id", "store_id", "amount_fen", "kind", "order_id",
                                "staff_id", "note", "created_at"),
        "coupons": ("code", "template_id", "member_id", "store_id", "issued_at", "valid_from",
                    "valid_until", "reason"),
        "coupon_redemptions": ("code", "order_id", "member_id", "store_id", "discount_fen",
                               "redeemed_at"),
    }

    def __init__(self, store: Store, batch: int = 20_000) -> None:
        self.store = store
        self.batch = batch
        self.rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self.rows[table]
        rows.append(row)
        if len(rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        # Every table at once, parents before children, so foreign keys hold at every flush.
        for name in self.COLUMNS:
            rows = self.rows.pop(name, [])
            if not rows:
                continue
            columns = self.COLUMNS[name]
            self.store.conn.executemany(
                f"INSERT INTO {name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})", rows)
            self.counts[name] += len(rows)


def generate(store: Store, members: int = 2000, days: int = 365, seed: int = 7,
             progress: Callable[[str, int, int], None] | None = None,
             weather: bool = False, weather_effect: bool = False,
             season: bool = False) -> DemoSummary:
    """Fill an empty store with `members` guests and `days` days of trade up to now.

    `weather` also caches a generated weather for those days and the week ahead;
    `weather_effect` (which implies it) makes trade follow that weather by the known effect
    above, for the forecast to find; `season` makes it follow the known season above.
    Without them, the store is the one it always was."""
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= 5_000_000:
        raise InvalidInput("members must be between 1 and 5,000,000")
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
        raise InvalidInput("days must be between 0 and 3650")
    if store.scalar("SELECT EXISTS (SELECT 1 FROM members)"):
        raise InvalidInput("demo data goes only into an empty store")
    rng = random.Random(seed)
    tz = ZoneInfo(store.settings.timezone)
    now = store.now().astimezone(tz)
    store_id = store.store_id
    settings = store.settings
    writer = _Writer(store)
    report = progress or (lambda _stage, _done, _total: None)
    today = now.date()
    climate = (demo_weather(today - timedelta(days=days), today + timedelta(days=AHEAD_DAYS),
                            seed + 3) if weather or weather_effect else {})
    felt = climate if weather_effect else {}
    plain_weights = _dish_weights(None)
    weights = {day: _dish_weights(felt.get(day)) for day in felt}
    lift = {day: _weather_lift(felt.get(day)) for day in felt}
    if season:
        for n in range(days + 1):
            when = today - timedelta(days=n)
            lift[when] = lift.get(when, 1.0) * season_lift(when)

    with store.write():
        before = store.scalar("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        store.set_meta("demo", dumps({"members": members, "days": days, "seed": seed}))
        staff_ids = []
        for name, role, pin in DEMO_STAFF:
            staff_id = new_id()
            staff_ids.append((staff_id, role))
            store.conn.execute(
                "INSERT INTO staff (id, name, role, pin_hash, active, created_at) "
                "VALUES (?, ?, ?, ?, 1, ?)", (staff_id, name, role, hash_pin(pin), to_iso(now)))
        waiters = [s for s, role in staff_ids if role == "waiter"]
        cashiers = [s for s, role in staff_ids if role in ("cashier", "manager")]
        import_menu(store, demo_menu(), actor="demo")
        for table in TABLES:
            area, seats = _table_layout(table)
            save_table(store, table, area=area, seats=seats, actor="demo")
        welcome = create_template(store, "新会员立减20元", "amount_off", amount_fen=2000,
                                  min_spend_fen=10000, valid_days=60)
        create_template(store, "生日赠长寿面", "free_dish", dish="担担面", valid_days=14)
        create_template(store, "老客回归8折", "percent_off", percent_off=20, valid_days=30)
        # Generated data is not for HQ: drop what the templates queued, and give their
        # numbers back, so HQ sees no gap in this store's sequence.
        store.conn.execute("DELETE FROM outbox WHERE seq > ?", (before,))
        store.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'",
                           (before,))

        # Its own generator, so the rest of the store stays the same for a given seed.
        signups = random.Random(seed + 1)
        paying = random.Random(seed + 2)
        phones = _phones(rng, members)
        span = max(days, 1)
        profiles = []
        for index in range(members):
            member_id = new_id()
            joined = now - timedelta(days=rng.uniform(0, span * 1.3), minutes=rng.uniform(0, 600))
            joined_iso = to_iso(joined)
            phone = phones[index]
            birthday = None
            if rng.random() < 0.85:
                year = now.year - rng.randint(18, 70)
                birthday = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            row = (
                member_id, _name(rng), phone, phone_digits_reversed(phone), birthday,
                rng.choice(("f", "m", None)), rng.choice(SPICE),
                dumps(rng.sample(AVOID, rng.choice((0, 0, 1, 2)))),
                dumps(rng.sample(ALLERGIES, 1) if rng.random() < 0.1 else []),
                rng.choice(NOTES), rng.choice(SEATS) if rng.random() < 0.3 else "",
                dumps(rng.sample(TAGS, rng.choice((0, 1, 1, 2)))), int(rng.random() < 0.03),
                None, joined_iso, settings.privacy.consent_version, int(rng.random() < 0.6),
                settings.tiers[0].code, store_id, joined_iso, joined_iso,
                signups.choice(waiters) if signups.random() < 0.6 else None,  # else the kiosk
            )
            writer.add("members", row)
            if rng.random() < 0.3:
                card = hashlib.blake2b(member_id.encode(), digest_size=5).hexdigest().upper()
                writer.add("member_cards", (card, member_id, "active", joined_iso))
            # Visit habits: a few regulars, many occasional guests, a third who lapse.
            rate = rng.choice((0.5, 1, 1, 2, 2, 3, 4, 8)) / 30  # visits per day
            lapse = now - timedelta(days=rng.uniform(91, span)) if rng.random() < 0.3 else now
            profiles.append((member_id, joined, rate, lapse))
            if index % 50_000 == 0:
                report("members", index, members)
        writer.flush()
        report("members", members, members)

        welcome_code = {}
        for member_id, joined, _rate, _lapse in profiles[: min(members, 50_000)]:
            code = make_signed_code(settings.chain_key, "coupon")
            welcome_code[member_id] = code
            writer.add("coupons", (code, welcome["id"], member_id, store_id, to_iso(joined),
                                   to_iso(joined), to_iso(joined + timedelta(days=60)),
                                   "welcome"))
        writer.flush()

        points: dict[str, int] = defaultdict(int)
        stored: dict[str, int] = defaultdict(int)
        spend: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
        start = now - timedelta(days=days)
        for number, (member_id, joined, rate, lapse) in enumerate(profiles):
            if days == 0:
                break
            moment = max(joined, start)
            end = min(lapse, now)
            if rng.random() < 0.15:
                top_at = moment + timedelta(hours=1)
                if top_at < end:
                    amount = rng.choice((50_000, 100_000, 200_000))
                    bonus = amount // 10
                    for kind, value in (("topup", amount), ("bonus", bonus)):
                        writer.add("stored_value_ledger", (new_id(), member_id, store_id, value,
                                                           kind, None, rng.choice(cashiers),
                                                           None, to_iso(top_at)))
                    stored[member_id] += amount + bonus
            while True:
                moment += timedelta(days=rng.expovariate(rate))
                if moment >= end:
                    break
                factor = WEEKDAY_FACTOR[moment.weekday()] * lift.get(moment.date(), 1.0)
                if rng.random() > factor / 1.5:
                    continue
                hour = rng.choices(list(HOURS), weights=list(HOURS.values()))[0]
                at = moment.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
                if at >= now or at < joined:
                    continue
                _one_visit(rng, writer, store, member_id, at, points, stored, spend,
                           welcome_code, waiters, cashiers, paying,
                           weights.get(at.date(), plain_weights))
            if number % 20_000 == 0:
                report("visits", number, members)
        # Walk-in guests who are not members yet.
        for day in range(days):
            date_at = now - timedelta(days=day)
            walk_ins = 12 * WEEKDAY_FACTOR[date_at.weekday()] * lift.get(date_at.date(), 1.0)
            for _ in range(int(walk_ins)):
                hour = rng.choices(list(HOURS), weights=list(HOURS.values()))[0]
                at = date_at.replace(hour=hour, minute=rng.randrange(60))
                if at < now:
                    _one_visit(rng, writer, store, None, at, points, stored, spend,
                               welcome_code, waiters, cashiers, paying,
                               weights.get(at.date(), plain_weights))
        writer.flush()
        report("visits", members, members)

        year_ago = now - timedelta(days=365)
        for member_id, history in spend.items():
            total = sum(paid for at, paid in history if at >= year_ago)
            tier = tier_for_spend(settings.tiers, total)
            if tier.code != settings.tiers[0].code:
                store.conn.execute("UPDATE members SET tier = ? WHERE id = ?",
                                   (tier.code, member_id))
    if climate:
        save(store, [d for d in climate.values() if d.day < today], "observed", "demo")
        save(store, [d for d in climate.values() if d.day >= today], "forecast", "demo")
    return DemoSummary(members=members, visits=writer.counts["visits"],
                       orders=writer.counts["orders"], order_lines=writer.counts["order_lines"],
                       days=days)


def _tenders(paying: random.Random, rest: int) -> list[tuple[str, int, int | None]]:
    """How the rest of a bill was paid: mostly by phone, some in cash (rounded up to what a
    guest hands over), now and then split between a phone and cash."""
    if rest <= 0:
        return []
    method = paying.choices([m for m, _ in TENDERS], weights=[w for _, w in TENDERS])[0]
    if method == "wechat" and rest > 10_000 and paying.random() < 0.1:
        cash = rest % 10_000 or 10_000
        return [("wechat", rest - cash, None), ("cash", cash, -(-cash // 10_000) * 10_000)]
    received = -(-rest // 10_000) * 10_000 if method == "cash" else None
    return [(method, rest, received)]


def _one_visit(rng: random.Random, writer: _Writer, store: Store, member_id: str | None,
               at: datetime, points: dict[str, int], stored: dict[str, int],
               spend: dict[str, list[tuple[datetime, int]]], welcome_code: dict[str, str],
               waiters: list[str], cashiers: list[str], paying: random.Random,
               weights: list[float]) -> None:
    settings = store.settings
    at_iso = to_iso(at.astimezone(UTC))
    channel = rng.choices(("dine_in", "takeaway", "delivery"), weights=(85, 9, 6))[0]
    party = rng.choices((1, 2, 3, 4, 5, 6, 8), weights=(8, 30, 20, 22, 8, 8, 4))[0]
    visit_id = None
    if channel == "dine_in":
        visit_id = new_id()
        writer.add("visits", (visit_id, store.store_id, member_id, rng.choice(TABLES), party,
                              rng.choice(waiters), at_iso))
    else:
        party = rng.choice((1, 2))
    lines = _pick_lines(rng, party, weights)
    total = sum(qty * price for _, qty, price in lines)
    order_id = new_id()
    coupon_code, coupon_discount, redeemed, sv_paid, earned = None, 0, 0, 0, 0
    if member_id is not None:
        code = welcome_code.pop(member_id, None)
        if code and total >= 10000 and rng.random() < 0.5:
            coupon_code, coupon_discount = code, 2000
        due = total - coupon_discount
        if points[member_id] >= 300 and rng.random() < 0.2:
            redeemed = min(points[member_id], (due // 2) // settings.points.fen_per_point)
        due -= redeemed * settings.points.fen_per_point
        if stored[member_id] > 0:
            sv_paid = min(stored[member_id], due)
        earned = (due // 100) * settings.points.earn_per_yuan
    discount = coupon_discount + redeemed * settings.points.fen_per_point
    staff = rng.choice(cashiers)
    writer.add("orders", (order_id, store.store_id, member_id, visit_id, channel, total, 0,
                          coupon_discount, redeemed * settings.points.fen_per_point, discount,
                          sv_paid, earned, redeemed, coupon_code, None, staff,
                          f"demo-{order_id}", "demo", at_iso))
    for number, (dish, qty, price) in enumerate(lines, 1):
        writer.add("order_lines", (order_id, number, dish, qty, price, DISH_CODES[dish]))
    for number, (method, amount, received) in enumerate(
            _tenders(paying, total - discount - sv_paid), 1):
        writer.add("order_tenders", (order_id, number, method, amount, received))
    if member_id is None:
        return
    spend[member_id].append((at, total - discount))
    if coupon_code:
        writer.add("coupon_redemptions", (coupon_code, order_id, member_id, store.store_id,
                                          coupon_discount, at_iso))
    if redeemed:
        points[member_id] -= redeemed
        writer.add("points_ledger", (new_id(), member_id, store.store_id, -redeemed, "redeem",
                                     None, order_id, staff, None, at_iso))
    if sv_paid:
        stored[member_id] -= sv_paid
        writer.add("stored_value_ledger", (new_id(), member_id, store.store_id, -sv_paid,
                                           "spend", order_id, staff, None, at_iso))
    if earned:
        points[member_id] += earned
        expires = to_iso(at + timedelta(days=settings.points.expire_days or 36500))
        writer.add("points_ledger", (new_id(), member_id, store.store_id, earned, "earn", None,
                                     order_id, staff, expires, at_iso))
