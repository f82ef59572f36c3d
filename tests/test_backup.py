"""`laoke backup` and `laoke restore --from-backup`: a store with no HQ gets its books back,
every table as it was, from a verified copy made while the hub served."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hub.backup import nightly_backup
from hub.domain.members import NewMember, add_member
from hub.home import home_key
from tests.support.homedb import read_db
from tests.support.hubproc import ROOT, RunningHub


def laoke(home, *args):
    return subprocess.run([sys.executable, "-m", "hub", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def tables(path: Path, key: bytes | None) -> dict[str, list[tuple]]:
    """Every table's rows, in a stable order."""
    with read_db(path, key) as db:
        names = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]
        return {name: sorted(map(tuple, db.execute(f'SELECT * FROM "{name}"')), key=repr)
                for name in names}


def test_a_backup_made_while_the_hub_serves_restores_every_table(tmp_path):
    home, usb = tmp_path / "home", tmp_path / "usb"
    assert laoke(home, "demo-data", "--members", "40", "--days", "5").returncode == 0
    hub = RunningHub(home).start()
    try:
        with hub.client() as till:
            guest = till.post("/members", json={"name": "王芳", "phone": "13800138000",
                                                "marketing_consent": True}).json()
            made = []
            for n in range(9):  # checkouts keep coming while the backups are taken
                paid = till.post("/checkouts", json={"member_id": guest["id"], "lines": [
                    {"dish": "面", "qty": 1, "unit_price_fen": 1800}]},
                    headers={"Idempotency-Key": f"k-{n}"})
                assert paid.status_code == 201, paid.text
                done = laoke(home, "backup", "--to", str(usb))
                assert done.returncode == 0, done.stderr
                made.append(Path(done.stdout.strip()))
            refused = laoke(home, "restore", "--from-backup", str(made[-1]))
            assert refused.returncode == 2 and "stop it first" in refused.stderr
    finally:
        assert hub.stop() == 0
    kept = sorted(usb.glob("laoke-*.db"))
    assert kept == sorted(made[-7:]), "the newest seven stay"
    key = home_key(home)
    snapshot = tables(made[-1], key)
    with read_db(made[-1], key) as db:
        assert db.execute("SELECT COUNT(*) FROM orders WHERE member_id = ?",
                          (guest["id"],)).fetchone()[0] == 9
    assert laoke(home, "member", "add", "--name", "后来", "--phone", "13900139000"
                 ).returncode == 0  # after the backup: gone again once it is restored
    done = laoke(home, "restore", "--from-backup", str(made[-1]))
    assert done.returncode == 0, done.stderr
    assert tables(home / "laoke.db", key) == snapshot
    found = laoke(home, "member", "find", "13900139000", "--json")
    assert json.loads(found.stdout) == {"members": []}


def test_a_damaged_backup_or_a_chain_store_is_refused_and_nothing_changes(tmp_path):
    home = tmp_path / "home"
    assert laoke(home, "member", "add", "--name", "王芳", "--phone", "13800138000"
                 ).returncode == 0
    good = Path(laoke(home, "backup", "--to", str(tmp_path / "usb")).stdout.strip())
    damaged = tmp_path / "damaged.db"
    data = bytearray(good.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    damaged.write_bytes(bytes(data))
    before = tables(home / "laoke.db", home_key(home))
    done = laoke(home, "restore", "--from-backup", str(damaged))
    assert done.returncode == 2 and "damaged.db" in done.stderr
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    assert laoke(home, "restore", "--from-backup", str(text)).returncode == 2
    assert tables(home / "laoke.db", home_key(home)) == before
    assert laoke(home, "backup").returncode == 2, "no folder given, none configured"

    chain = tmp_path / "chain-store"
    subprocess.run([sys.executable, "-c", (
        "import sys; from pathlib import Path; from hub.home import ensure_home; "
        "from hub.domain.config import load_settings, write_settings; "
        "h = Path(sys.argv[1]); ensure_home(h, 's-c'); s = load_settings(h); "
        "s.broker.url = 'mqtt://127.0.0.1:1'; write_settings(h, s)"), str(chain)],
        check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    done = laoke(chain, "restore", "--from-backup", str(good))
    assert done.returncode == 2 and "--from-hq" in done.stderr


def test_the_hub_backs_up_once_a_night_when_a_folder_is_set(store, clock, tmp_path):
    assert nightly_backup(store) is None, "no [backup] dir: no backups"
    store.settings.backup.dir = str(tmp_path / "usb")
    add_member(store, NewMember(name="王芳", phone="13800138000"))
    first = nightly_backup(store)
    assert first is not None and nightly_backup(store) is None
    clock.advance(days=1)
    second = nightly_backup(store)
    assert second is not None and second != first
    assert tables(second, None)["members"] == tables(store.path, None)["members"]
