"""The menu the till prices from."""

from __future__ import annotations

from pathlib import Path

import click

from ..domain.money import yuan
from . import Obj, cli, emit_json, pass_obj


@cli.group()
def menu() -> None:
    """The menu the till prices from: import, export, sold out, old prices kept."""


@menu.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_obj
def menu_import(obj: Obj, file: Path) -> None:
    """Add or update dishes from a CSV (UTF-8) or XLSX file, with their recipes when it has
    the columns ingredient, qty, unit (a dish's further ingredients on rows of only code and
    those); all rows or none."""
    from ..domain.stock import import_menu_file
    from ..menu_files import read_rows

    done = import_menu_file(obj.store(), read_rows(file), actor="cli")
    click.echo(f"{done.dishes.added} added, {done.dishes.updated} updated, "
               f"{done.dishes.unchanged} unchanged")
    if done.recipes is not None:
        click.echo(f"{done.recipes.changed} recipes changed, {done.recipes.unchanged} "
                   f"unchanged, {done.recipes.ingredients} ingredients")


@menu.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write: .csv or .xlsx.")
@pass_obj
def menu_export(obj: Obj, out: Path) -> None:
    """Write the menu in the columns `laoke menu import` reads."""
    from ..menu_files import write_menu

    click.echo(f"{write_menu(obj.store(), out)} dishes written to {out}")


@menu.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"dishes": [...]}.')
@pass_obj
def menu_list(obj: Obj, as_json: bool) -> None:
    """Every dish with its prices and whether it is available today."""
    from ..domain.menu import menu as dishes

    found = dishes(obj.store())
    if as_json:
        emit_json({"dishes": found})
        return
    for dish in found:
        member = "" if dish["member_price_fen"] is None else \
            f"  会员 {yuan(dish['member_price_fen'])}"
        flags = ("  仅会员" if dish["members_only"] else "") + \
            ("" if dish["available"] else "  今日售罄") + \
            (f"  剩{dish['portions_left']}份" if dish["available"]
             and dish["portions_left"] is not None else "")
        click.echo(f"{dish['code']:10} {dish['category']:8} {dish['name']:16} "
                   f"{yuan(dish['price_fen'])}{member}{flags}")


@menu.command("combo")
@click.argument("name")
@click.option("--part", "parts", multiple=True, required=True, metavar="CODE|category:NAME",
              help="A dish code, or any dish of a category (repeat: 2 to 6 parts).")
@click.option("--off-fen", required=True, type=click.IntRange(1), help="What the set takes off.")
@click.option("--off", "inactive", is_flag=True, help="Keep it, switched off.")
@pass_obj
def menu_combo(obj: Obj, name: str, parts: tuple[str, ...], off_fen: int, inactive: bool) -> None:
    """A combo: these together, this much off (主食+汤品组合立减10元)."""
    from ..domain.menu import save_combo

    combo = save_combo(obj.store(), name, list(parts), off_fen, actor="cli", active=not inactive)
    click.echo(f"{combo['name']}: {' + '.join(combo['parts'])} -{combo['off_fen']} fen")


@menu.command("sold-out")
@click.argument("code")
@click.option("--back", is_flag=True, help="On the menu again today.")
@pass_obj
def menu_sold_out(obj: Obj, code: str, back: bool) -> None:
    """Sold out for the rest of today (back by itself tomorrow)."""
    from ..domain.menu import set_sold_out

    dish = set_sold_out(obj.store(), code, not back, actor="cli")
    click.echo(f"{dish['name']}: {'available' if dish['available'] else 'sold out today'}")


@menu.command("portions")
@click.argument("code")
@click.argument("left", required=False, type=click.IntRange(0, 100_000))
@pass_obj
def menu_portions(obj: Obj, code: str, left: int | None) -> None:
    """Portions left today (沽清/限量份数); without LEFT, no count. Each order draws it down,
    at zero the dish is sold out, and the count is gone when the next day starts."""
    from ..domain.menu import set_portions

    dish = set_portions(obj.store(), code, left, actor="cli")
    click.echo(f"{dish['name']}: " + ("no count" if dish["portions_left"] is None
                                      else f"{dish['portions_left']} left today"))


@menu.command("retire")
@click.argument("code")
@pass_obj
def menu_retire(obj: Obj, code: str) -> None:
    """Take a dish off the menu for good (saving or importing it again brings it back)."""
    from ..domain.menu import retire_dish

    click.echo(f"{retire_dish(obj.store(), code, actor='cli')['name']}: off the menu")


@menu.command("keep-price")
@click.argument("code")
@click.option("--member", "member_id", metavar="ID", help="The guest who keeps the price.")
@click.option("--tier", help="Or every guest of this tier.")
@click.option("--tag", help="Or every guest with this member tag (老会员).")
@click.option("--until", required=True, metavar="YYYY-MM-DD", help="Last day it holds.")
@click.option("--price-fen", type=click.IntRange(0), help="Default: the price before the last "
              "change.")
@pass_obj
def menu_keep_price(obj: Obj, code: str, member_id: str | None, tier: str | None,
                    tag: str | None, until: str, price_fen: int | None) -> None:
    """Keep an old price for a regular (or a tier, or a member tag) until a date: 对老会员保留原价.

    A guest pays the lowest price they are entitled to: the member price or any price kept
    for them, their tier or one of their tags."""
    from ..domain.clock import parse_day
    from ..domain.menu import keep_price

    try:
        day = parse_day(until, "--until")
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    hold = keep_price(obj.store(), code, day.isoformat(), "cli", member_id=member_id,
                      tier=tier, tag=tag, price_fen=price_fen)
    click.echo(f"{code} at {hold['price_fen']} fen until {hold['until']}")
