"""The domain stays free of I/O frameworks; checked by import-linter and by a real import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the test extras"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def test_importing_the_domain_loads_no_framework():
    # click is not checked here: sqlite-utils imports it; the contract forbids our own use.
    code = ("import sys, hub.domain.checkout, hub.domain.members, hub.domain.segments, "
            "hub.domain.dashboard; "
            "bad = [m for m in ('textual', 'fastapi', 'starlette', 'uvicorn', 'paho', 'serial', "
            "'escpos', 'zeroconf') if m in sys.modules]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_nothing_opens_a_database_at_import(tmp_path):
    code = "import hub.cli, hub.demo, hub.bench, hub.export"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env={"LAOKE_HOME": str(tmp_path / "home"),
                                               "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home").exists()
