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
