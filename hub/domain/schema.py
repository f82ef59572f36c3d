"""Numbered schema migrations, recorded by sqlite-utils in `_sqlite_migrations`.

Rules the schema itself enforces, so that no code path can break them:
ledgers are append-only; points and stored value never go below zero; a coupon has at most
one redemption; a checkout's idempotency key names at most one order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils

MIGRATION_SET = "laoke"

_APPEND_ONLY = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
"""

INITIAL = """
CREATE TABLE hub_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    name TEXT,                       -- NULL once erased
    phone TEXT UNIQUE,               -- E.164; NULL once erased
    phone_rev TEXT,                  -- digits reversed, for phone-tail lookups
    birthday TEXT,                   -- YYYY-MM-DD
    gender TEXT CHECK (gender IN ('f', 'm', 'x')),
    spice_level TEXT,
    avoid TEXT NOT NULL DEFAULT '[]',       -- JSON list of ingredients to leave out
    allergies TEXT NOT NULL DEFAULT '[]',   -- JSON list
    notes TEXT NOT NULL DEFAULT '',
    seat_preference TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',        -- JSON list
    vip INTEGER NOT NULL DEFAULT 0 CHECK (vip IN (0, 1)),
    referred_by TEXT REFERENCES members(id),
    consent_at TEXT,
    consent_version TEXT,
    marketing_consent INTEGER NOT NULL DEFAULT 0 CHECK (marketing_consent IN (0, 1)),
    tier TEXT NOT NULL,
    home_store TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    erased_at TEXT
);
CREATE INDEX members_phone_rev ON members(phone_rev);
CREATE INDEX members_name ON members(name);
CREATE INDEX members_birthday_md ON members(substr(birthday, 6));
CREATE INDEX members_referred_by ON members(referred_by);

CREATE TABLE member_cards (
    number TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    status TEXT NOT NULL CHECK (status IN ('active', 'blocked')),
    linked_at TEXT NOT NULL,
    blocked_at TEXT,
    block_reason TEXT
);
CREATE INDEX member_cards_member ON member_cards(member_id);

CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'cashier', 'waiter')),
    pin_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    member_id TEXT REFERENCES members(id),
    table_no TEXT NOT NULL,
    party_size INTEGER NOT NULL CHECK (party_size > 0),
    staff_id TEXT REFERENCES staff(id),
    visited_at TEXT NOT NULL
);
CREATE INDEX visits_member ON visits(member_id, visited_at);
CREATE INDEX visits_time ON visits(visited_at);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    member_id TEXT REFERENCES members(id),
    visit_id TEXT REFERENCES visits(id),
    channel TEXT NOT NULL CHECK (channel IN ('dine_in', 'takeaway', 'delivery')),
    total_fen INTEGER NOT NULL CHECK (total_fen >= 0),
    tier_discount_fen INTEGER NOT NULL DEFAULT 0,
    coupon_discount_fen INTEGER NOT NULL DEFAULT 0,
    points_discount_fen INTEGER NOT NULL DEFAULT 0,
    discount_fen INTEGER NOT NULL CHECK (discount_fen >= 0 AND discount_fen <= total_fen),
    stored_value_paid_fen INTEGER NOT NULL DEFAULT 0 CHECK (stored_value_paid_fen >= 0),
    points_earned INTEGER NOT NULL DEFAULT 0,
    points_redeemed INTEGER NOT NULL DEFAULT 0,
    coupon_code TEXT,
    tier TEXT,
    staff_id TEXT REFERENCES staff(id),
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX orders_member ON orders(member_id, created_at);
CREATE INDEX orders_time ON orders(created_at);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_no INTEGER NOT NULL,
    dish TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    unit_price_fen INTEGER NOT NULL CHECK (unit_price_fen >= 0),
    PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;

CREATE TABLE points_ledger (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    store_id TEXT NOT NULL,
    delta INTEGER NOT NULL CHECK (delta <> 0),
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust')),
    reason TEXT,
    order_id TEXT REFERENCES orders(id),
    staff_id TEXT,
    expires_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX points_ledger_member ON points_ledger(member_id, created_at);
CREATE TRIGGER points_never_negative BEFORE INSERT ON points_ledger
WHEN NEW.delta < 0 AND
     (SELECT COALESCE(SUM(delta), 0) FROM points_ledger WHERE member_id = NEW.member_id)
     + NEW.delta < 0
BEGIN SELECT RAISE(ABORT, 'insufficient points'); END;

CREATE TABLE stored_value_ledger (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    store_id TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0),
    kind TEXT NOT NULL CHECK (kind IN ('topup', 'bonus', 'spend', 'refund')),
    order_id TEXT REFERENCES orders(id),
    staff_id TEXT,
    note TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX stored_value_ledger_member ON stored_value_ledger(member_id, created_at);
CREATE INDEX stored_value_ledger_order ON stored_value_ledger(order_id);
CREATE TRIGGER stored_value_never_negative BEFORE INSERT ON stored_value_ledger
WHEN NEW.amount_fen < 0 AND
     (SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger
      WHERE member_id = NEW.member_id) + NEW.amount_fen < 0
BEGIN SELECT RAISE(ABORT, 'insufficient stored value'); END;

CREATE TABLE coupon_templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('amount_off', 'percent_off', 'free_dish')),
    amount_fen INTEGER NOT NULL DEFAULT 0 CHECK (amount_fen >= 0),
    percent_off INTEGER NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
    dish TEXT,
    min_spend_fen INTEGER NOT NULL DEFAULT 0 CHECK (min_spend_fen >= 0),
    valid_days INTEGER NOT NULL CHECK (valid_days > 0),
    stores TEXT,                     -- JSON list of store ids; NULL: every store
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    template_id TEXT NOT NULL REFERENCES coupon_templates(id),
    member_id TEXT REFERENCES members(id),
    store_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX coupons_member ON coupons(member_id);

CREATE TABLE coupon_redemptions (
    code TEXT PRIMARY KEY REFERENCES coupons(code),
    order_id TEXT REFERENCES orders(id),
    member_id TEXT,
    store_id TEXT NOT NULL,
    discount_fen INTEGER NOT NULL,
    redeemed_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);

-- What HQ must see, written in the same transaction as the change; `seq` is per store.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    store_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts TEXT NOT NULL,
    data TEXT NOT NULL
);
""" + "".join(
    _APPEND_ONLY.format(table=t)
    for t in ("points_ledger", "stored_value_ledger", "coupon_redemptions", "audit_log")
)


DEVICES = """
-- Tablets, kiosks and consoles that talk to the hub; each holds one or more bearer tokens.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'cashier', 'waiter', 'kiosk')),
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen_at TEXT
);

CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY,     -- sha256 of the token; the token itself is never stored
    device_id TEXT NOT NULL REFERENCES devices(id),
    created_at TEXT NOT NULL
);
CREATE INDEX device_tokens_device ON device_tokens(device_id);

CREATE TABLE pairing_codes (
    code TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    device_id TEXT REFERENCES devices(id),   -- set when the code pairs into a known device
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

-- What zeroconf finds on the LAN: tablets, receipt printers, other hubs.
CREATE TABLE lan_devices (
    id TEXT PRIMARY KEY,             -- the mDNS service instance name: unique per device
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    addresses TEXT NOT NULL DEFAULT '[]',
    port INTEGER,
    properties TEXT NOT NULL DEFAULT '{}',
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    online INTEGER NOT NULL DEFAULT 1
);
"""

PRINT_JOBS = """
-- The durable print queue: a job is stored (with its bytes) before it is sent.
CREATE TABLE print_jobs (
    id TEXT PRIMARY KEY,
    printer TEXT NOT NULL,           -- a configured printer's name, or a printer URL
    kind TEXT NOT NULL CHECK (kind IN ('receipt', 'coupon', 'welcome', 'kitchen', 'shift',
                                       'test')),
    subject TEXT,                    -- the order, coupon, member, visit or day it is about
    coupon_code TEXT,                -- the coupon printed on it, if any
    reprint INTEGER NOT NULL DEFAULT 0 CHECK (reprint IN (0, 1)),
    data BLOB NOT NULL,              -- ESC/POS bytes, built when queued
    preview TEXT NOT NULL,           -- what the slip says
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'printed', 'waiting',
                                         'unconfirmed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    printed_at TEXT,
    requested_by TEXT
);
CREATE INDEX print_jobs_due ON print_jobs(state, next_attempt_at);
-- A coupon reaches paper once, unless a person asks for a reprint.
CREATE UNIQUE INDEX print_jobs_coupon_once ON print_jobs(coupon_code)
    WHERE coupon_code IS NOT NULL AND reprint = 0;
"""

MEMBER_SEARCH = """
-- Names as space-separated characters in FTS5, so any part of a Chinese name ("小芳" in
-- 王小芳) is a phrase query over an index, not a scan of a million rows.
CREATE VIRTUAL TABLE member_search USING fts5(name_chars, tokenize = 'unicode61');
INSERT INTO member_search (rowid, name_chars)
    SELECT rowid, laoke_chars(name) FROM members WHERE name IS NOT NULL;
CREATE TRIGGER member_search_insert AFTER INSERT ON members WHEN NEW.name IS NOT NULL
BEGIN
    INSERT INTO member_search (rowid, name_chars) VALUES (NEW.rowid, laoke_chars(NEW.name));
END;
CREATE TRIGGER member_search_update AFTER UPDATE OF name ON members
BEGIN
    DELETE FROM member_search WHERE rowid = OLD.rowid;
    INSERT INTO member_search (rowid, name_chars)
        SELECT NEW.rowid, laoke_chars(NEW.name) WHERE NEW.name IS NOT NULL;
END;
CREATE TRIGGER member_search_delete AFTER DELETE ON members
BEGIN
    DELETE FROM member_search WHERE rowid = OLD.rowid;
END;
"""


SYNC_CONFLICTS = """
-- What HQ relayed from other stores that could not be applied as it stood, for a person.
CREATE TABLE sync_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    type TEXT NOT NULL,
    origin_store TEXT,
    reason TEXT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


CAMPAIGNS = """
ALTER TABLE members ADD COLUMN email TEXT;
-- A member-day price or similar campaign discount given at checkout (part of discount_fen).
ALTER TABLE orders ADD COLUMN promo_discount_fen INTEGER NOT NULL DEFAULT 0;

-- Who to reach, with what offer and words, when; switched on by the owner.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    audience TEXT NOT NULL,          -- JSON segment rules
    offer TEXT NOT NULL,             -- JSON
    message_zh TEXT NOT NULL DEFAULT '',
    message_en TEXT NOT NULL DEFAULT '',
    channels TEXT NOT NULL DEFAULT '[]',
    schedule TEXT NOT NULL,          -- JSON
    control_pct INTEGER NOT NULL CHECK (control_pct BETWEEN 0 AND 90),
    active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    origin TEXT NOT NULL,            -- the store that made it, or 'hq'
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_run_at TEXT
);

-- Every guest a campaign picked, once per occasion (a lapse, a birthday year, a tier
-- reached), in the treated or the held-out control group.
CREATE TABLE campaign_targets (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    occasion TEXT NOT NULL,
    arm TEXT NOT NULL CHECK (arm IN ('treated', 'control')),
    coupon_code TEXT REFERENCES coupons(code),
    targeted_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, member_id, occasion)
) WITHOUT ROWID;
CREATE INDEX campaign_targets_member ON campaign_targets(member_id, targeted_at);

-- A checkout that a campaign's offer changed: member-day price, extra points, referral.
CREATE TABLE campaign_uses (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    order_id TEXT NOT NULL REFERENCES orders(id),
    member_id TEXT NOT NULL,
    discount_fen INTEGER NOT NULL DEFAULT 0,
    points INTEGER NOT NULL DEFAULT 0,
    used_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, order_id, member_id)
) WITHOUT ROWID;

-- Every message, with its fate; a message is sent at most once.
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    campaign_id TEXT REFERENCES campaigns(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'smtp', 'receipt', 'tablet')),
    address TEXT,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'held',
                                           'failed', 'skipped', 'unconfirmed')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX messages_due ON messages(status, next_attempt_at);
CREATE INDEX messages_member ON messages(member_id, created_at);
CREATE INDEX messages_campaign ON messages(campaign_id, status);
"""


MEMBER_STATS = """
-- Per guest, kept by triggers as visits and orders are written: when they were last seen and
-- how often they came, so that "lapsed for 90 days" over a million guests is an index range
-- and not a scan of every visit and order. Keyed by the members rowid (as the name index is):
-- one B-tree step from a row here to its guest. Neither survives a VACUUM, which may renumber
-- rowids; the hub never runs one.
CREATE TABLE member_stats (
    member_rowid INTEGER PRIMARY KEY,
    orders INTEGER NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0,
    visits INTEGER NOT NULL DEFAULT 0,
    last_seen TEXT NOT NULL
);
CREATE INDEX member_stats_last_seen ON member_stats(last_seen);
INSERT INTO member_stats (member_rowid, orders, deliveries, visits, last_seen)
    SELECT m.rowid, SUM(o), SUM(d), SUM(v), MAX(at) FROM (
        SELECT member_id, 1 AS o, channel = 'delivery' AS d, 0 AS v, created_at AS at
        FROM orders WHERE member_id IS NOT NULL
        UNION ALL
        SELECT member_id, 0, 0, 1, visited_at FROM visits WHERE member_id IS NOT NULL) x
    JOIN members m ON m.id = x.member_id
    GROUP BY m.rowid;
CREATE TRIGGER member_stats_order AFTER INSERT ON orders WHEN NEW.member_id IS NOT NULL
BEGIN
    INSERT INTO member_stats (member_rowid, orders, deliveries, visits, last_seen)
    SELECT rowid, 1, NEW.channel = 'delivery', 0, NEW.created_at FROM members
    WHERE id = NEW.member_id
    ON CONFLICT (member_rowid) DO UPDATE SET orders = orders + 1,
        deliveries = deliveries + excluded.deliveries,
        last_seen = max(last_seen, excluded.last_seen);
END;
CREATE TRIGGER member_stats_visit AFTER INSERT ON visits WHEN NEW.member_id IS NOT NULL
BEGIN
    INSERT INTO member_stats (member_rowid, orders, deliveries, visits, last_seen)
    SELECT rowid, 0, 0, 1, NEW.visited_at FROM members WHERE id = NEW.member_id
    ON CONFLICT (member_rowid) DO UPDATE SET visits = visits + 1,
        last_seen = max(last_seen, excluded.last_seen);
END;
"""


REPORT_ROLLUPS = """
-- Who signed the guest up (a staff member's PIN at the tablet); NULL at the kiosk.
ALTER TABLE members ADD COLUMN signed_up_by TEXT REFERENCES staff(id);

-- Per store-local day (laoke_day: the store's time zone), kept by a trigger as order lines
-- are written, so dish and pairing reports over a year read a few thousand rows instead of
-- two million lines. `orders` counts orders with the dish (or the pair) at least once.
CREATE TABLE dish_days (
    day TEXT NOT NULL,
    dish TEXT NOT NULL,
    qty INTEGER NOT NULL,
    revenue_fen INTEGER NOT NULL,
    orders INTEGER NOT NULL,
    PRIMARY KEY (day, dish)
) WITHOUT ROWID;
CREATE TABLE dish_pairs (
    day TEXT NOT NULL,
    dish_a TEXT NOT NULL,            -- dish_a < dish_b
    dish_b TEXT NOT NULL,
    orders INTEGER NOT NULL,
    PRIMARY KEY (day, dish_a, dish_b)
) WITHOUT ROWID;
INSERT INTO dish_days (day, dish, qty, revenue_fen, orders)
    SELECT laoke_day(o.created_at), l.dish, SUM(l.qty), SUM(l.qty * l.unit_price_fen),
           COUNT(DISTINCT l.order_id)
    FROM order_lines l JOIN orders o ON o.id = l.order_id GROUP BY 1, 2;
INSERT INTO dish_pairs (day, dish_a, dish_b, orders)
    SELECT laoke_day(o.created_at), a.dish, b.dish, COUNT(DISTINCT a.order_id)
    FROM order_lines a JOIN order_lines b ON b.order_id = a.order_id AND a.dish < b.dish
    JOIN orders o ON o.id = a.order_id GROUP BY 1, 2, 3;
CREATE TRIGGER dish_rollup AFTER INSERT ON order_lines
BEGIN
    INSERT INTO dish_days (day, dish, qty, revenue_fen, orders)
    SELECT laoke_day(o.created_at), NEW.dish, NEW.qty, NEW.qty * NEW.unit_price_fen,
           NOT EXISTS (SELECT 1 FROM order_lines p WHERE p.order_id = NEW.order_id
                       AND p.dish = NEW.dish AND p.line_no <> NEW.line_no)
    FROM orders o WHERE o.id = NEW.order_id
    ON CONFLICT (day, dish) DO UPDATE SET qty = qty + excluded.qty,
        revenue_fen = revenue_fen + excluded.revenue_fen, orders = orders + excluded.orders;
    INSERT INTO dish_pairs (day, dish_a, dish_b, orders)
    SELECT laoke_day(o.created_at), min(p.dish, NEW.dish), max(p.dish, NEW.dish), 1
    FROM orders o JOIN (SELECT DISTINCT dish FROM order_lines WHERE order_id = NEW.order_id
                        AND line_no <> NEW.line_no AND dish <> NEW.dish) p
    WHERE o.id = NEW.order_id AND NOT EXISTS (
        SELECT 1 FROM order_lines q WHERE q.order_id = NEW.order_id AND q.dish = NEW.dish
        AND q.line_no <> NEW.line_no)
    ON CONFLICT (day, dish_a, dish_b) DO UPDATE SET orders = orders + 1;
END;
"""


def spaced_chars(text: str | None) -> str | None:
    """'王小芳' -> '王 小 芳': every character its own token (the index's SQL function)."""
    return None if text is None else " ".join(ch for ch in text if not ch.isspace())


STORED_VALUE_SLICES = """
-- In a chain, what this store may still spend of a guest's stored value while HQ cannot be
-- asked: HQ reserved it for this store alone (see hub/domain/authority.py).
CREATE TABLE sv_slices (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    remaining_fen INTEGER NOT NULL CHECK (remaining_fen >= 0)
);
"""


SLICE_AGE = """
-- When a slice last changed: one left unused for long is given back to the chain.
ALTER TABLE sv_slices ADD COLUMN updated_at TEXT;
"""

SV_APPROVALS = """
-- Spends HQ approved for this store, until the checkout uses one or the store gives it back
-- (see hub/domain/authority.py): HQ holds the money exactly as long as a row here is open.
CREATE TABLE sv_approvals (
    hold_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'spent', 'released')),
    created_at TEXT NOT NULL
);
CREATE INDEX sv_approvals_open ON sv_approvals(state, created_at);
"""

REPORT_INDEXES = """
-- Time indexes that carry what the reports read, so a year of orders or visits is read from
-- the index alone, in time order, without a lookup into the table for every row.
DROP INDEX orders_time;
CREATE INDEX orders_time ON orders(created_at, member_id, staff_id, channel, total_fen,
                                   discount_fen);
DROP INDEX visits_time;
CREATE INDEX visits_time ON visits(visited_at, member_id, staff_id, party_size);
"""

PIN_INDEX = """
-- A keyed index of staff PINs (HMAC with this store's key), so a typed PIN finds its one
-- candidate row and is checked against one scrypt hash, not every staff member's. Rows from
-- before this step have none until their PIN is next typed (see hub/domain/staff.py).
ALTER TABLE staff ADD COLUMN pin_index TEXT;
CREATE INDEX staff_pin_index ON staff(pin_index);
INSERT OR IGNORE INTO hub_meta (key, value) VALUES ('pin_index_key', lower(hex(randomblob(32))));
"""


def _local(timezone: str) -> Callable[[str], datetime]:
    zone = ZoneInfo(timezone)
    return lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)


def local_day(timezone: str) -> Callable[[str | None], str | None]:
    """The SQL function laoke_day: UTC ISO text -> the store's local YYYY-MM-DD."""
    local = _local(timezone)
    return lambda text: None if text is None else local(text).date().isoformat()


def local_minute(timezone: str) -> Callable[[str | None], int | None]:
    """The SQL function laoke_minute: UTC ISO text -> store-local minutes since 1970-01-01
    00:00 local (the day is the minute // 1440, the hour the minute // 60 % 24)."""
    local = _local(timezone)

    def minute(text: str | None) -> int | None:
        if text is None:
            return None
        at = local(text)
        offset = at.utcoffset() or timedelta(0)
        return int((at.timestamp() + offset.total_seconds()) // 60)

    return minute


def local_hour(timezone: str) -> Callable[[str | None], int | None]:
    """The SQL function laoke_hour: UTC ISO text -> the store's local hour, 0 to 23."""
    local = _local(timezone)
    return lambda text: None if text is None else local(text).hour


# The till: the menu it prices from (dishes by a stable code, the history of their prices, old
# prices kept for a guest or a tier until a date), the code each order line sold, and how each
# bill was paid (laoke records tenders; it processes no payment).
TILL = """
CREATE TABLE menu_dishes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
    member_price_fen INTEGER CHECK (member_price_fen IS NULL OR member_price_fen >= 0),
    station TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    members_only INTEGER NOT NULL DEFAULT 0 CHECK (members_only IN (0, 1)),
    daily_limit INTEGER CHECK (daily_limit IS NULL OR daily_limit > 0),
    sold_out_day TEXT,
    position INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX menu_dishes_category ON menu_dishes(category, position, code);
CREATE TABLE menu_price_history (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL REFERENCES menu_dishes(code),
    price_fen INTEGER NOT NULL,
    member_price_fen INTEGER,
    since TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX menu_price_history_code ON menu_price_history(code, since);
CREATE TABLE menu_price_holds (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL REFERENCES menu_dishes(code),
    member_id TEXT REFERENCES members(id),
    tier TEXT,
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
    until TEXT NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    CHECK ((member_id IS NULL) <> (tier IS NULL))
);
CREATE INDEX menu_price_holds_code ON menu_price_holds(code, until);
ALTER TABLE order_lines ADD COLUMN code TEXT;
CREATE INDEX order_lines_code ON order_lines(code) WHERE code IS NOT NULL;
CREATE TABLE order_tenders (
    order_id TEXT NOT NULL REFERENCES orders(id),
    line_no INTEGER NOT NULL,
    method TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    received_fen INTEGER CHECK (received_fen IS NULL OR received_fen >= amount_fen),
    PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;
"""

AUDIT_CARD_REFS = """
-- The audit log keeps only a card's last four characters (hub/domain/members.py card_ref):
-- an erased guest's card number must not outlive them in a log nothing else may change.
DROP TRIGGER audit_log_no_update;
UPDATE audit_log SET detail = json_set(detail, '$.number', CASE
    WHEN length(json_extract(detail, '$.number')) > 6
    THEN '…' || substr(json_extract(detail, '$.number'), -4) ELSE '…' END)
    WHERE action IN ('card.link', 'card.block')
    AND json_extract(detail, '$.number') NOT LIKE '…%';
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""

# Tables and the orders open on them: the layout (areas, tables, seats) occupancy is measured
# against, one open order per table, and its items with the round each was sent in.
TABLES = """
CREATE TABLE dining_tables (
    name TEXT PRIMARY KEY,
    area TEXT NOT NULL DEFAULT '',
    seats INTEGER NOT NULL CHECK (seats > 0)
);
CREATE TABLE tabs (
    id TEXT PRIMARY KEY,
    table_no TEXT NOT NULL REFERENCES dining_tables(name),
    visit_id TEXT NOT NULL REFERENCES visits(id),
    member_id TEXT REFERENCES members(id),
    party_size INTEGER NOT NULL CHECK (party_size > 0),
    staff_id TEXT REFERENCES staff(id),
    opened_at TEXT NOT NULL,
    closed_at TEXT,
    order_id TEXT REFERENCES orders(id)
);
CREATE UNIQUE INDEX tabs_open_table ON tabs(table_no) WHERE closed_at IS NULL;
CREATE TABLE tab_items (
    tab_id TEXT NOT NULL REFERENCES tabs(id),
    line_no INTEGER NOT NULL,
    code TEXT,
    dish TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    unit_price_fen INTEGER CHECK (unit_price_fen IS NULL OR unit_price_fen >= 0),
    station TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (tab_id, line_no)
) WITHOUT ROWID;
"""

# Behind an existing POS: its dish codes mapped to the menu's, and each of its bills once, with
# the next-visit coupon its receipt printed (a retry answers the same one).
POS = """
CREATE TABLE pos_dish_map (
    pos_code TEXT PRIMARY KEY,
    code TEXT NOT NULL REFERENCES menu_dishes(code)
);
CREATE TABLE pos_bills (
    bill_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),
    coupon_code TEXT REFERENCES coupons(code),
    created_at TEXT NOT NULL
);
"""

# Combos on the menu (these together, this much off: 主食+汤品立减10元), and what they took off.
COMBOS = """
CREATE TABLE menu_combos (
    name TEXT PRIMARY KEY,
    parts TEXT NOT NULL,
    off_fen INTEGER NOT NULL CHECK (off_fen > 0),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_at TEXT NOT NULL
);
ALTER TABLE orders ADD COLUMN combo_discount_fen INTEGER NOT NULL DEFAULT 0;
"""

# Set meals: a dish of the menu at its own price, with groups of dishes to choose from; a
# table's order remembers the choices of each set ordered.
SET_MEALS = """
CREATE TABLE menu_sets (
    code TEXT PRIMARY KEY REFERENCES menu_dishes(code),
    groups TEXT NOT NULL
);
ALTER TABLE tab_items ADD COLUMN choices TEXT;
"""

# The chain's menu: dishes HQ pushes are the chain's (`from_chain`); a store keeps its own
# prices for them in `menu_overrides`, and `menu_view` is the menu as this store sells it.
CHAIN_MENU = """
ALTER TABLE menu_dishes ADD COLUMN from_chain INTEGER NOT NULL DEFAULT 0;
CREATE TABLE menu_overrides (
    code TEXT PRIMARY KEY REFERENCES menu_dishes(code),
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
    member_price_fen INTEGER CHECK (member_price_fen IS NULL OR member_price_fen >= 0),
    updated_at TEXT NOT NULL
);
CREATE VIEW menu_view AS
    SELECT d.code, d.name, d.name_en, d.category,
           COALESCE(o.price_fen, d.price_fen) AS price_fen,
           CASE WHEN o.code IS NULL THEN d.member_price_fen ELSE o.member_price_fen END
               AS member_price_fen,
           d.station, d.tags, d.members_only, d.daily_limit, d.sold_out_day, d.position,
           d.updated_at, d.from_chain, o.code IS NOT NULL AS overridden
    FROM menu_dishes d LEFT JOIN menu_overrides o ON o.code = d.code;
"""

CHAIN_POINTS = """
-- Points follow the chain's spend rule as stored value does (see hub/domain/authority.py):
-- a redemption's entry says whether HQ approved it or the store's slice covered it, what
-- HQ reserved for this store alone, and the approvals HQ holds until a checkout uses them.
ALTER TABLE points_ledger ADD COLUMN note TEXT;
CREATE TABLE points_slices (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    remaining INTEGER NOT NULL CHECK (remaining >= 0),
    updated_at TEXT
);
CREATE TABLE points_approvals (
    hold_id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    idempotency_key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'spent', 'released')),
    created_at TEXT NOT NULL
);
CREATE INDEX points_approvals_open ON points_approvals(state, created_at);
"""

SENT_EVENTS = """
-- Events HQ has acknowledged, kept `[chain] sent_retention_days` after the acknowledgement:
-- an HQ restored from a backup asks for them again (sync/publisher.py).
CREATE TABLE sent_events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts TEXT NOT NULL,
    data TEXT NOT NULL,
    acked_at TEXT NOT NULL
);
CREATE INDEX sent_events_acked ON sent_events(acked_at);
"""

HQ_ACKS = """
-- What each HQ database (by its identity) acknowledged: the store moves an event out of its
-- outbox only once every HQ it reports to has it.
CREATE TABLE sync_hq_acks (
    hq_id TEXT PRIMARY KEY,
    applied_seq INTEGER NOT NULL,
    applied_id TEXT,
    at TEXT NOT NULL
);
"""

# Shifts: who works on which paired device, so what a device does is that person's without a
# PIN on every request. One open shift per device (the partial unique index); a shift ends at
# sign-out, after `[shifts] idle_minutes` without a request, or at `ends_by` (the closing time
# after it opened). Coupons remember who issued them and a table's items who took them, for
# the staff report; the rota plans the shifts ahead.
SHIFTS = """
CREATE TABLE shifts (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    staff_id TEXT NOT NULL REFERENCES staff(id),
    opened_at TEXT NOT NULL,
    last_active_at TEXT NOT NULL,
    ends_by TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT CHECK (closed_by IN ('sign_out', 'switch', 'idle', 'closing'))
);
CREATE UNIQUE INDEX shifts_open_device ON shifts(device_id) WHERE closed_at IS NULL;
CREATE INDEX shifts_staff ON shifts(staff_id, opened_at);
ALTER TABLE coupons ADD COLUMN issued_by TEXT REFERENCES staff(id);
ALTER TABLE tab_items ADD COLUMN staff_id TEXT REFERENCES staff(id);
-- The rota (员工排班): planned shifts, a person on a local day from one time to another.
CREATE TABLE rota (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff(id),
    day TEXT NOT NULL,
    starts TEXT NOT NULL,
    ends TEXT NOT NULL CHECK (ends > starts),
    created_at TEXT NOT NULL
);
CREATE INDEX rota_day ON rota(day, staff_id);
"""

# Guest feedback: one rating per order, tied to its table and the staff member who served it,
# and the apology coupon a low one was answered with.
FEEDBACK = """
CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    tags TEXT NOT NULL DEFAULT '[]',
    comment TEXT NOT NULL DEFAULT '',
    table_no TEXT,
    staff_id TEXT REFERENCES staff(id),
    source TEXT NOT NULL CHECK (source IN ('tablet', 'receipt')),
    created_at TEXT NOT NULL,
    apology_code TEXT REFERENCES coupons(code)  -- the coupon the manager sent in answer
);
CREATE INDEX feedback_staff ON feedback(staff_id, created_at);
"""

# Editing a dish at the console: a dish taken off the menu for good is retired (kept, since
# orders and the price history name it). Portions left today (沽清/限量份数): the count a
# manager sets for `portions_day`, drawn down by each order; a count of an earlier day is void.
DISH_PORTIONS = """
ALTER TABLE menu_dishes ADD COLUMN retired_at TEXT;
ALTER TABLE menu_dishes ADD COLUMN portions_left INTEGER
    CHECK (portions_left IS NULL OR portions_left >= 0);
ALTER TABLE menu_dishes ADD COLUMN portions_day TEXT;
DROP VIEW menu_view;
CREATE VIEW menu_view AS
    SELECT d.code, d.name, d.name_en, d.category,
           COALESCE(o.price_fen, d.price_fen) AS price_fen,
           CASE WHEN o.code IS NULL THEN d.member_price_fen ELSE o.member_price_fen END
               AS member_price_fen,
           d.station, d.tags, d.members_only, d.daily_limit, d.sold_out_day, d.position,
           d.updated_at, d.from_chain, o.code IS NOT NULL AS overridden, d.retired_at,
           d.portions_left, d.portions_day
    FROM menu_dishes d LEFT JOIN menu_overrides o ON o.code = d.code;
"""

# An old price kept for a group of guests by a member tag (老会员), besides one guest or a
# tier: exactly one of the three says who keeps it.
PRICE_HOLD_TAGS = """
CREATE TABLE menu_price_holds_new (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL REFERENCES menu_dishes(code),
    member_id TEXT REFERENCES members(id),
    tier TEXT,
    tag TEXT,
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
    until TEXT NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    CHECK ((member_id IS NOT NULL) + (tier IS NOT NULL) + (tag IS NOT NULL) = 1)
);
INSERT INTO menu_price_holds_new (id, code, member_id, tier, price_fen, until, created_at,
                                  actor)
    SELECT id, code, member_id, tier, price_fen, until, created_at, actor
    FROM menu_price_holds;
DROP TABLE menu_price_holds;
ALTER TABLE menu_price_holds_new RENAME TO menu_price_holds;
CREATE INDEX menu_price_holds_code ON menu_price_holds(code, until);
"""

# Delivery platforms (美团外卖, 饿了么): each platform order once, with what the platform kept
# (commission) and charged (delivery fee) so margins are real and its state (a cancellation or
# refund follows the order); the platform's dish names mapped to the menu; and the pushes
# already taken, so a replayed or repeated push changes nothing.
DELIVERY = """
CREATE TABLE delivery_orders (
    platform TEXT NOT NULL CHECK (platform IN ('meituan', 'eleme')),
    platform_order_id TEXT NOT NULL,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),
    platform_user_id TEXT,
    commission_fen INTEGER NOT NULL DEFAULT 0 CHECK (commission_fen >= 0),
    delivery_fee_fen INTEGER NOT NULL DEFAULT 0 CHECK (delivery_fee_fen >= 0),
    state TEXT NOT NULL DEFAULT 'placed' CHECK (state IN ('placed', 'cancelled', 'refunded')),
    placed_at TEXT NOT NULL,
    ended_at TEXT,
    PRIMARY KEY (platform, platform_order_id)
) WITHOUT ROWID;
CREATE TABLE delivery_dish_map (
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL REFERENCES menu_dishes(code),
    PRIMARY KEY (platform, name)
) WITHOUT ROWID;
CREATE TABLE delivery_pushes (
    platform TEXT NOT NULL,
    push_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (platform, push_id)
) WITHOUT ROWID;
"""

# Platform guests: a platform's user id joined to a member by a person or by a claim, and the
# claim code each platform order carries for its guest to enter at the kiosk or the tablet
# (which joins the order, and its platform user, to the member who enters it).
PLATFORM_GUESTS = """
CREATE TABLE platform_identities (
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES members(id),
    joined_by TEXT NOT NULL CHECK (joined_by IN ('claim', 'staff')),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (platform, platform_user_id)
) WITHOUT ROWID;
CREATE INDEX platform_identities_member ON platform_identities(member_id);
ALTER TABLE delivery_orders ADD COLUMN claim_code TEXT;
ALTER TABLE delivery_orders ADD COLUMN member_id TEXT REFERENCES members(id);
CREATE UNIQUE INDEX delivery_orders_claim ON delivery_orders(claim_code);
CREATE INDEX delivery_orders_member ON delivery_orders(member_id) WHERE member_id IS NOT NULL;
"""

# SMS through a provider: the channel, the approved template and its parameters as sent
# (personal data: emptied at erasure), the provider's id of the text, which its delivery
# receipts name, and when its receipt was last asked for (so the oldest unanswered do not
# crowd out the rest). SQLite cannot widen a CHECK in place, so the table is rebuilt.
SMS_PROVIDERS = """
CREATE TABLE messages_v2 (
    id TEXT PRIMARY KEY,
    campaign_id TEXT REFERENCES campaigns(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'smtp', 'sms', 'receipt', 'tablet')),
    address TEXT,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'held',
                                           'failed', 'skipped', 'unconfirmed')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    template TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '',
    provider_ref TEXT,
    receipt_asked_at TEXT
);
INSERT INTO messages_v2 (id, campaign_id, member_id, channel, address, subject, body, status,
                         reason, attempts, next_attempt_at, created_at, sent_at)
    SELECT id, campaign_id, member_id, channel, address, subject, body, status, reason,
           attempts, next_attempt_at, created_at, sent_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX messages_due ON messages(status, next_attempt_at);
CREATE INDEX messages_member ON messages(member_id, created_at);
CREATE INDEX messages_campaign ON messages(campaign_id, status);
CREATE INDEX messages_provider_ref ON messages(provider_ref) WHERE provider_ref IS NOT NULL;
"""

# The call list (a person phoning lapsed regulars): each call's outcome and why the guest
# stopped coming, what was sent (a coupon on their account, or one posted to an address they
# gave), and when to call again. Note and address are personal data: erasure empties them.
CALLS = """
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    staff_id TEXT REFERENCES staff(id),
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('reached', 'no_answer')),
    reason TEXT NOT NULL CHECK (reason IN ('moved', 'prices', 'service', 'taste', 'no_answer',
                                           'other')),
    note TEXT NOT NULL DEFAULT '',
    coupon_code TEXT REFERENCES coupons(code),
    sent TEXT CHECK (sent IN ('coupon', 'post')),
    address TEXT,                    -- where a posted coupon went; NULL once erased
    follow_up TEXT,                  -- YYYY-MM-DD, the store's local day to call again
    called_at TEXT NOT NULL
);
CREATE INDEX calls_member ON calls(member_id, called_at);
CREATE INDEX calls_time ON calls(called_at);
"""

# Offers owners ask for: a cap on how many coupons a template may issue (前100名注册送),
# counted over the coupons of the template this store knows, under the write lock; and the
# paid mystery box.
OFFERS = """
ALTER TABLE coupon_templates ADD COLUMN max_issued INTEGER
    CHECK (max_issued IS NULL OR max_issued >= 1);
CREATE INDEX coupons_template ON coupons(template_id);

-- A paid mystery box (盲盒): the order that paid it, and the prize it revealed; one box per
-- order, so a retried sale reveals the same prize and is paid once.
CREATE TABLE mystery_boxes (
    order_id TEXT PRIMARY KEY REFERENCES orders(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    prize TEXT NOT NULL,
    coupon_code TEXT REFERENCES coupons(code),
    points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
    opened_at TEXT NOT NULL
);
CREATE INDEX mystery_boxes_time ON mystery_boxes(opened_at);
"""

# The weather the forecast learns from and looks ahead with, one row per store-local day,
# cached from the weather source (hub/weather.py): `observed` rows are history, `forecast`
# rows are what was forecast for a day not yet seen (replaced once it is observed).
WEATHER = """
CREATE TABLE weather_days (
    day TEXT PRIMARY KEY,
    temperature_max_c REAL NOT NULL,
    temperature_min_c REAL NOT NULL,
    precipitation_mm REAL NOT NULL CHECK (precipitation_mm >= 0),
    kind TEXT NOT NULL CHECK (kind IN ('observed', 'forecast')),
    source TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
"""

STOCK = """
CREATE TABLE suppliers (
    name TEXT PRIMARY KEY,
    delivery_weekdays TEXT NOT NULL DEFAULT ''
);
CREATE TABLE ingredients (
    name TEXT PRIMARY KEY,
    unit TEXT NOT NULL CHECK (unit IN ('g', 'kg', 'ml', 'l', 'pcs')),
    supplier TEXT REFERENCES suppliers(name),
    pack_milli INTEGER CHECK (pack_milli IS NULL OR pack_milli > 0)
);
CREATE TABLE recipe_lines (
    id TEXT PRIMARY KEY,
    dish TEXT NOT NULL,
    ingredient TEXT NOT NULL REFERENCES ingredients(name),
    qty_milli INTEGER NOT NULL CHECK (qty_milli > 0),
    since TEXT NOT NULL,
    until TEXT
);
CREATE INDEX recipe_lines_dish ON recipe_lines(dish, since);
CREATE TABLE stock_entries (
    id TEXT PRIMARY KEY,
    ingredient TEXT NOT NULL REFERENCES ingredients(name),
    kind TEXT NOT NULL CHECK (kind IN ('received', 'waste', 'count')),
    qty_milli INTEGER NOT NULL CHECK (qty_milli > 0 OR (kind = 'count' AND qty_milli = 0)),
    note TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX stock_entries_ingredient ON stock_entries(ingredient, at);
CREATE TRIGGER stock_entries_kept BEFORE UPDATE ON stock_entries
BEGIN SELECT RAISE(ABORT, 'a stock entry is never changed: add another'); END;
CREATE TRIGGER stock_entries_not_deleted BEFORE DELETE ON stock_entries
BEGIN SELECT RAISE(ABORT, 'a stock entry is never deleted: add another'); END;
"""

# Group-buy vouchers (美团/大众点评 团购券) taken at checkout: each code consumed once on the
# platform (or, offline, pending until the verifier asks), with the deal, its face value, what
# the guest paid for it and the platform's commission; reversed on a refund, flagged when the
# platform refuses one taken offline. A code reversed may be taken again.
GROUP_VOUCHERS = """
CREATE TABLE group_vouchers (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    tender_fen INTEGER NOT NULL CHECK (tender_fen >= 0),
    state TEXT NOT NULL CHECK (state IN ('consumed', 'pending', 'refused', 'reversed')),
    request_id TEXT NOT NULL UNIQUE,
    deal_title TEXT,
    face_value_fen INTEGER CHECK (face_value_fen >= 0),
    paid_fen INTEGER CHECK (paid_fen >= 0),
    commission_fen INTEGER CHECK (commission_fen >= 0),
    refusal TEXT,
    created_at TEXT NOT NULL,
    settled_at TEXT
);
CREATE UNIQUE INDEX group_vouchers_live ON group_vouchers(code) WHERE state != 'reversed';
CREATE INDEX group_vouchers_order ON group_vouchers(order_id);
CREATE INDEX group_vouchers_state ON group_vouchers(state) WHERE state IN ('pending', 'refused');
"""

# A platform's order carries its guest's member id once they claimed it or its platform user
# was joined to them (delivery.OWNER), so member_stats follows an order's member id when it
# changes as it does when an order is written: out of the old guest's figures (their last
# seen read again from their orders and visits; no row once they have none), into the new
# one's. The orders claimed or joined before this step get their member id now, each guest's
# in an outbox event (`order.member`, with a UUIDv7 id made here) HQ applies like the hub's.
# A claim or a join finds the platform user's orders by an index.
ORDER_MEMBERS = """
CREATE INDEX delivery_orders_user ON delivery_orders(platform, platform_user_id, order_id);
CREATE TRIGGER member_stats_order_member AFTER UPDATE OF member_id ON orders
WHEN OLD.member_id IS NOT NEW.member_id
BEGIN
    UPDATE member_stats SET orders = orders - 1,
        deliveries = deliveries - (OLD.channel = 'delivery'),
        last_seen = COALESCE((SELECT MAX(at) FROM (
            SELECT MAX(created_at) AS at FROM orders WHERE member_id = OLD.member_id
            UNION ALL
            SELECT MAX(visited_at) FROM visits WHERE member_id = OLD.member_id)), last_seen)
    WHERE member_rowid = (SELECT rowid FROM members WHERE id = OLD.member_id);
    DELETE FROM member_stats WHERE orders = 0 AND visits = 0
        AND member_rowid = (SELECT rowid FROM members WHERE id = OLD.member_id);
    INSERT INTO member_stats (member_rowid, orders, deliveries, visits, last_seen)
    SELECT rowid, 1, NEW.channel = 'delivery', 0, NEW.created_at FROM members
    WHERE id = NEW.member_id
    ON CONFLICT (member_rowid) DO UPDATE SET orders = orders + 1,
        deliveries = deliveries + excluded.deliveries,
        last_seen = max(last_seen, excluded.last_seen);
END;
UPDATE orders SET member_id = (
    SELECT COALESCE(d.member_id, i.member_id) FROM delivery_orders d
    LEFT JOIN platform_identities i
        ON i.platform = d.platform AND i.platform_user_id = d.platform_user_id
    WHERE d.order_id = orders.id)
WHERE member_id IS NULL AND id IN (SELECT order_id FROM delivery_orders);
INSERT INTO outbox (id, store_id, type, ts, data)
SELECT printf('%08x-%04x-7%03x-%x%03x-%012x', ms >> 16, ms & 65535, random() & 4095,
              8 + (random() & 3), random() & 4095, random() & 281474976710655),
       (SELECT value FROM hub_meta WHERE key = 'store_id'), 'order.member',
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       json_object('member_id', member_id, 'order_ids', json(order_ids))
FROM (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS ms, member_id,
             (SELECT json_group_array(id) FROM (SELECT o2.id FROM orders o2
              JOIN delivery_orders d2 ON d2.order_id = o2.id
              WHERE o2.member_id = g.member_id ORDER BY o2.id)) AS order_ids
      FROM (SELECT DISTINCT o.member_id FROM orders o JOIN delivery_orders d
            ON d.order_id = o.id WHERE o.member_id IS NOT NULL) g
      ORDER BY member_id);
"""

# WeChat Official Account (服务号) followers: the guest an OpenID is (linked when they follow
# or scan the kiosk's parametric QR, whose scene names them), and whether they still follow
# (unfollowing withdraws WeChat consent; nothing else). The scenes a kiosk made, until their QR
# expires. Messages get the `wechat` channel (template messages). An erasure deletes both.
WECHAT = """
CREATE TABLE wechat_followers (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    openid TEXT NOT NULL UNIQUE,
    following INTEGER NOT NULL CHECK (following IN (0, 1)),
    linked_at TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE wechat_scenes (
    scene TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id),
    expires_at TEXT NOT NULL
);
CREATE INDEX wechat_scenes_member ON wechat_scenes(member_id);
CREATE TABLE messages_v3 (
    id TEXT PRIMARY KEY,
    campaign_id TEXT REFERENCES campaigns(id),
    member_id TEXT NOT NULL REFERENCES members(id),
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'smtp', 'sms', 'wechat', 'receipt',
                                             'tablet')),
    address TEXT,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'held',
                                           'failed', 'skipped', 'unconfirmed')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    template TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '',
    provider_ref TEXT,
    receipt_asked_at TEXT
);
INSERT INTO messages_v3 SELECT id, campaign_id, member_id, channel, address, subject, body,
    status, reason, attempts, next_attempt_at, created_at, sent_at, template, params,
    provider_ref, receipt_asked_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE INDEX messages_due ON messages(status, next_attempt_at);
CREATE INDEX messages_member ON messages(member_id, created_at);
CREATE INDEX messages_campaign ON messages(campaign_id, status);
CREATE INDEX messages_provider_ref ON messages(provider_ref) WHERE provider_ref IS NOT NULL;
"""

# A platform guest's own phone, joined through Meituan's brand member card: kept as a keyed
# hash (HMAC with the chain key), never the phone. How a voucher the platform refused was
# settled (the loss accepted, or verified again), and by whom.
PLATFORM_PHONES = """
CREATE TABLE platform_phones (
    platform TEXT NOT NULL CHECK (platform IN ('meituan', 'eleme')),
    phone_key TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES members(id),
    opened INTEGER NOT NULL DEFAULT 0 CHECK (opened IN (0, 1)),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (platform, phone_key)
) WITHOUT ROWID;
CREATE INDEX platform_phones_member ON platform_phones(member_id);
ALTER TABLE group_vouchers ADD COLUMN resolution TEXT CHECK (resolution IN ('loss', 'reverified'));
ALTER TABLE group_vouchers ADD COLUMN resolved_by TEXT;
ALTER TABLE group_vouchers ADD COLUMN resolved_at TEXT;
"""

# Stock by store (0043): the stock tables carry the store they belong to, so HQ's chain books
# (every store's events replayed into one database) keep each store's ingredients, recipes
# and ledger apart, and the one stock module answers for a store or for any store at HQ. The
# tables are rebuilt (their keys change); a store's rows take its own id from hub_meta. The
# ledger's triggers come back with the new table.
STOCK_BY_STORE = """
ALTER TABLE stock_entries RENAME TO stock_entries_0038;
ALTER TABLE recipe_lines RENAME TO recipe_lines_0038;
ALTER TABLE ingredients RENAME TO ingredients_0038;
ALTER TABLE suppliers RENAME TO suppliers_0038;
CREATE TABLE suppliers (
    store_id TEXT NOT NULL,
    name TEXT NOT NULL,
    delivery_weekdays TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (store_id, name)
);
CREATE TABLE ingredients (
    store_id TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('g', 'kg', 'ml', 'l', 'pcs')),
    supplier TEXT,
    pack_milli INTEGER CHECK (pack_milli IS NULL OR pack_milli > 0),
    PRIMARY KEY (store_id, name),
    FOREIGN KEY (store_id, supplier) REFERENCES suppliers(store_id, name)
);
CREATE TABLE recipe_lines (
    id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    dish TEXT NOT NULL,
    ingredient TEXT NOT NULL,
    qty_milli INTEGER NOT NULL CHECK (qty_milli > 0),
    since TEXT NOT NULL,
    until TEXT,
    FOREIGN KEY (store_id, ingredient) REFERENCES ingredients(store_id, name)
);
CREATE TABLE stock_entries (
    id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    ingredient TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('received', 'waste', 'count')),
    qty_milli INTEGER NOT NULL CHECK (qty_milli > 0 OR (kind = 'count' AND qty_milli = 0)),
    note TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    FOREIGN KEY (store_id, ingredient) REFERENCES ingredients(store_id, name)
);
INSERT INTO suppliers SELECT COALESCE((SELECT value FROM hub_meta WHERE key = 'store_id'), ''),
    name, delivery_weekdays FROM suppliers_0038;
INSERT INTO ingredients SELECT COALESCE((SELECT value FROM hub_meta WHERE key = 'store_id'), ''),
    name, unit, supplier, pack_milli FROM ingredients_0038;
INSERT INTO recipe_lines SELECT id, COALESCE((SELECT value FROM hub_meta WHERE key = 'store_id'),
    ''), dish, ingredient, qty_milli, since, until FROM recipe_lines_0038;
INSERT INTO stock_entries SELECT id, COALESCE((SELECT value FROM hub_meta WHERE
    key = 'store_id'), ''), ingredient, kind, qty_milli, note, actor, at FROM stock_entries_0038;
DROP TABLE stock_entries_0038;
DROP TABLE recipe_lines_0038;
DROP TABLE ingredients_0038;
DROP TABLE suppliers_0038;
CREATE INDEX recipe_lines_dish ON recipe_lines(store_id, dish, since);
CREATE INDEX stock_entries_ingredient ON stock_entries(store_id, ingredient, at);
CREATE INDEX stock_entries_kind ON stock_entries(store_id, kind, at);
CREATE TRIGGER stock_entries_kept BEFORE UPDATE ON stock_entries
BEGIN SELECT RAISE(ABORT, 'a stock entry is never changed: add another'); END;
CREATE TRIGGER stock_entries_not_deleted BEFORE DELETE ON stock_entries
BEGIN SELECT RAISE(ABORT, 'a stock entry is never deleted: add another'); END;
"""

# What the owner's reports read instead of two million order lines, kept by triggers like
# dish_days: each dish's quantity by local day and hour (dish mix), each order's basket of menu
# categories with the dishes it had of each (ordered X but not Y), and each guest's orders by
# local month (repurchase). A line is filed under its dish's category as the menu had it when
# the line was sold: by its code, else by its dish name.
#
# An order that counts is one no platform cancelled or refunded (`counted_orders`, the one
# definition every report reads); when a delivery order ends, or is written already ended,
# its lines leave every rollup, dish_days and dish_pairs included, and come back if it is
# placed again. Its lines are written with the order, so an ended order takes no more.
_LINE_CATEGORY = ("COALESCE((SELECT category FROM menu_dishes WHERE code = {l}.code), "
                  "(SELECT category FROM menu_dishes WHERE name = {l}.dish "
                  "ORDER BY rowid DESC LIMIT 1))")


def _days_of(orders: str) -> str:
    """The local days of those orders: a rollup's emptied rows are looked for there only."""
    return f"(SELECT laoke_day(created_at) FROM orders WHERE id IN ({orders}))"


def _dish_day_rollups(orders: str, sign: str) -> str:
    """Statements that add (`sign` 1) or take back (-1) every line of the orders that the
    subquery `orders` names, in dish_days and dish_pairs."""
    days = _days_of(orders)
    return f"""
INSERT INTO dish_days (day, dish, qty, revenue_fen, orders)
    SELECT laoke_day(o.created_at), l.dish, {sign} * SUM(l.qty),
           {sign} * SUM(l.qty * l.unit_price_fen), {sign} * COUNT(DISTINCT o.id)
    FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.id IN ({orders})
    GROUP BY 1, 2
    ON CONFLICT (day, dish) DO UPDATE SET qty = qty + excluded.qty,
        revenue_fen = revenue_fen + excluded.revenue_fen, orders = orders + excluded.orders;
DELETE FROM dish_days WHERE orders = 0 AND day IN {days};
INSERT INTO dish_pairs (day, dish_a, dish_b, orders)
    SELECT laoke_day(o.created_at), a.dish, b.dish, {sign} * COUNT(DISTINCT o.id)
    FROM orders o JOIN order_lines a ON a.order_id = o.id
    JOIN order_lines b ON b.order_id = o.id AND a.dish < b.dish WHERE o.id IN ({orders})
    GROUP BY 1, 2, 3
    ON CONFLICT (day, dish_a, dish_b) DO UPDATE SET orders = orders + excluded.orders;
DELETE FROM dish_pairs WHERE orders = 0 AND day IN {days};
"""


def _fact_rollups(orders: str, sign: str) -> str:
    """The same for dish_hours, order_baskets, basket_dishes and member_months."""
    cat, days = _LINE_CATEGORY.format(l="l"), _days_of(orders)
    return f"""
INSERT INTO dish_hours (day, hour, dish, code, qty)
    SELECT laoke_day(o.created_at), laoke_hour(o.created_at), l.dish, COALESCE(l.code, ''),
           {sign} * SUM(l.qty)
    FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.id IN ({orders})
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, hour, dish, code) DO UPDATE SET qty = qty + excluded.qty;
DELETE FROM dish_hours WHERE qty = 0 AND day IN {days};
INSERT INTO order_baskets (order_id, day, member_id, categories)
    SELECT o.id, laoke_day(o.created_at), o.member_id,
           '|' || group_concat(c.category, '|' ORDER BY c.category) || '|'
    FROM orders o JOIN (SELECT DISTINCT l.order_id, {cat} AS category FROM order_lines l
                        WHERE l.order_id IN ({orders})) c ON c.order_id = o.id
    WHERE {sign} > 0 AND c.category IS NOT NULL GROUP BY o.id
    ON CONFLICT (order_id) DO NOTHING;
INSERT INTO basket_dishes (day, categories, category, dish, orders)
    SELECT b.day, b.categories, x.category, x.dish, {sign} * COUNT(*)
    FROM order_baskets b JOIN (SELECT DISTINCT l.order_id, {cat} AS category, l.dish
                               FROM order_lines l WHERE l.order_id IN ({orders})) x
    ON x.order_id = b.order_id WHERE x.category IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, categories, category, dish) DO UPDATE SET
        orders = orders + excluded.orders;
DELETE FROM basket_dishes WHERE orders = 0 AND day IN {days};
DELETE FROM order_baskets WHERE {sign} < 0 AND order_id IN ({orders});
INSERT INTO member_months (month, member_id, orders)
    SELECT substr(laoke_day(created_at), 1, 7), member_id, {sign} * COUNT(*) FROM orders
    WHERE id IN ({orders}) AND member_id IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (month, member_id) DO UPDATE SET orders = orders + excluded.orders;
DELETE FROM member_months WHERE orders = 0 AND month IN (
    SELECT substr(laoke_day(created_at), 1, 7) FROM orders WHERE id IN ({orders}));
"""


# A visit's stay: to its tab's close, else to its first bill, else the default (and
# `estimated`); never more than the longest. Fixed by 0036: other figures need a migration.
STAY_MINUTES = (75, 240)
_STAY = (f"CASE WHEN {{end}} IS NULL OR laoke_minute({{end}}) <= {{start}} "
         f"THEN {STAY_MINUTES[0]} ELSE min(laoke_minute({{end}}) - {{start}}, "
         f"{STAY_MINUTES[1]}) END")
_ESTIMATED = "({end} IS NULL OR laoke_minute({end}) <= {start})"


def _stay_spread(stays: str, sign: str) -> str:
    """Add (`sign` 1) or take back (-1) the seat-minutes of the stays that `stays` selects
    (start, stay, party) in each local hour they cover, filed under the visit's day."""
    return f"""
INSERT INTO stay_hours (visit_day, day, hour, seat_minutes)
    SELECT date(s.start / 1440 * 86400, 'unixepoch'), date(s.slot * 3600, 'unixepoch'),
           s.slot % 24, {sign} * SUM(s.party * (min(s.start + s.stay, s.slot * 60 + 60)
                                                - max(s.start, s.slot * 60)))
    FROM (SELECT v.start, v.stay, v.party, v.start / 60 + k.n AS slot FROM ({stays}) v
          JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                UNION ALL SELECT 4) k) s
    WHERE s.slot * 60 < s.start + s.stay GROUP BY 1, 2, 3
    ON CONFLICT (visit_day, day, hour) DO UPDATE SET
        seat_minutes = seat_minutes + excluded.seat_minutes;
DELETE FROM stay_hours WHERE seat_minutes = 0 AND visit_day IN (
    SELECT date(start / 1440 * 86400, 'unixepoch') FROM ({stays}));
"""


_NEW_CATEGORY = _LINE_CATEGORY.format(l="NEW")
_OTHER_LINES = ("FROM order_lines l WHERE l.order_id = NEW.order_id "
                "AND l.line_no <> NEW.line_no")
_GROWS = f"instr(categories, '|' || {_NEW_CATEGORY} || '|') = 0"
# The order's categories with the new line's, in order: one set is one text.
_NEW_SET = (f"(SELECT '|' || group_concat(c, '|' ORDER BY c) || '|' FROM (SELECT DISTINCT "
            f"{_LINE_CATEGORY.format(l='l')} AS c FROM order_lines l "
            "WHERE l.order_id = NEW.order_id) WHERE c IS NOT NULL)")

REPORT_FACTS = f"""
-- Only a platform's order can end; the channel, in the reports' time index, spares every
-- other order the look-up.
CREATE VIEW counted_orders AS
    SELECT o.* FROM orders o WHERE o.channel <> 'delivery' OR NOT EXISTS (
        SELECT 1 FROM delivery_orders d WHERE d.order_id = o.id AND d.state <> 'placed');
CREATE TABLE dish_hours (
    day TEXT NOT NULL,
    hour INTEGER NOT NULL,
    dish TEXT NOT NULL,
    code TEXT NOT NULL,              -- '' for a line sold without a menu code
    qty INTEGER NOT NULL,
    PRIMARY KEY (day, hour, dish, code)
) WITHOUT ROWID;
CREATE TABLE order_baskets (
    order_id TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    member_id TEXT,
    categories TEXT NOT NULL         -- '|汤|热菜|': the order's categories, in order
) WITHOUT ROWID;
CREATE INDEX order_baskets_day ON order_baskets(day, categories, member_id);
CREATE TABLE basket_dishes (
    day TEXT NOT NULL,
    categories TEXT NOT NULL,        -- an order_baskets set
    category TEXT NOT NULL,
    dish TEXT NOT NULL,
    orders INTEGER NOT NULL,         -- orders of that day and set with the dish at least once
    PRIMARY KEY (day, categories, category, dish)
) WITHOUT ROWID;
CREATE TABLE member_months (
    month TEXT NOT NULL,             -- YYYY-MM, local
    member_id TEXT NOT NULL,
    orders INTEGER NOT NULL,
    PRIMARY KEY (month, member_id)
) WITHOUT ROWID;
CREATE INDEX member_months_member ON member_months(member_id, month);
-- Each visit's stay (start in local minutes), and the seat-minutes of all of them in each
-- local hour, by the visit's day: occupancy reads a few thousand rows, not every visit.
CREATE TABLE visit_stays (
    visit_id TEXT PRIMARY KEY REFERENCES visits(id),
    day TEXT NOT NULL,
    start INTEGER NOT NULL,
    party INTEGER NOT NULL,
    billed_at TEXT,                  -- its first bill
    closed_at TEXT,                  -- its tab's close
    stay INTEGER NOT NULL,
    estimated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visit_stays_day ON visit_stays(day, estimated);
CREATE TABLE stay_hours (
    visit_day TEXT NOT NULL,
    day TEXT NOT NULL,
    hour INTEGER NOT NULL,
    seat_minutes INTEGER NOT NULL,
    PRIMARY KEY (visit_day, day, hour)
) WITHOUT ROWID;
CREATE INDEX orders_visit ON orders(visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX tabs_visit ON tabs(visit_id);
INSERT INTO visit_stays (visit_id, day, start, party, billed_at, closed_at, stay, estimated)
    SELECT id, date(start / 1440 * 86400, 'unixepoch'), start, party, billed_at, closed_at,
           {_STAY.format(end="COALESCE(closed_at, billed_at)", start="start")},
           {_ESTIMATED.format(end="COALESCE(closed_at, billed_at)", start="start")}
    FROM (SELECT v.id, laoke_minute(v.visited_at) AS start, v.party_size AS party,
                 b.billed_at, t.closed_at
          FROM visits v
          LEFT JOIN (SELECT visit_id, MIN(created_at) AS billed_at FROM counted_orders
                     WHERE visit_id IS NOT NULL GROUP BY visit_id) b ON b.visit_id = v.id
          LEFT JOIN (SELECT visit_id, MAX(closed_at) AS closed_at FROM tabs
                     WHERE closed_at IS NOT NULL GROUP BY visit_id) t ON t.visit_id = v.id);
{_stay_spread("SELECT start, stay, party FROM visit_stays", "1")}
CREATE TRIGGER visit_stay_written AFTER INSERT ON visits
BEGIN
    INSERT INTO visit_stays (visit_id, day, start, party, billed_at, closed_at, stay,
                             estimated)
    SELECT id, date(start / 1440 * 86400, 'unixepoch'), start, party, billed_at, closed_at,
           {_STAY.format(end="COALESCE(closed_at, billed_at)", start="start")},
           {_ESTIMATED.format(end="COALESCE(closed_at, billed_at)", start="start")}
    FROM (SELECT NEW.id AS id, laoke_minute(NEW.visited_at) AS start,
                 NEW.party_size AS party,
                 (SELECT MIN(created_at) FROM counted_orders WHERE visit_id = NEW.id)
                     AS billed_at,
                 (SELECT MAX(closed_at) FROM tabs WHERE visit_id = NEW.id) AS closed_at);
END;
CREATE TRIGGER visit_stay_billed AFTER INSERT ON orders WHEN NEW.visit_id IS NOT NULL
BEGIN
    UPDATE visit_stays SET billed_at = NEW.created_at,
        stay = {_STAY.format(end="COALESCE(closed_at, NEW.created_at)", start="start")},
        estimated = {_ESTIMATED.format(end="COALESCE(closed_at, NEW.created_at)",
                                       start="start")}
    WHERE visit_id = NEW.visit_id AND (billed_at IS NULL OR NEW.created_at < billed_at);
END;
CREATE TRIGGER visit_stay_closed AFTER UPDATE OF closed_at ON tabs
WHEN NEW.closed_at IS NOT NULL
BEGIN
    UPDATE visit_stays SET closed_at = NEW.closed_at,
        stay = {_STAY.format(end="NEW.closed_at", start="start")},
        estimated = {_ESTIMATED.format(end="NEW.closed_at", start="start")}
    WHERE visit_id = NEW.visit_id;
END;
CREATE TRIGGER visit_stay_spread AFTER INSERT ON visit_stays
BEGIN
{_stay_spread("SELECT NEW.start AS start, NEW.stay AS stay, NEW.party AS party", "1")}
END;
CREATE TRIGGER visit_stay_moved AFTER UPDATE OF stay ON visit_stays
WHEN OLD.stay <> NEW.stay
BEGIN
{_stay_spread("SELECT OLD.start AS start, OLD.stay AS stay, OLD.party AS party", "-1")}
{_stay_spread("SELECT NEW.start AS start, NEW.stay AS stay, NEW.party AS party", "1")}
END;
{_fact_rollups("SELECT id FROM counted_orders", "1")}
{_dish_day_rollups("SELECT order_id FROM delivery_orders WHERE state <> 'placed'", "-1")}
CREATE TRIGGER order_lines_into_counted BEFORE INSERT ON order_lines
WHEN NOT EXISTS (SELECT 1 FROM counted_orders WHERE id = NEW.order_id)
BEGIN SELECT RAISE(ABORT, 'a cancelled or refunded order takes no more lines'); END;
CREATE TRIGGER member_months_order AFTER INSERT ON orders WHEN NEW.member_id IS NOT NULL
BEGIN
    INSERT INTO member_months (month, member_id, orders)
    VALUES (substr(laoke_day(NEW.created_at), 1, 7), NEW.member_id, 1)
    ON CONFLICT (month, member_id) DO UPDATE SET orders = orders + 1;
END;
-- A platform's order whose guest changes (a claim, a join, an unjoin: 0039) moves with them.
CREATE TRIGGER report_facts_member AFTER UPDATE OF member_id ON orders
WHEN OLD.member_id IS NOT NEW.member_id
    AND EXISTS (SELECT 1 FROM counted_orders WHERE id = NEW.id)
BEGIN
    UPDATE order_baskets SET member_id = NEW.member_id WHERE order_id = NEW.id;
    UPDATE member_months SET orders = orders - 1
    WHERE month = substr(laoke_day(NEW.created_at), 1, 7) AND member_id = OLD.member_id;
    DELETE FROM member_months WHERE orders = 0 AND member_id = OLD.member_id
        AND month = substr(laoke_day(NEW.created_at), 1, 7);
    INSERT INTO member_months (month, member_id, orders)
    SELECT substr(laoke_day(NEW.created_at), 1, 7), NEW.member_id, 1
    WHERE NEW.member_id IS NOT NULL
    ON CONFLICT (month, member_id) DO UPDATE SET orders = orders + 1;
END;
CREATE TRIGGER report_facts_line AFTER INSERT ON order_lines
BEGIN
    INSERT INTO dish_hours (day, hour, dish, code, qty)
    SELECT laoke_day(created_at), laoke_hour(created_at), NEW.dish, COALESCE(NEW.code, ''),
           NEW.qty FROM orders WHERE id = NEW.order_id
    ON CONFLICT (day, hour, dish, code) DO UPDATE SET qty = qty + excluded.qty;
    INSERT INTO order_baskets (order_id, day, member_id, categories)
    SELECT id, laoke_day(created_at), member_id, '' FROM orders
    WHERE id = NEW.order_id AND {_NEW_CATEGORY} IS NOT NULL
    ON CONFLICT (order_id) DO NOTHING;
    -- a category new to the order: the dishes it had so far move to the grown set
    UPDATE basket_dishes SET orders = orders - 1
    WHERE (day, categories) = (SELECT day, categories FROM order_baskets
                               WHERE order_id = NEW.order_id AND {_GROWS})
    AND (category, dish) IN (SELECT DISTINCT {_LINE_CATEGORY.format(l="l")}, l.dish
                             {_OTHER_LINES});
    INSERT INTO basket_dishes (day, categories, category, dish, orders)
    SELECT b.day, {_NEW_SET}, x.category, x.dish, 1
    FROM order_baskets b JOIN (SELECT DISTINCT {_LINE_CATEGORY.format(l="l")} AS category,
                                      l.dish {_OTHER_LINES}) x
    WHERE b.order_id = NEW.order_id AND x.category IS NOT NULL AND {_GROWS}
    ON CONFLICT (day, categories, category, dish) DO UPDATE SET orders = orders + 1;
    UPDATE order_baskets SET categories = {_NEW_SET}
    WHERE order_id = NEW.order_id AND {_GROWS};
    -- the line's own dish, unless the order had it already
    INSERT INTO basket_dishes (day, categories, category, dish, orders)
    SELECT day, categories, {_NEW_CATEGORY}, NEW.dish, 1 FROM order_baskets
    WHERE order_id = NEW.order_id AND {_NEW_CATEGORY} IS NOT NULL AND NOT EXISTS (
        SELECT 1 {_OTHER_LINES} AND l.dish = NEW.dish
        AND {_LINE_CATEGORY.format(l="l")} = {_NEW_CATEGORY})
    ON CONFLICT (day, categories, category, dish) DO UPDATE SET orders = orders + 1;
    DELETE FROM basket_dishes WHERE orders = 0
    AND day = (SELECT day FROM order_baskets WHERE order_id = NEW.order_id);
END;
CREATE TRIGGER delivery_written_ended AFTER INSERT ON delivery_orders
WHEN NEW.state <> 'placed'
BEGIN
{_dish_day_rollups("NEW.order_id", "-1")}
{_fact_rollups("NEW.order_id", "-1")}
END;
CREATE TRIGGER delivery_ended_or_placed AFTER UPDATE OF state ON delivery_orders
WHEN (OLD.state = 'placed') <> (NEW.state = 'placed')
BEGIN
{_dish_day_rollups("NEW.order_id", "(CASE NEW.state WHEN 'placed' THEN 1 ELSE -1 END)")}
{_fact_rollups("NEW.order_id", "(CASE NEW.state WHEN 'placed' THEN 1 ELSE -1 END)")}
END;
"""

# What the forecast reads over a year and more, per store-local day, kept by triggers as it
# is written (like dish_days), so a busy store's forecast reads a few thousand rows instead of
# every visit and order: covers by day and hour, and the orders taken away or delivered that
# stand (a platform's cancellation or refund takes its order back out).
FORECAST_ROLLUPS = """
CREATE TABLE covers_hours (
    day TEXT NOT NULL,
    hour INTEGER NOT NULL,
    covers INTEGER NOT NULL,
    PRIMARY KEY (day, hour)
) WITHOUT ROWID;
INSERT INTO covers_hours (day, hour, covers)
    SELECT laoke_day(visited_at), laoke_hour(visited_at), SUM(party_size) FROM visits
    GROUP BY 1, 2;
CREATE TRIGGER covers_rollup AFTER INSERT ON visits
BEGIN
    INSERT INTO covers_hours (day, hour, covers)
    VALUES (laoke_day(NEW.visited_at), laoke_hour(NEW.visited_at), NEW.party_size)
    ON CONFLICT (day, hour) DO UPDATE SET covers = covers + excluded.covers;
END;
CREATE TABLE away_days (
    day TEXT PRIMARY KEY,
    orders INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO away_days (day, orders)
    SELECT laoke_day(o.created_at), COUNT(*) FROM orders o
    LEFT JOIN delivery_orders d ON d.order_id = o.id
    WHERE o.channel <> 'dine_in' AND COALESCE(d.state, 'placed') = 'placed' GROUP BY 1;
CREATE TRIGGER away_rollup AFTER INSERT ON orders WHEN NEW.channel <> 'dine_in'
BEGIN
    INSERT INTO away_days (day, orders) VALUES (laoke_day(NEW.created_at), 1)
    ON CONFLICT (day) DO UPDATE SET orders = orders + 1;
END;
CREATE TRIGGER away_ended AFTER UPDATE OF state ON delivery_orders
WHEN OLD.state = 'placed' AND NEW.state <> 'placed'
BEGIN
    UPDATE away_days SET orders = orders - 1
    WHERE day = (SELECT laoke_day(created_at) FROM orders WHERE id = NEW.order_id);
END;
CREATE TRIGGER away_landed_ended AFTER INSERT ON delivery_orders WHEN NEW.state <> 'placed'
BEGIN
    UPDATE away_days SET orders = orders - 1
    WHERE day = (SELECT laoke_day(created_at) FROM orders WHERE id = NEW.order_id);
END;
"""

# WeChat subscription notices (订阅通知) a follower accepted, per notice template: each
# acceptance allows one notice. `accepted` counts them since `since`, when the guest last
# turned the notice down or WeChat said none were left; what is left is that count less the
# messages of the notice written to the OpenID since, that went or may have gone.
WECHAT_NOTICES = """
CREATE TABLE wechat_notices (
    openid TEXT NOT NULL,
    template_id TEXT NOT NULL,
    accepted INTEGER NOT NULL CHECK (accepted >= 0),
    since TEXT NOT NULL,
    PRIMARY KEY (openid, template_id)
);
CREATE INDEX messages_wechat_address ON messages(address, template) WHERE channel = 'wechat';
"""

# What a platform paid back of an order it did not end: a part refund (a dish missing from
# the bag), once per refund, by the platform's id of it within the order. The order's lines
# and the rollups stay as sold (the kitchen made it all); its takings in every report are
# the order's less these (`counted_orders.refunded_fen`, 0 for every other order).
DELIVERY_PART_REFUNDS = """
CREATE TABLE delivery_refunds (
    platform TEXT NOT NULL,
    refund_id TEXT NOT NULL,
    platform_order_id TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),  -- what it took off the takings
    asked_fen INTEGER NOT NULL CHECK (asked_fen > 0),    -- what the platform said (delivery)
    dishes TEXT NOT NULL,             -- JSON [{"dish", "qty"}], as the platform named them
    refunded_at TEXT NOT NULL,
    PRIMARY KEY (platform, platform_order_id, refund_id)
);
CREATE INDEX delivery_refunds_order ON delivery_refunds(order_id, amount_fen);
DROP VIEW counted_orders;
CREATE VIEW counted_orders AS
    SELECT o.*, CASE WHEN o.channel = 'delivery' THEN (
        SELECT COALESCE(SUM(r.amount_fen), 0) FROM delivery_refunds r WHERE r.order_id = o.id)
        ELSE 0 END AS refunded_fen
    FROM orders o WHERE o.channel <> 'delivery' OR NOT EXISTS (
        SELECT 1 FROM delivery_orders d WHERE d.order_id = o.id AND d.state <> 'placed');
"""

# A mystery box's points multiplier prize (双倍积分): the next bill of the guest's paid by
# `boost_until` earns `boost_pct` of its points, and is kept as the one that used it. The
# boxes opened before boxes went to HQ go now (`mystery_box.opened`, after their orders).
BOX_BOOSTS = """
ALTER TABLE mystery_boxes ADD COLUMN boost_pct INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mystery_boxes ADD COLUMN boost_until TEXT;
ALTER TABLE mystery_boxes ADD COLUMN boost_order_id TEXT REFERENCES orders(id);
CREATE INDEX mystery_boxes_boost ON mystery_boxes(member_id, boost_until)
    WHERE boost_pct > 0 AND boost_order_id IS NULL;
INSERT INTO outbox (id, store_id, type, ts, data)
SELECT printf('%08x-%04x-7%03x-%x%03x-%012x', ms >> 16, ms & 65535, random() & 4095,
              8 + (random() & 3), random() & 4095, random() & 281474976710655),
       (SELECT value FROM hub_meta WHERE key = 'store_id'), 'mystery_box.opened',
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       json_object('order_id', order_id, 'member_id', member_id, 'prize', prize,
                   'coupon_code', coupon_code, 'points', points, 'boost_pct', 0,
                   'boost_until', NULL, 'opened_at', opened_at)
FROM (SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS ms, *
      FROM mystery_boxes ORDER BY opened_at, order_id);
"""

# The pushes a platform sent, by when they came: one older than twice the push window can
# only come again as a replay the window refuses, so it goes (delivery._accept).
PUSHES_BY_TIME = """
CREATE INDEX delivery_pushes_time ON delivery_pushes(received_at);
"""

# The reports' time index covers the order's id too: `counted_orders` looks an order's id up
# (a platform's order it ended, what it paid back), and without it every order of the span
# was read from the table. Over a busy store's year, 1 s a report.
ORDERS_TIME_ID = """
DROP INDEX orders_time;
CREATE INDEX orders_time ON orders(created_at, member_id, staff_id, channel, total_fen,
                                   discount_fen, id);
"""

# A follow QR HQ makes for the store ([messaging] route = "hq", the chain's one account):
# what HQ answered for the scene, which the kiosk's request waits for.
WECHAT_HQ_QRS = """
ALTER TABLE wechat_scenes ADD COLUMN qr_url TEXT;
ALTER TABLE wechat_scenes ADD COLUMN qr_ticket TEXT;
ALTER TABLE wechat_scenes ADD COLUMN qr_expire_s INTEGER;
ALTER TABLE wechat_scenes ADD COLUMN qr_error TEXT;
"""

# The WeChat pushes the hub's callback took, by a digest of each (no OpenID kept with it): a
# push WeChat sends again, when no answer came in time, is taken once.
WECHAT_PUSHES = """
CREATE TABLE wechat_pushes (
    key TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
CREATE INDEX wechat_pushes_seen ON wechat_pushes(seen_at);
"""

# Append only: a released migration never changes; a new schema step is a new entry.
STEPS: tuple[tuple[str, str], ...] = (
    ("0001_initial", INITIAL),
    ("0002_devices", DEVICES),
    ("0003_print_jobs", PRINT_JOBS),
    ("0004_member_search", MEMBER_SEARCH),
    ("0005_sync_conflicts", SYNC_CONFLICTS),
    ("0006_campaigns", CAMPAIGNS),
    ("0007_member_stats", MEMBER_STATS),
    ("0008_report_rollups", REPORT_ROLLUPS),
    ("0009_stored_value_slices", STORED_VALUE_SLICES),
    ("0010_report_indexes", REPORT_INDEXES),
    ("0011_slice_age", SLICE_AGE),
    ("0012_pin_index", PIN_INDEX),
    ("0013_sv_approvals", SV_APPROVALS),
    ("0014_till", TILL),
    ("0015_audit_card_refs", AUDIT_CARD_REFS),
    ("0016_tables", TABLES),
    ("0017_pos", POS),
    ("0018_combos", COMBOS),
    ("0019_set_meals", SET_MEALS),
    ("0020_chain_menu", CHAIN_MENU),
    ("0021_sent_events", SENT_EVENTS),
    ("0022_hq_acks", HQ_ACKS),
    ("0023_chain_points", CHAIN_POINTS),
    ("0026_dish_portions", DISH_PORTIONS),
    ("0027_price_hold_tags", PRICE_HOLD_TAGS),
    ("0028_shifts", SHIFTS),
    ("0029_feedback", FEEDBACK),
    ("0030_delivery", DELIVERY),
    ("0031_platform_guests", PLATFORM_GUESTS),
    ("0032_sms_providers", SMS_PROVIDERS),
    ("0034_calls", CALLS),
    ("0035_offers", OFFERS),
    ("0037_weather", WEATHER),
    ("0038_stock", STOCK),
    ("0033_group_vouchers", GROUP_VOUCHERS),
    ("0039_order_members", ORDER_MEMBERS),
    ("0041_wechat", WECHAT),
    ("0040_platform_phones", PLATFORM_PHONES),
    ("0043_stock_by_store", STOCK_BY_STORE),
    ("0036_report_facts", REPORT_FACTS),
    ("0044_forecast_rollups", FORECAST_ROLLUPS),
    ("0045_wechat_notices", WECHAT_NOTICES),
    ("0046_delivery_part_refunds", DELIVERY_PART_REFUNDS),
    ("0047_box_boosts", BOX_BOOSTS),
    ("0048_pushes_by_time", PUSHES_BY_TIME),
    ("0049_orders_time_id", ORDERS_TIME_ID),
    ("0050_wechat_hq_qrs", WECHAT_HQ_QRS),
    ("0051_wechat_pushes", WECHAT_PUSHES),
)


def run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run a multi-statement script inside the caller's transaction.

    `executescript` would COMMIT first; splitting with sqlite3.complete_statement keeps
    trigger bodies (which contain ';') whole.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")


def build_migrations(steps: tuple[tuple[str, str], ...] = STEPS) -> sqlite_utils.Migrations:
    """The migration set for `steps`; tests pass a longer tuple to play a newer hub."""
    migrations = sqlite_utils.Migrations(MIGRATION_SET)
    for name, script in steps:
        migrations(name=name)(lambda db, script=script: run_script(db, script))
    return migrations
