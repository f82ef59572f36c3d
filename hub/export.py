"""Raw data out to CSV or XLSX, one file per table, streamed so a big store fits in memory."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .domain.errors import InvalidInput
from .domain.store import Store

FORMATS = ("csv", "xlsx")

# Column lists are part of the contract (shared/SPEC.md): first the fixed ones, then the rest.
TABLES: dict[str, str] = {
    "members": """
        SELECT id, name, phone, birthday, home_store, created_at, gender, spice_level, avoid,
               allergies, notes, seat_preference, tags, vip, referred_by, tier,
               marketing_consent, consent_at, consent_version, updated_at, erased_at
        FROM members ORDER BY created_at, id""",
    "visits": """
        SELECT v.id AS visit_id, v.store_id, v.member_id, v.table_no AS "table", v.party_size,
               s.name AS staff, v.visited_at
        FROM visits v LEFT JOIN staff s ON s.id = v.staff_id ORDER BY v.visited_at, v.id""",
    "orders": """
        SELECT o.id AS order_id, o.store_id, o.member_id, o.total_fen, o.created_at, o.channel,
               o.discount_fen, o.tier_discount_fen, o.coupon_discount_fen,
               o.points_discount_fen, o.stored_value_paid_fen, o.points_earned,
               o.points_redeemed, o.coupon_code, o.visit_id, s.name AS staff
        FROM orders o LEFT JOIN staff s ON s.id = o.staff_id ORDER BY o.created_at, o.id""",
    "order_lines": """
        SELECT order_id, dish, qty, unit_price_fen, line_no
        FROM order_lines ORDER BY order_id, line_no""",
    "points_ledger": """
        SELECT id, member_id, store_id, delta, kind, reason, order_id, staff_id, expires_at,
               created_at
        FROM points_ledger ORDER BY created_at, id""",
    "stored_value_ledger": """
        SELECT id, member_id, store_id, amount_fen, kind, order_id, staff_id, note, created_at
        FROM stored_value_ledger ORDER BY created_at, id""",
    "coupons": """
        SELECT c.code, t.name AS template, t.kind, c.member_id, c.store_id, c.issued_at,
               c.valid_until, r.redeemed_at, r.order_id AS redeemed_order_id,
               r.discount_fen AS redeemed_discount_fen
        FROM coupons c JOIN coupon_templates t ON t.id = c.template_id
        LEFT JOIN coupon_redemptions r ON r.code = c.code ORDER BY c.issued_at, c.code""",
}

Progress = Callable[[str, int, int], None]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as text, never runs: text that starts like a formula
    (= + - @, tab, CR) gets a leading apostrophe. A guest's name typed at the kiosk must not
    become `=HYPERLINK(...)` in the owner's Excel. Numbers, and text that is a plain number
    such as a phone in E.164, are left as they are: they run nothing."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """`safe_cell` over a row: every CSV and XLSX laoke writes goes through here."""
    return [safe_cell(value) for value in row]


def _rows(store: Store, sql: str) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    cursor = store.conn.execute(sql)
    columns = [d[0] for d in cursor.description]
    return columns, (tuple(row) for row in cursor)


def private_file(path: Path) -> Path:
    """An empty file only its owner can read (0600), for an export to write into: exports
    hold every guest's phone."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def private_folder(path: Path) -> Path:
    """An export's folder: made 0700 when laoke makes it; one that exists is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_csv(path: Path, columns: list[str], rows: Iterator[tuple[Any, ...]],
               tick: Callable[[], None]) -> int:
    count = 0
    # utf-8-sig: Excel on a Chinese Windows opens it with the names intact.
    with private_file(path).open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(safe_row(columns))
        for row in rows:
            writer.writerow(safe_row(row))
            count += 1
            if count % 10_000 == 0:
                tick()
    return count


def _write_xlsx(path: Path, columns: list[str], rows: Iterator[tuple[Any, ...]],
                tick: Callable[[], None]) -> int:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(path.stem)
    sheet.append(safe_row(columns))
    count = 0
    for row in rows:
        sheet.append(safe_row(row))
        count += 1
        if count % 10_000 == 0:
            tick()
    workbook.save(private_file(path))
    return count


def export(store: Store, out: Path, fmt: str = "csv", actor: str = "system",
           progress: Progress | None = None) -> dict[str, int]:
    """Write every table to `out`; returns rows per table. Audited: export reveals PII."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out} exists and is not a folder")
    private_folder(out)
    writer = _write_csv if fmt == "csv" else _write_xlsx
    counts: dict[str, int] = {}
    totals = {name: store.scalar(f"SELECT COUNT(*) FROM ({sql})") for name, sql in TABLES.items()}
    for name, sql in TABLES.items():
        columns, rows = _rows(store, sql)
        done = 0

        def tick(name: str = name) -> None:
            nonlocal done
            done += 10_000
            if progress:
                progress(name, min(done, totals[name]), totals[name])

        path = out / f"{name}.{fmt}"
        tmp = path.with_name(path.name + ".part")
        counts[name] = writer(tmp, columns, rows, tick)
        tmp.replace(path)
        if progress:
            progress(name, counts[name], totals[name])
    with store.write():
        store.audit(actor, "export", None, {"format": fmt, "out": str(out), "rows": counts})
    return counts
