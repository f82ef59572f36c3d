"""Reports over a date range."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..domain.report_names import REPORT_NAMES
from . import Obj, cli, emit_json, pass_obj

if TYPE_CHECKING:  # the queries load only when a report is asked for
    from ..domain.reports import Report


@cli.command("report")
@click.argument("name", type=click.Choice(REPORT_NAMES))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: 29 days "
              "before --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--weather", type=float, metavar="FACTOR",
              help="forecast: scale for the weather ahead (0.85 for rain).")
@click.option("--category", metavar="NAME",
              help="dish_mix: only this menu category (e.g. 儿童餐, 汤).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write its tables and chart (PNG) into this folder (audited).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True, help="With --out: the tables' format.")
@pass_obj
def report_cmd(obj: Obj, name: str, start: str | None, end: str | None, as_json: bool,
               weather: float | None, category: str | None, out: Path | None,
               fmt: str) -> None:
    """A report over a date range (store-local days)."""
    from ..domain.reports import report

    first, last = days(start, end)
    result = report(obj.store(), name, first, last, weather, category)
    if out is not None:
        from ..report_files import export_report

        for path in export_report(obj.store(), result, out, fmt, actor="cli"):
            click.echo(path, err=as_json)
    show_report(result, as_json)


def show_report(result: Report, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['report']}  {result['period']['from']} .. {result['period']['to']}")
    for key, value in result.items():
        if key in ("report", "period"):
            continue
        if isinstance(value, list):
            for row in value:
                click.echo("  " + ("  ".join(f"{k}={v}" for k, v in row.items())
                                   if isinstance(row, dict) else str(row)))
        elif isinstance(value, dict):
            click.echo(f"  {key}: " + "  ".join(f"{k}={v}" for k, v in value.items()))
        else:
            click.echo(f"  {key}: {value}")


def days(start: str | None, end: str | None) -> tuple[Any, Any]:
    from ..domain.reports import parse_range

    return parse_range(start, end, ("--from", "--to"))


@cli.group("weather")
def weather_group() -> None:
    """The weather the forecast learns from ([weather] latitude/longitude in laoke.toml)."""


@weather_group.command("fetch")
@click.option("--json", "as_json", is_flag=True, help="Print what was cached as JSON.")
@pass_obj
def weather_fetch(obj: Obj, as_json: bool) -> None:
    """Fetch the history the forecast needs and the week ahead into the home's cache (the
    running hub does this by itself every [weather] refresh_hours)."""
    from ..weather import fetch_weather

    done = fetch_weather(obj.store())
    if as_json:
        emit_json({"observed": done.observed, "forecast": done.forecast, "source": done.source})
    else:
        click.echo(f"{done.source}: {done.observed} days observed, {done.forecast} ahead")
