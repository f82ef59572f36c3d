import csv

from openpyxl import load_workbook

from hub.demo_data import generate
from hub.export import export

CONTRACT = {
    "members": ["id", "name", "phone", "birthday", "home_store", "created_at"],
    "visits": ["visit_id", "store_id", "member_id", "table", "party_size", "staff",
               "visited_at"],
    "orders": ["order_id", "store_id", "member_id", "total_fen", "created_at"],
    "order_lines": ["order_id", "dish", "qty", "unit_price_fen"],
}


def read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_csv_export_has_the_contract_columns_and_every_row(store, tmp_path):
    generate(store, members=150, days=60)
    out = tmp_path / "out"
    counts = export(store, out, "csv", actor="owner")
    for table, columns in CONTRACT.items():
        rows = read_csv(out / f"{table}.csv")
        assert rows[0][: len(columns)] == columns
        assert len(rows) - 1 == counts[table] == store.scalar(f"SELECT COUNT(*) FROM {table}")
    for table in ("points_ledger", "stored_value_ledger", "coupons"):
        assert (out / f"{table}.csv").exists()
    members = read_csv(out / "members.csv")
    assert any("\u4e00" <= cell[0] <= "\u9fff" for cell in (r[1] for r in members[1:]))
    lines = read_csv(out / "order_lines.csv")[1:]
    revenue = sum(int(r[2]) * int(r[3]) for r in lines)
    assert revenue == store.scalar("SELECT SUM(total_fen) FROM orders")
    audit = store.one("SELECT actor, action FROM audit_log WHERE action = 'export'")
    assert tuple(audit) == ("owner", "export")


def test_xlsx_export(store, tmp_path):
    generate(store, members=40, days=20)
    progress = []
    export(store, tmp_path, "xlsx", progress=lambda t, d, n: progress.append((t, d, n)))
    sheet = load_workbook(tmp_path / "members.xlsx", read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0][:6]) == CONTRACT["members"]
    assert len(rows) == 41
    assert ("members", 40, 40) in progress
