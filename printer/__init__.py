"""Receipts and coupons on thermal printers: documents, their ESC/POS bytes, the print queue.

python-escpos parses its printer database (a YAML file, in pure Python: about a second of
every hub start and command, five on a Pi) when it is first imported, and keeps the result in
a new temporary folder each time, never found again and never removed. Here it is kept once
per python-escpos and Python version in laoke's cache: built in a private folder and moved
into place whole, since two processes starting at once would otherwise read each other's
half-written file.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import platformdirs

PICKLE_DIR = "ESCPOS_CAPABILITIES_PICKLE_DIR"  # python-escpos's own setting


def _capabilities_cache() -> None:
    if PICKLE_DIR in os.environ:
        return  # somebody chose already
    try:
        folder = Path(platformdirs.user_cache_dir("laoke", appauthor=False)) / \
            f"escpos-{version('python-escpos')}"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except (OSError, PackageNotFoundError):
        return  # python-escpos's default, then
    name = f"{platform.python_version()}.capabilities.pickle"
    if (folder / name).exists():
        os.environ[PICKLE_DIR] = str(folder)
        return
    building = Path(tempfile.mkdtemp(dir=folder))
    os.environ[PICKLE_DIR] = str(building)
    try:
        import escpos.capabilities  # noqa: F401  (writes the file into `building`)

        os.replace(building / name, folder / name)
    except OSError:
        pass  # a read-only cache: python-escpos has what it needs in memory
    finally:
        shutil.rmtree(building, ignore_errors=True)
        os.environ[PICKLE_DIR] = str(folder)


_capabilities_cache()
