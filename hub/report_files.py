"""Reports as files: tables (CSV or XLSX) and a chart (PNG) for any report, audited.

A report is JSON made for screens; `tables` flattens it into rows any spreadsheet reads
(nested lists become numbered columns, so the peak-hour grid is a weekday per row and an hour
per column). Charts are drawn with matplotlib in a CJK font, so dish names stay readable.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from printer.render import FONTS

from .domain.errors import InvalidInput
from .domain.store import Store
from .export import private_file, private_folder, safe_row

if TYPE_CHECKING:  # the console draws reports without loading their queries
    from .domain.reports import Report
    from .domain.stock import PurchaseList

FORMATS = ("csv", "xlsx")
Table = tuple[list[str], list[list[Any]]]


def _flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}_"))
        elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            flat.update({f"{name}_{n}": v for n, v in enumerate(value)})
        elif isinstance(value, list):
            flat[name] = "; ".join(" ".join(f"{k}={v}" for k, v in item.items())
                                   if isinstance(item, dict) else str(item) for item in value)
        else:
            flat[name] = value
    return flat


def _table(rows: list[dict[str, Any]]) -> Table:
    flats = [_flat(row) for row in rows]
    columns = list(dict.fromkeys(key for flat in flats for key in flat))
    return columns, [[flat.get(column) for column in columns] for flat in flats]


def tables(result: Mapping[str, Any]) -> dict[str, Table]:
    """The report as named tables: its lists of rows, its grids, and its single figures;
    read by the JSON's shape, so any report (or a new one) has tables."""
    found: dict[str, Table] = {}
    figures: dict[str, Any] = {}
    body = {k: v for k, v in result.items() if k not in ("report", "period")}
    for key, value in body.items():
        if key in ("weekdays", "dayparts"):  # a grid's row and column labels
            continue
        if isinstance(value, list) and value and isinstance(value[0], list):
            labels = body.get("weekdays") or list(range(len(value)))
            columns = body.get("dayparts") or [str(n) for n in range(len(value[0]))]
            found[key] = (["row", *columns],
                          [[label, *row] for label, row in zip(labels, value, strict=True)])
        elif isinstance(value, list):
            found[key] = _table(value) if value else ([], [])
        elif isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values()):
            found[key] = _table([value])
        elif isinstance(value, dict):
            found[key] = (["name", "value"], [[k, v] for k, v in value.items()])
        else:
            figures[key] = value
    if figures:
        found["figures"] = (["name", "value"], [[k, v] for k, v in figures.items()])
    return found


class Series(NamedTuple):
    """What a report's chart shows, for any drawing library: bars, a line, lines (a row of
    values per name in `columns`, over the labels), or a grid (rows of values, one row per
    label)."""

    kind: str
    labels: list[str]
    values: list[Any]
    title: str
    xlabel: str = ""
    columns: tuple[str, ...] = ()  # a grid's column labels (not 0, 1, 2…); lines' names


SERIES: dict[str, Callable[[Report], Series]] = {
    "dishes": lambda r: Series("bars", [d["dish"] for d in r["dishes"][:15]],
                               [d["qty"] for d in r["dishes"][:15]], "菜品销量 Dishes sold"),
    "pairings": lambda r: Series("bars", [f"{p['dish_a']} + {p['dish_b']}"
                                          for p in r["pairs"][:15]],
                                 [p["orders"] for p in r["pairs"][:15]],
                                 "一起点的菜 Ordered together"),
    "dish_mix": lambda r: Series("grid", r["weekdays"], r["qty"],
                                 f"菜品时段 Dish mix {r['category'] or ''}".rstrip(),
                                 "daypart", tuple(r["dayparts"])),
    "ordered_without": lambda r: Series("bars", [f"{g['category']} 无 {g['without']}"
                                                 for g in r["gaps"]],
                                        [g["orders_without"] for g in r["gaps"]],
                                        "点了X没点Y Orders with X, no Y"),
    "hours": lambda r: Series("grid", r["weekdays"], r["covers"],
                              "客流 Covers by weekday x hour", "hour"),
    "party_sizes": lambda r: Series("grid", r["weekdays"], r["average_party"],
                                    "每桌人数 Average party", "daypart",
                                    tuple(r["dayparts"])),
    "occupancy": lambda r: Series("grid", r["weekdays"], r["occupancy"],
                                  "上座率 Seat occupancy", "daypart",
                                  tuple(r["dayparts"])),
    "repurchase": lambda r: Series("line", [m["month"] for m in r["months"]],
                                   [m["rate"] for m in r["months"]], "复购率 Returning rate"),
    "repurchase_yoy": lambda r: Series(
        "lines", [m["month"] for m in r["compared"]],
        [[m["rate"] for m in r["compared"]], [m["last_year_rate"] or 0 for m in r["compared"]]],
        "复购率同比 Returning rate on last year", "", ("今年 this year", "去年 last year")),
    "cohorts": lambda r: Series("grid", [c["month"] for c in r["cohorts"]],
                                [c["retention"] for c in r["cohorts"]],
                                "留存 Retention by signup month", "months after signup"),
    "rfm": lambda r: Series("bars", list(r["groups"]), list(r["groups"].values()), "RFM"),
    "staff": lambda r: Series("bars", [s["name"] for s in r["staff"]],
                              [s["revenue_fen"] / 100  # type: ignore[typeddict-item]
                               for s in r["staff"]], "员工营收 元"),  # the staff report's rows
    "commission": lambda r: Series("bars", [s["name"] for s in r["staff"]],
                                   [s["total_fen"] / 100  # type: ignore[typeddict-item]
                                    for s in r["staff"]], "员工提成 元"),  # statements' rows
    "campaign_roi": lambda r: Series("bars", [c["name"] for c in r["campaigns"]],
                                     [(c["net_fen"] or 0) / 100 for c in r["campaigns"]],
                                     "营销净回报 元 Net return on spend"),
    "channel_shift": lambda r: Series("bars", [g["name"] or g["id"][:8] for g in r["moved"][:15]],
                                      [g["recent_delivery"] for g in r["moved"][:15]],
                                      "堂食转外卖 Moved to delivery (recent deliveries)"),
    "guest_channels": lambda r: Series("bars", list(r["mixes"])[:15],
                                       list(r["mixes"].values())[:15],
                                       "客人的渠道 Guests by the ways they came"),
    "channels": lambda r: Series("bars", [":".join(filter(None, (c["channel"], c["platform"])))
                                          for c in r["channels"]],
                                 [c["orders"] for c in r["channels"]], "渠道 Channels"),
    "coupons": lambda r: Series("bars", [t["template"] for t in r["templates"]],
                                [t["rate"] for t in r["templates"]], "用券率 Redemption rate"),
    "lapsed": lambda r: Series("bars", list(r["bands"]), list(r["bands"].values()),
                               "流失客人 Days away"),
    "churn": lambda r: Series("bars", list(r["reasons"]), list(r["reasons"].values()),
                              "流失原因 Why guests left"),
    "boxes": lambda r: Series("bars", [p["prize"] for p in r["prizes"]],
                              [p["boxes"] for p in r["prizes"]], "盲盒奖品 Mystery box prizes"),
    "forecast": lambda r: Series("line", [d["date"][5:] for d in r["next_week"]],
                                 [d["covers"] for d in r["next_week"]],
                                 "客流预测 Covers forecast"),
}


def _figure(series: Series) -> Any:
    import matplotlib.pyplot as plt

    if series.kind == "bars":
        figure, axes = plt.subplots(figsize=(8, max(3, 0.35 * len(series.labels) + 1)))
        axes.barh(series.labels[::-1], series.values[::-1], color="#c0392b")
    elif series.kind == "grid":
        figure, axes = plt.subplots(figsize=(10, max(3, 0.4 * len(series.labels) + 1.5)))
        image = axes.imshow(series.values, aspect="auto", cmap="OrRd")
        axes.set_yticks(range(len(series.labels)), series.labels)
        if series.columns:
            axes.set_xticks(range(len(series.columns)), series.columns)
        figure.colorbar(image, ax=axes)
    elif series.kind == "lines":
        figure, axes = plt.subplots(figsize=(9, 4))
        for name, row, colour in zip(series.columns, series.values, ("#c0392b", "#7f8c8d"),
                                     strict=False):
            axes.plot(series.labels, row, marker="o", color=colour, label=name)
        axes.legend()
        axes.tick_params(axis="x", rotation=45)
    else:
        figure, axes = plt.subplots(figsize=(9, 4))
        axes.plot(series.labels, series.values, marker="o", color="#c0392b")
        axes.tick_params(axis="x", rotation=45)
    axes.set_xlabel(series.xlabel)
    axes.set_title(series.title)
    return figure


@cache
def _cjk_family() -> str | None:
    """Registers the printer previews' CJK font with matplotlib, once per process."""
    from matplotlib import font_manager

    for font in FONTS:
        if Path(font).exists():
            font_manager.fontManager.addfont(font)
            return str(font_manager.FontProperties(fname=font).get_name())
    return None


def chart(result: Report, path: Path) -> Path | None:
    """The report's chart as a PNG; None for reports that are a list of figures."""
    series = SERIES.get(result["report"])
    if series is None:
        return None
    return _png(series(result), f"{result['period']['from']} .. {result['period']['to']}",
                path)


def _png(series: Series, subtitle: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = _cjk_family()
    if family:
        plt.rcParams["font.family"] = family
    figure = _figure(series)
    figure.suptitle(subtitle, fontsize=9)
    figure.tight_layout()
    figure.savefig(private_file(path), dpi=110)
    plt.close(figure)
    return path


def stock_series(found: PurchaseList) -> Series:
    """Days of stock left per ingredient, the shortest first: what the console draws and
    the PNG shows. An ingredient that lasts the whole horizon is drawn at the horizon."""
    horizon = found["horizon"]
    rows = sorted(((row["ingredient"], horizon if row["days_left"] is None
                    else min(row["days_left"], horizon)) for row in found["stock_days"]),
                  key=lambda row: row[1])
    return Series("bars", [name for name, _ in rows], [days for _, days in rows],
                  f"库存可用天数 Days of stock left (≤ {horizon})", "days")


def stock_chart(found: PurchaseList, path: Path) -> Path:
    """The days of stock left as a PNG, with the days the forecast looked over."""
    if path.suffix.lower() != ".png":
        raise InvalidInput(f"{path.name}: a stock chart is written as .png")
    return _png(stock_series(found), f"{found['first_day']} .. {found['last_day']}", path)


def write_tables(found: dict[str, Table], out: Path, name: str, fmt: str) -> list[Path]:
    written = []
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        for key, (columns, rows) in found.items():
            sheet = workbook.create_sheet(key[:31])
            sheet.append(safe_row(columns))
            for row in rows:
                sheet.append(safe_row(row))
        path = out / f"{name}.xlsx"
        workbook.save(private_file(path))
        return [path]
    for key, (columns, rows) in found.items():
        path = out / (f"{name}.csv" if len(found) == 1 else f"{name}-{key}.csv")
        with private_file(path).open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(safe_row(columns))
            writer.writerows(safe_row(row) for row in rows)
        written.append(path)
    return written


def export_report(store: Store, result: Report, out: Path, fmt: str = "csv",
                  actor: str = "system") -> list[Path]:
    """Write a report's tables and chart into `out`; audited like every export."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out} exists and is not a folder")
    name = result["report"]
    private_folder(out)
    written = write_tables(tables(result), out, name, fmt)
    picture = chart(result, out / f"{name}.png")
    if picture is not None:
        written.append(picture)
    with store.write():
        store.audit(actor, "report.export", name, {"format": fmt, "period": result["period"],
                                                   "files": [str(p) for p in written]})
    return written


def write_purchase(found: PurchaseList, path: Path) -> Path:
    """The purchase list as one XLSX: a sheet per supplier (to send them), and the restock
    alerts."""
    if path.suffix.lower() != ".xlsx":
        raise InvalidInput(f"{path.name}: a purchase list is written as .xlsx")
    sheets: dict[str, Table] = {}
    for order in found["suppliers"]:
        # Excel refuses []:*?/\ in a sheet's name and more than 31 characters.
        name = re.sub(r"[\[\]:*?/\\]", "_", order["supplier"])[:28] or "未指定供应商"
        while name in sheets:
            name += "_"
        sheets[name] = _table([dict(line) for line in order["lines"]])
    sheets["补货提醒 restock"] = _table([dict(alert) for alert in found["restock"]])
    return write_tables(sheets, path.parent, path.stem, "xlsx")[0]
