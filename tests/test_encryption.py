"""Data at rest (issue 16): a home's database, its WAL and its backups are encrypted with the
home's key, kept apart from them; without that key nothing opens, and no guest is in clear."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from hub.backup import backup
from hub.cli import main
from hub.domain import database
from hub.domain.config import load_settings, new_settings, write_settings
from hub.domain.members import NewMember, add_member, find_members
from hub.domain.store import Store
from hub.home import DB_NAME, KEY_NAME, ensure_home, home_key, make_key, open_store
from tests.support.homedb import read_db

NAME, PHONE, ALLERGY = "欧阳娜娜", "13912345678", "花生过敏"


def sign_up(store: Store) -> dict:
    return add_member(store, NewMember(name=NAME, phone=PHONE, allergies=[ALLERGY],
                                       marketing_consent=True))


def in_clear(*files: Path) -> list[str]:
    """What of the guest (or of SQLite's own header) can be read in the files' bytes."""
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    traces = (NAME, PHONE, ALLERGY, "SQLite format 3")
    return [trace for trace in traces if trace.encode() in raw]


def laoke(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    """The `laoke` command in this process: its exit code, stdout and stderr."""
    try:
        main(["--home", str(home), *args])
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_new_home_and_its_backup_hold_no_guest_in_clear(tmp_path):
    home, usb = tmp_path / "home", tmp_path / "usb"
    with open_store(home) as store:
        guest = sign_up(store)
        db = home / DB_NAME
        assert in_clear(db, db.with_name(DB_NAME + "-wal")) == [], "database and WAL"
        made = backup(store, usb, keep=7)
    key_file = home / KEY_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = home_key(home)
    assert key is not None and len(key) == database.KEY_BYTES
    assert in_clear(made) == [], "the backup"
    assert [p.name for p in usb.iterdir()] == [made.name], "the key never goes with a backup"
    assert key.hex().encode() not in made.read_bytes()
    with read_db(made, key) as copy:
        assert copy.execute("SELECT name, phone FROM members WHERE id = ?",
                            (guest["id"],)).fetchone() == (NAME, "+86" + PHONE)
    with open_store(home) as again:
        assert [row["id"] for row in find_members(again, PHONE)] == [guest["id"]]


def test_without_its_key_a_home_or_a_backup_does_not_open_and_says_why(tmp_path, capsys):
    home = tmp_path / "home"
    with open_store(home) as store:
        sign_up(store)
        made = backup(store, tmp_path / "usb", keep=7)
    key_file = home / KEY_NAME
    kept = key_file.read_bytes()
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        sqlite3.connect(home / DB_NAME).execute("SELECT * FROM members").fetchall()

    key_file.unlink()  # the key lost, or the card copied without it
    with pytest.raises(database.KeyRefused, match="encrypted and no key"):
        open_store(home)
    code, _, err = laoke(capsys, home, "member", "find", PHONE)
    assert code == 2 and err.startswith("laoke: ") and "laoke.key" in err, err
    assert not key_file.exists(), "a home with books never gets a new key by itself"

    other = make_key(tmp_path / "other.key")
    with pytest.raises(database.KeyRefused, match="does not open with this key"):
        database.connect(made, other)
    key_file.write_bytes(kept)
    code, out, _ = laoke(capsys, home, "member", "find", PHONE)
    assert code == 0 and NAME in out


def test_a_backup_restores_on_a_new_hub_with_the_old_hubs_key(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    ensure_home(old, "shop-9")
    with open_store(old) as store:
        guest = sign_up(store)
        made = backup(store, tmp_path / "usb", keep=7)
    ensure_home(new, "shop-9")  # the replacement Pi: a new home, a key of its own
    code, _, err = laoke(capsys, new, "restore", "--from-backup", str(made))
    assert code == 2 and "--key-file" in err, err
    code, out, err = laoke(capsys, new, "restore", "--from-backup", str(made),
                           "--key-file", str(old / KEY_NAME))
    assert code == 0, err
    assert json.loads(out)["store_id"] == "shop-9"
    assert home_key(new) != home_key(old), "the restored books are under the new hub's key"
    assert in_clear(new / DB_NAME) == []
    with open_store(new) as restored:
        assert restored.one("SELECT name FROM members WHERE id = ?",
                            (guest["id"],))["name"] == NAME


def plain_home(home: Path) -> dict:
    """A home made before encryption: its database plain, no key beside it."""
    home.mkdir()
    settings = new_settings("shop-old")
    write_settings(home, settings)
    with Store(home / DB_NAME, settings) as store:
        return sign_up(store)


def test_hub_encrypt_moves_a_plain_home_in_whole_and_checked(tmp_path, capsys):
    home = tmp_path / "home"
    guest = plain_home(home)
    with open_store(home) as store:  # an old home keeps working as it is until then
        assert store.key is None and in_clear(home / DB_NAME) != []
        seq = store.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
        old_backup = backup(store, tmp_path / "usb", keep=7)
    code, out, err = laoke(capsys, home, "hub", "encrypt")
    assert code == 0, err
    done = json.loads(out)
    assert done["key_file"] == str(home / KEY_NAME) and done["rows"] > 0
    assert stat.S_IMODE((home / KEY_NAME).stat().st_mode) == 0o600
    assert in_clear(*home.glob(DB_NAME + "*")) == []
    assert sorted(p.name for p in home.glob(DB_NAME + "*")) == [DB_NAME], "nothing aside left"
    with open_store(home) as store:
        assert store.key is not None
        assert store.one("SELECT phone FROM members WHERE id = ?",
                         (guest["id"],))["phone"] == "+86" + PHONE
        assert store.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") == seq
    code, _, err = laoke(capsys, home, "hub", "encrypt")
    assert code == 2 and "encrypted already" in err
    code, _, err = laoke(capsys, home, "restore", "--from-backup", str(old_backup))
    assert code == 0, err  # a backup from before: plain, restored under the home's key
    assert in_clear(home / DB_NAME) == [] and in_clear(old_backup) != []
    with open_store(home) as store:
        assert store.one("SELECT id FROM members")["id"] == guest["id"]


def test_an_encryption_cut_short_is_named_and_finished_by_running_it_again(tmp_path, capsys):
    home = tmp_path / "home"
    guest = plain_home(home)
    key = make_key(home / KEY_NAME)  # cut short after the key, before the database moved in
    with pytest.raises(database.KeyRefused, match="laoke hub encrypt"):
        open_store(home)
    code, _, err = laoke(capsys, home, "hub", "encrypt")
    assert code == 0, err
    assert home_key(home) == key, "the key already on the disk is the one used"
    with open_store(home) as store:
        assert store.one("SELECT id FROM members")["id"] == guest["id"]
    assert load_settings(home).store_id == "shop-old"
