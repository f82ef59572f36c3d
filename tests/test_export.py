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


def test_an_hq_homes_export_holds_every_stores_books_once(tmp_path, hq_db):
    """`laoke export` at an HQ home (SPEC "HQ"): every store's books, in the files and
    columns a store writes, with store_id filled in, so each order is seen there once."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from hub.domain.checkout import CheckoutRequest, checkout
    from hub.domain.coupons import Line
    from hub.domain.ledgers import top_up
    from hub.domain.visits import check_in
    from sync.chain import hq_book
    from tests.support.chain import hand_to_hq, make_store, trade

    hq_home = tmp_path / "hq"
    book = hq_book(hq_home, str(hq_db))  # the home remembers where its book is
    shops = {sid: make_store(tmp_path, sid, SimpleNamespace(url=""))()
             for sid in ("s-a", "s-b")}
    for prefix, shop in zip(("1", "2"), shops.values(), strict=True):
        trade(shop, prefix, 3)
        guest = shop.scalar("SELECT id FROM members ORDER BY created_at LIMIT 1")
        check_in(shop, guest, "A1", 2)
        top_up(shop, guest, 5_000)
        checkout(shop, CheckoutRequest(f"sv-{prefix}", [Line("茶", 1, 1_000)], member_id=guest,
                                       stored_value_fen=1_000))
        hand_to_hq(book, shop)
    hand_to_hq(book, shops["s-a"])  # sent twice: HQ keeps it once
    out = tmp_path / "chain"
    done = subprocess.run([sys.executable, "-m", "hub", "--home", str(hq_home), "export",
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    export(shops["s-a"], tmp_path / "one-store")
    ids = {"members": "id", "visits": "id", "orders": "id", "order_lines": "order_id",
           "points_ledger": "id", "stored_value_ledger": "id", "coupons": "code"}
    for table, key in ids.items():
        chain_rows = read_csv(out / f"{table}.csv")
        assert chain_rows[0] == read_csv(tmp_path / "one-store" / f"{table}.csv")[0], table
        assert sorted(row[0] for row in chain_rows[1:]) == sorted(
            row[0] for shop in shops.values()
            for row in shop.conn.execute(f"SELECT {key} FROM {table}")), table
    orders = read_csv(out / "orders.csv")
    store_of = {row[0]: row[1] for row in orders[1:]}
    assert len(store_of) == len(orders) - 1 == 8, "every order once"
    for sid, shop in shops.items():
        for (order_id,) in shop.conn.execute("SELECT id FROM orders"):
            assert store_of[order_id] == sid
    for table in ("visits", "points_ledger", "stored_value_ledger"):
        rows = read_csv(out / f"{table}.csv")
        column = rows[0].index("store_id")
        assert {row[column] for row in rows[1:]} == {"s-a", "s-b"}, table
