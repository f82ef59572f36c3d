import pytest

from hub.domain.errors import ConfigError, SchemaTooNew
from hub.domain.members import NewMember, add_member
from hub.domain.schema import STEPS
from hub.domain.store import Store

NEXT = (*STEPS, ("0099_next", "CREATE TABLE next_feature (id TEXT PRIMARY KEY);\n"
                 "ALTER TABLE members ADD COLUMN nickname TEXT;\n"))


def test_a_new_database_records_its_schema(store):
    assert store.schema_version() == STEPS[-1][0]
    tables = set(store.db.table_names())
    assert {"members", "orders", "outbox", "_sqlite_migrations"} <= tables
    assert store.scalar("PRAGMA journal_mode") == "wal"
    assert store.scalar("PRAGMA foreign_keys") == 1


def test_a_newer_hub_upgrades_an_older_database(tmp_path, settings):
    with Store(tmp_path / "laoke.db", settings) as old:
        guest = add_member(old, NewMember(name="王芳", phone="13800138000"))
    with Store(tmp_path / "laoke.db", settings, steps=NEXT) as new:
        assert new.schema_version() == "0099_next"
        assert new.scalar("SELECT name FROM members WHERE id = ?", (guest["id"],)) == "王芳"
        assert "next_feature" in new.db.table_names()
    with Store(tmp_path / "laoke.db", settings, steps=NEXT) as again:  # idempotent
        assert again.schema_version() == "0099_next"


def test_an_older_hub_refuses_a_newer_database(tmp_path, settings):
    with Store(tmp_path / "laoke.db", settings, steps=NEXT):
        pass
    before = (tmp_path / "laoke.db").read_bytes()
    with pytest.raises(SchemaTooNew, match=r"0099_next.*upgrade laoke"):
        Store(tmp_path / "laoke.db", settings)
    assert (tmp_path / "laoke.db").read_bytes() == before


def test_a_database_belongs_to_one_store(tmp_path, settings):
    with Store(tmp_path / "laoke.db", settings):
        pass
    settings.store_id = "other"
    with pytest.raises(ConfigError, match="belongs to store 's1'"):
        Store(tmp_path / "laoke.db", settings)


def test_boxes_opened_before_they_went_to_hq_go_with_the_upgrade(tmp_path, settings):
    import json

    from hub.domain.delivery import import_orders
    from tests.test_delivery import rows

    before = STEPS[:[name for name, _ in STEPS].index("0047_box_boosts")]
    with Store(tmp_path / "laoke.db", settings, steps=before) as old:
        assert old.schema_version() == "0046_delivery_part_refunds"
        guest = add_member(old, NewMember(name="王芳", phone="13800138000"))
        import_orders(old, "meituan", rows(("MT-1", "2026-11-25T12:00:00+08:00", "", "",
                                            "盲盒", "1", "9900", "0")))
        order_id = old.scalar("SELECT id FROM orders")
        with old.write():
            old.conn.execute("INSERT INTO mystery_boxes (order_id, member_id, prize, points, "
                             "opened_at) VALUES (?, ?, '双倍积分', 200, '2026-11-25T04:00:00Z')",
                             (order_id, guest["id"]))
    with Store(tmp_path / "laoke.db", settings) as new:
        [event] = [json.loads(r[0]) for r in new.conn.execute(
            "SELECT data FROM outbox WHERE type = 'mystery_box.opened'")]
        assert event == {"order_id": order_id, "member_id": guest["id"], "prize": "双倍积分",
                         "coupon_code": None, "points": 200, "boost_pct": 0,
                         "boost_until": None, "opened_at": "2026-11-25T04:00:00Z"}
        assert new.scalar("SELECT MAX(seq) FROM outbox") == new.scalar(
            "SELECT seq FROM outbox WHERE type = 'mystery_box.opened'"), "after its order"
