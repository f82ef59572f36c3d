"""Delivery platforms' orders: a back-office file in, the platforms' dish names mapped; group-buy
vouchers by state (the flagged ones the platform refused after they were taken offline)."""

from __future__ import annotations

from pathlib import Path

import click

from . import Obj, cli, emit_json, pass_obj

PLATFORM = click.Choice(["meituan", "eleme"])
MAX_ROWS = 100_000  # a year of a busy shop's delivery lines; a bigger file is a wrong file


@cli.group()
def delivery() -> None:
    """美团外卖 and 饿了么 orders: import a file, map the platforms' dish names to the menu."""


@delivery.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--platform", required=True, type=PLATFORM, help="Whose orders the file holds.")
@pass_obj
def delivery_import(obj: Obj, file: Path, platform: str) -> None:
    """Land the orders of a CSV (UTF-8) or XLSX file, one row per order line: laoke's
    columns, or a platform's export whose headers `[delivery.columns]` maps to them; all rows
    or none, and orders already in (imported or pushed) change nothing."""
    from ..domain.delivery import FILE_COLUMNS, REQUIRED_COLUMNS, import_orders
    from ..sheets import read_sheet

    store = obj.store()
    rows = read_sheet(file, "an order file", REQUIRED_COLUMNS, FILE_COLUMNS, MAX_ROWS,
                      renames=store.settings.delivery.columns)
    done = import_orders(store, platform, rows)
    click.echo(f"{done['added']} orders added, {done['unchanged']} already in, "
               f"{done['ended']} cancelled or refunded, {done['refunded']} part refunded")


@delivery.command("unmapped")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_obj
def delivery_unmapped(obj: Obj, as_json: bool) -> None:
    """The platforms' dish names that are not mapped to the menu yet, most ordered first."""
    from ..domain.delivery import unmapped_dishes

    dishes = unmapped_dishes(obj.store())
    if as_json:
        emit_json(dishes)
        return
    for dish in dishes:
        click.echo(f"{dish['platform']:<8} {dish['orders']:>5}  {dish['name']}")
    if not dishes:
        click.echo("every dish the platforms sent is mapped")


@delivery.command("map")
@click.argument("name")
@click.argument("code")
@click.option("--platform", required=True, type=PLATFORM, help="Whose dish name this is.")
@pass_obj
def delivery_map(obj: Obj, name: str, code: str, platform: str) -> None:
    """The platform's dish NAME is the menu's dish CODE for the orders that land from now on."""
    from ..domain.delivery import map_dish

    map_dish(obj.store(), platform, name, code, actor="cli")
    click.echo(f"{platform} {name} -> {code}")


@delivery.command("join")
@click.argument("platform", type=PLATFORM)
@click.argument("user_id")
@click.argument("member")
@pass_obj
def delivery_join(obj: Obj, platform: str, user_id: str, member: str) -> None:
    """Join the platform's USER_ID to MEMBER (id, phone or card): their orders are the
    member's. Audited; `laoke delivery unjoin` undoes it."""
    from ..domain.delivery import join
    from ..domain.members import resolve_member

    store = obj.store()
    member_id = resolve_member(store, member)["id"]
    join(store, platform, user_id, member_id, actor="cli")
    click.echo(f"{platform} user {user_id} -> member {member_id}")


@delivery.command("unjoin")
@click.argument("platform", type=PLATFORM)
@click.argument("user_id")
@pass_obj
def delivery_unjoin(obj: Obj, platform: str, user_id: str) -> None:
    """Undo a join: the platform's USER_ID is nobody's again. Audited."""
    from ..domain.delivery import unjoin
    from ..domain.errors import NotFound

    if not unjoin(obj.store(), platform, user_id, actor="cli"):
        raise NotFound(f"{platform} user {user_id} is joined to nobody")
    click.echo(f"{platform} user {user_id} joined to nobody")


@delivery.command("vouchers")
@click.option("--state", type=click.Choice(["flagged", "refused", "pending", "consumed",
                                            "reversed"]),
              default="flagged", show_default=True,
              help="flagged: taken offline, refused by the platform and not settled yet "
              "(chase the guest; settle on the console's F6); refused: all it refused.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_obj
def delivery_vouchers(obj: Obj, state: str, as_json: bool) -> None:
    """Group-buy vouchers (团购券) by state: the flagged ones by default."""
    from ..domain.groupbuy import vouchers

    found = vouchers(obj.store(), state=state)
    if as_json:
        emit_json(found)
        return
    for one in found:
        click.echo(f"{one['created_at']}  {one['code']}  {one['tender_fen'] / 100:>8.2f}  "
                   f"order {one['order_id']}  {one['refusal'] or one['deal_title'] or ''}")
    if not found:
        click.echo(f"no {state} vouchers")
