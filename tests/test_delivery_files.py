"""A platform's own back-office order export, read through the owner's `[delivery.columns]`
mapping (no public source gives 美团外卖's or 饿了么's export headers, so the file below uses
headers an owner might see; the mapping, not these names, is what is under test)."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from hub.domain.config import parse_settings
from hub.domain.errors import ConfigError
from tests.support.homedb import home_db

HEADERS = "订单编号,下单时间,用户ID,顾客电话,商品名称,数量,单价(元),平台服务费(元),备注"
EXPORT = (f"{HEADERS}\n"
          "3301,2026-11-25 12:00:00,77,138****5678,宫保鸡丁,2,38.00,9.5,少辣\n"
          "3301,2026-11-25 12:00:00,77,138****5678,米饭,2,3,,\n"
          "3302,2026-11-25 18:10:00,,13812345678_1234,酸辣汤,1,22.5,3,\n")
MAPPING = {"订单编号": "platform_order_id", "下单时间": "created_at", "用户ID": "customer_id",
           "顾客电话": "phone", "商品名称": "dish", "数量": "qty", "单价(元)": "unit_price_yuan",
           " 平台服务费(元) ": "platform_fee_yuan"}


def map_columns(home, mapping):
    """`[delivery.columns]` in the home's laoke.toml, as the owner would write it."""
    path = home / "laoke.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["delivery"]["columns"] = mapping
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def laoke(home, *args):
    from hub.cli import main

    main(["--home", str(home), *args])


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    laoke(home, "delivery", "unmapped")  # a new home, made and migrated
    map_columns(home, MAPPING)
    return home


def test_a_platform_export_lands_through_the_owners_column_mapping(home, tmp_path, capsys):
    export = tmp_path / "美团订单.csv"
    export.write_text(EXPORT, encoding="utf-8-sig")  # as Excel saves CSV UTF-8
    laoke(home, "delivery", "import", str(export), "--platform", "meituan")
    laoke(home, "delivery", "import", str(export), "--platform", "meituan")
    out = capsys.readouterr().out
    assert "2 orders added, 0 already in" in out and "0 orders added, 2 already in" in out
    with home_db(home) as db:
        landed = db.execute(
            "SELECT d.platform_order_id, d.platform_user_id, d.commission_fen, o.total_fen, "
            "o.created_at FROM delivery_orders d JOIN orders o ON o.id = d.order_id "
            "ORDER BY 1").fetchall()
        kept = " ".join(str(tuple(r)) for table in ("orders", "order_lines",
                                                    "delivery_orders", "outbox")
                        for r in db.execute(f"SELECT * FROM {table}"))
    assert [tuple(r) for r in landed] == [
        ("3301", "77", 950, 8200, "2026-11-25T04:00:00.000Z"),
        ("3302", None, 300, 2250, "2026-11-25T10:10:00.000Z")], "yuan to fen, local time"
    assert "5678" not in kept and "少辣" not in kept, "the phone and unmapped columns stay out"


def test_two_headers_read_as_one_column_refuse_the_file_and_write_nothing(home, tmp_path,
                                                                          capsys):
    export = tmp_path / "orders.csv"
    export.write_text(EXPORT, encoding="utf-8")
    map_columns(home, {**MAPPING, "备注": "unit_price_yuan"})
    with pytest.raises(SystemExit) as exited:
        laoke(home, "delivery", "import", str(export), "--platform", "eleme")
    assert exited.value.code == 2
    assert "more than one column is read as unit_price_yuan" in capsys.readouterr().err
    with home_db(home) as db:
        assert db.execute("SELECT COUNT(*) FROM delivery_orders").fetchone()[0] == 0


def test_a_file_without_a_price_column_is_refused_by_name(home, tmp_path, capsys):
    export = tmp_path / "orders.csv"
    export.write_text("订单编号,下单时间,商品名称,数量\n1,2026-11-25 12:00,米饭,1\n",
                      encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        laoke(home, "delivery", "import", str(export), "--platform", "eleme")
    assert exited.value.code == 2
    assert "unit_price_fen (or unit_price_yuan)" in capsys.readouterr().err


def test_a_mapping_onto_a_column_laoke_does_not_read_is_a_config_error():
    with pytest.raises(ConfigError, match=r"delivery\.columns"):
        parse_settings({"store_id": "s1", "chain": {"key": "k" * 32},
                        "delivery": {"columns": {"订单编号": "order_no"}}}, "laoke.toml",
                       environ={})


def test_a_later_export_cancels_and_refunds_what_an_earlier_one_landed(home, tmp_path,
                                                                      capsys):
    """A store without the platforms' pushes learns of a cancellation from its next export:
    the order's status column ends it, and the delivery fee is kept from the file."""
    map_columns(home, {**MAPPING, "订单状态": "status", "配送费(元)": "delivery_fee_yuan",
                       "退款金额(元)": "refunded_yuan"})
    head = f"{HEADERS},订单状态,配送费(元),退款金额(元),收货地址\n"
    lunch, evening, night = (tmp_path / f"{n}.csv" for n in ("lunch", "evening", "night"))
    lunch.write_text(head +
                     "3301,2026-11-25 12:00:00,77,,宫保鸡丁,2,38.00,9.5,,已完成,5,,幸福路8号\n"
                     "3302,2026-11-25 12:10:00,,,酸辣汤,1,22.5,3,,配送中,3.5,,幸福路9号\n",
                     encoding="utf-8")
    evening.write_text(head +
                       "3301,2026-11-25 12:00:00,77,,宫保鸡丁,2,38.00,9.5,,部分退款,5,8,幸福路8号\n"
                       "3302,2026-11-25 12:10:00,,,酸辣汤,1,22.5,3,,已退款,3.5,,幸福路9号\n"
                       "3303,2026-11-25 18:00:00,,,米饭,1,3,0.5,,已取消,,,幸福路7号\n",
                       encoding="utf-8")
    night.write_text(evening.read_text(encoding="utf-8").replace(
        ",部分退款,5,8,", ",部分退款,5,10,"), encoding="utf-8")
    for export in (lunch, evening, evening, night):
        laoke(home, "delivery", "import", str(export), "--platform", "meituan")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "2 orders added, 0 already in, 0 cancelled or refunded, 0 part refunded",
        "1 orders added, 2 already in, 2 cancelled or refunded, 1 part refunded",
        "0 orders added, 3 already in, 0 cancelled or refunded, 0 part refunded",
        "0 orders added, 3 already in, 0 cancelled or refunded, 1 part refunded"]
    with home_db(home) as db:
        assert db.execute("SELECT refund_id, amount_fen FROM delivery_refunds ORDER BY "
                          "amount_fen DESC").fetchall() == [("file:800", 800),
                                                                   ("file:1000", 200)], \
            "a later export's total adds what is new of it, once"
    with home_db(home) as db:
        states = db.execute("SELECT platform_order_id, state, delivery_fee_fen FROM "
                            "delivery_orders ORDER BY 1").fetchall()
        ended = db.execute("SELECT COUNT(*) FROM outbox WHERE type = 'delivery.ended'"
                           ).fetchone()[0]
        kept = " ".join(str(tuple(r)) for table in ("orders", "order_lines",
                                                    "delivery_orders", "outbox", "audit_log")
                        for r in db.execute(f"SELECT * FROM {table}"))
    assert [tuple(r) for r in states] == [("3301", "placed", 500), ("3302", "refunded", 350),
                                          ("3303", "cancelled", 0)]
    assert ended == 2, "each ending once, for HQ too"
    assert "幸福路" not in kept, "the guest's address is not kept"
