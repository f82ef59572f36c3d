"""Ingredients: recipes, the stock ledger, its variance, and the purchase list."""

from __future__ import annotations

from pathlib import Path

import click

from . import Obj, cli, emit_json, pass_obj
from .reports import days

JSON_HELP = "Print the answer as JSON."

RECIPE_ROWS = 50_000  # 500 dishes of up to 100 ingredients; more is a wrong file


@cli.group()
def stock() -> None:
    """Ingredients: recipes, deliveries, waste, counts, levels, variance and what to buy."""


@stock.group()
def recipes() -> None:
    """Which ingredients each dish uses, per portion."""


@recipes.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_obj
def recipes_import(obj: Obj, file: Path) -> None:
    """Recipes from a CSV (UTF-8) or XLSX file with the columns code, ingredient, qty (per
    portion), unit, and optionally supplier, pack_qty, delivery_weekdays (1-7); all rows or
    none. Each dish the file names gets exactly the ingredients it lists."""
    from ..domain.stock import INGREDIENT_COLUMNS, RECIPE_COLUMNS, import_recipes
    from ..sheets import read_sheet

    rows = read_sheet(file, "a recipe file", RECIPE_COLUMNS,
                      {*RECIPE_COLUMNS, *INGREDIENT_COLUMNS}, RECIPE_ROWS)
    done = import_recipes(obj.store(), rows, actor="cli")
    click.echo(f"{done.changed} recipes changed, {done.unchanged} unchanged, "
               f"{done.ingredients} ingredients")


def _entry(name: str, kind: str, help_text: str) -> None:
    @stock.command(name, help=help_text)
    @click.argument("ingredient")
    @click.argument("qty")
    @click.option("--note", default="", help="Who delivered, why thrown away...")
    @click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
    @pass_obj
    def command(obj: Obj, ingredient: str, qty: str, note: str, as_json: bool) -> None:
        from ..domain.stock import record

        entry = record(obj.store(), ingredient, kind, qty, actor="cli", note=note)
        if as_json:
            emit_json(entry)
        else:
            click.echo(f"{entry['ingredient']}: {name} {entry['qty']:g} {entry['unit']}")


_entry("receive", "received", "A delivery received: QTY in the ingredient's unit.")
_entry("waste", "waste", "Thrown away (spoilt, dropped): QTY in the ingredient's unit.")
_entry("count", "count", "What a count found there (0 too); the levels start again from it.")


@stock.command("levels")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_obj
def stock_levels(obj: Obj, as_json: bool) -> None:
    """On hand now: the last count, plus received, minus waste and what paid orders used."""
    from ..domain.stock import levels

    found = levels(obj.store())
    if as_json:
        emit_json({"levels": found})
        return
    for level in found:
        click.echo(f"{level['ingredient']:12} {level['on_hand']:>10g} {level['unit']:4} "
                   f"{level['supplier'] or ''}")


@stock.command("variance")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: 29 days "
              "before --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (default: today).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_obj
def stock_variance(obj: Obj, start: str | None, end: str | None, as_json: bool) -> None:
    """Each count in the days against opening + received - used - waste since the count
    before it (盘点差异)."""
    from ..domain.reports.period import Period
    from ..domain.stock import variance

    found = variance(obj.store(), Period(obj.store(), *days(start, end)))
    if as_json:
        emit_json({"variance": found})
        return
    for row in found:
        click.echo(f"{row['counted_at'][:16]} {row['ingredient']:12} expected "
                   f"{row['expected']:g} counted {row['counted']:g} {row['unit']}: "
                   f"{row['variance']:+g}")


@stock.command("purchase")
@click.option("--days", "ahead", type=click.IntRange(1, 28), default=7, show_default=True,
              help="Buy for this many days ahead.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write it as XLSX: a sheet per supplier and the restock alerts.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@pass_obj
def stock_purchase(obj: Obj, ahead: int, out: Path | None, as_json: bool) -> None:
    """What to buy per supplier (forecast dishes x recipes - on hand, in whole packs), and
    what runs out before its supplier next delivers (补货提醒)."""
    from ..domain.stock import purchase

    found = purchase(obj.store(), ahead)
    if out is not None:
        from ..report_files import write_purchase

        click.echo(write_purchase(found, out), err=as_json)
    if as_json:
        emit_json(found)
        return
    click.echo(f"{found['first_day']} .. {found['last_day']}")
    for order in found["suppliers"]:
        click.echo(order["supplier"] or "未指定供应商 (no supplier)")
        for line in order["lines"]:
            packs = "" if line["packs"] is None else f"  ({line['packs']} x {line['pack_qty']:g})"
            click.echo(f"  {line['ingredient']:12} buy {line['buy']:g} {line['unit']}{packs}")
    for alert in found["restock"]:
        click.echo(f"补货 restock: {alert['ingredient']} runs out {alert['runs_out_on']}, "
                   f"before {alert['supplier']} delivers {alert['next_delivery']}")
