"""Reports as files: tables that equal the report, a real PNG chart, audited; over HTTP too."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook
from PIL import Image

from hub.demo_data import generate
from hub.domain.reports import REPORTS, report
from hub.report_files import SERIES, export_report, tables

YEAR = (date(2025, 1, 1), date(2026, 11, 25))


@pytest.fixture
def demo(store):
    generate(store, members=200, days=120, seed=2)
    return store


def test_every_report_becomes_tables_and_a_chart(demo, tmp_path):
    for name in REPORTS:
        written = export_report(demo, report(demo, name, *YEAR), tmp_path / name, "xlsx",
                                actor="owner")
        assert written[0].suffix == ".xlsx"
        if name in SERIES:
            picture = Image.open(written[-1])
            assert picture.format == "PNG" and picture.width > 500
    audits = demo.conn.execute("SELECT actor, subject FROM audit_log "
                               "WHERE action = 'report.export'").fetchall()
    assert sorted(r[1] for r in audits) == sorted(REPORTS)
    assert {r[0] for r in audits} == {"owner"}


def test_dishes_csv_equals_the_report(demo, tmp_path):
    [table, chart] = export_report(demo, report(demo, "dishes", *YEAR), tmp_path, "csv")
    with table.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    dishes = report(demo, "dishes", *YEAR)["dishes"]
    assert [(r["dish"], int(r["qty"]), int(r["revenue_fen"])) for r in rows] == \
        [(d["dish"], d["qty"], d["revenue_fen"]) for d in dishes]
    assert chart.name == "dishes.png"


def test_the_hours_grid_is_a_weekday_per_row(demo, tmp_path):
    result = report(demo, "hours", *YEAR)
    columns, rows = tables(result)["covers"]
    assert columns == ["row", *map(str, range(24))]
    assert [r[0] for r in rows] == result["weekdays"]
    assert [r[1:] for r in rows] == result["covers"]
    [workbook_path, _] = export_report(demo, result, tmp_path, "xlsx")
    sheet = load_workbook(workbook_path)["covers"]
    assert [c.value for c in sheet[2]][1:] == result["covers"][0]


def test_cohort_retention_spreads_into_month_columns(demo):
    result = report(demo, "cohorts", *YEAR)
    columns, rows = tables(result)["cohorts"]
    assert columns[:3] == ["month", "members", "retention_0"]
    assert rows[0][2:] == result["cohorts"][0]["retention"]


def test_export_over_http_needs_the_export_permission(shared_hub):
    with shared_hub.client() as owner:
        waiter = owner.post("/devices", json={"name": "pad", "role": "waiter"}).json()["token"]
        manager = owner.post("/devices", json={"name": "office", "role": "manager"})
    with shared_hub.client(waiter) as pad:
        assert pad.get("/reports/dishes/export").status_code == 403
    with shared_hub.client(manager.json()["token"]) as office:
        sheet = office.get("/reports/channels/export", params={"format": "xlsx"})
        assert sheet.status_code == 200, sheet.text
        assert load_workbook(io.BytesIO(sheet.content)).sheetnames == ["channels"]
        picture = office.get("/reports/hours/export", params={"format": "png"})
        assert Image.open(io.BytesIO(picture.content)).format == "PNG"
        bundle = office.get("/reports/forecast/export", params={"format": "csv"})
        assert bundle.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
        assert "forecast-next_week.csv" in names
        assert office.get("/reports/summary/export", params={"format": "png"}).status_code == 404
        assert office.get("/reports/nope/export").status_code == 404
    with shared_hub.client() as owner:
        entries = owner.get("/audit").json()["entries"]
    assert any(e["action"] == "report.export" and e["subject"] == "channels"
               and e["actor"].startswith("device:") for e in entries)
