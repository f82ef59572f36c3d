"""The store's data as files: export, backup and restore, demo data, segments."""

from __future__ import annotations

from pathlib import Path

import click

from . import Obj, cli, emit_json, json_arg, pass_obj


@cli.command("export")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write one file per table into.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@pass_obj
def export_cmd(obj: Obj, out: Path, fmt: str) -> None:
    """Write members, visits, orders, lines, ledgers and coupons to CSV or XLSX; at an HQ
    home, every store's, in the same files and columns."""
    from sync.chain import chain_books, is_hq_home

    from ..export import export

    def progress(table: str, done: int, total: int) -> None:
        filled = 30 * done // total if total else 30
        click.echo(f"\r{table:<20} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}",
                   nl=False, err=True)

    if is_hq_home(obj.home):
        with chain_books(obj.home) as chain:
            counts = export(chain, out, fmt, actor="cli", progress=progress)
    else:
        counts = export(obj.store(), out, fmt, actor="cli", progress=progress)
    click.echo("", err=True)
    for table, count in counts.items():
        click.echo(f"{out / (table + '.' + fmt)}  {count} rows")


@cli.command("backup")
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the backup into (default: [backup] dir).")
@click.option("--keep", type=click.IntRange(1, 365), help="Backups to keep there "
              "(default: [backup] keep, 7).")
@pass_obj
def backup_cmd(obj: Obj, folder: Path | None, keep: int | None) -> None:
    """Copy the store's database to a folder (a USB stick) while the hub runs, verified;
    prints the backup's path. With [backup] dir set the hub does this every night."""
    from ..backup import backup
    from ..domain.errors import InvalidInput

    store = obj.store()
    target = folder or (Path(store.settings.backup.dir) if store.settings.backup.dir else None)
    if target is None:
        raise InvalidInput("where to? --to DIR, or [backup] dir in laoke.toml")
    click.echo(backup(store, target, keep or store.settings.backup.keep))


@cli.command("restore")
@click.option("--from-backup", "file", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A backup made by laoke backup.")
@click.option("--key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The key the backup was made with (the old hub's laoke.key), when it is "
                   "not this home's.")
@pass_obj
def restore_cmd(obj: Obj, file: Path, key_file: Path | None) -> None:
    """Make a backup this home's database again, with the hub stopped (a store in a chain
    is rebuilt from HQ instead: laoke hub restore --from-hq)."""
    from ..backup import restore_backup
    from ..domain.config import load_settings
    from ..home import ensure_home, read_key
    from ..hublock import hub_stopped

    with hub_stopped(obj.home):
        ensure_home(obj.home)
        emit_json(restore_backup(obj.home, load_settings(obj.home), file,
                                 read_key(key_file) if key_file else None))


@cli.command("demo-data")
@click.option("--members", default=2000, show_default=True, type=click.IntRange(1, 5_000_000))
@click.option("--days", default=365, show_default=True, type=click.IntRange(0, 3650))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--weather", type=click.Choice(["off", "on", "effect"]), default="off",
              show_default=True, help="on: also cache a generated weather; effect: and make "
              "trade follow it by a known effect (rain and cold), for the forecast to find.")
@click.option("--season", is_flag=True, help="a store by a university, its guests away in "
              "the winter and summer breaks: a known season for the forecast to find.")
@pass_obj
def demo_data_cmd(obj: Obj, members: int, days: int, seed: int, weather: str,
                  season: bool) -> None:
    """Fill an empty home with a generated store (the one `laoke demo` uses)."""
    from ..demo_data import generate

    summary = generate(obj.store(), members=members, days=days, seed=seed,
                       weather=weather != "off", weather_effect=weather == "effect",
                       season=season)
    click.echo(f"generated {summary.members} members, {summary.visits} visits, "
               f"{summary.orders} orders, {summary.order_lines} order lines "
               f"over {summary.days} days")


@cli.command("segment")
@click.argument("name", type=click.Choice(["lapsed", "birthday", "first-visit", "delivery-only",
                                           "moved-to-delivery", "rules"]))
@click.option("--days", type=click.IntRange(0, 3650),
              help="lapsed: no visit in this many days (90); birthday: within this many (7); "
              "moved-to-delivery: mostly delivery in this many, mostly dine-in in as many "
              "before (30).")
@click.option("--rules", metavar="JSON", help='With NAME "rules": audience rules, e.g. '
              '\'{"lapsed_days": 60, "tiers": ["gold"], "taste": "微辣"}\'.')
@click.option("--json", "as_json", is_flag=True, help='Print {"count", "member_ids"}.')
@pass_obj
def segment_cmd(obj: Obj, name: str, days: int | None, rules: str | None,
                as_json: bool) -> None:
    """Guests in a segment now: lapsed, birthdays, first-visit or delivery-only guests, those
    who moved from the table to delivery, or any audience rules."""
    from ..domain.audience import pick
    from ..domain.errors import InvalidInput
    from ..domain.segments import segment

    if (name == "rules") != (rules is not None):
        raise InvalidInput('--rules goes with the segment name "rules", and only with it')
    if rules is not None:
        ids = [p.member_id for p in pick(obj.store(), json_arg(rules, "--rules"))]
    else:
        ids = segment(obj.store(), name, days)
    if as_json:
        emit_json({"count": len(ids), "member_ids": ids})
    else:
        click.echo(f"{len(ids)} members")
        for member_id in ids:
            click.echo(member_id)
