"""The `laoke` command: a thin layer over the domain.

Every failure the user can cause prints one line `laoke: ...` on stderr and exits 2 (1 when
what was asked for does not exist); nothing is written on a failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .domain.errors import LaokeError
from .domain.store import Store
from .home import open_store, resolve_demo_home, resolve_home


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


class Obj:
    """What every command gets: the home, opened on first use."""

    def __init__(self, home: str | None) -> None:
        self.home = resolve_home(home)
        self.demo_home = resolve_demo_home(home)
        self._store: Store | None = None

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.home)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


pass_obj = click.make_pass_decorator(Obj)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", metavar="DIR", help="Store home (database, config, spool). "
              "Default: $LAOKE_HOME, else the platform data dir.")
@click.version_option(__version__, "--version", prog_name="laoke")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """老客 laoke — the restaurant CRM that runs on the restaurant's own hardware."""
    ctx.obj = Obj(home)
    ctx.call_on_close(ctx.obj.close)


# -- members ---------------------------------------------------------------------------------

@cli.group()
def member() -> None:
    """Add, find and show guests."""


@member.command("add")
@click.option("--name", required=True, help="The guest's name.")
@click.option("--phone", required=True, help="Mobile number in any common form.")
@click.option("--birthday", metavar="YYYY-MM-DD", help="Birth date.")
@click.option("--allergy", "allergies", multiple=True, help="An allergy (repeatable).")
@click.option("--avoid", multiple=True, help="An ingredient to leave out (repeatable).")
@click.option("--spice", "spice_level", type=click.Choice(["none", "mild", "medium", "hot"]),
              help="Spice level (不辣/微辣/中辣/特辣).")
@click.option("--note", "notes", default="", help="Free-text taste notes.")
@click.option("--seat", "seat_preference", default="", help="Seat preference.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--gender", type=click.Choice(["f", "m", "x"]), help="Gender, if given.")
@click.option("--vip", is_flag=True, help="Mark as VIP.")
@click.option("--referred-by", metavar="ID", help="Member id of who brought them.")
@click.option("--card", metavar="NUMBER", help="Link a member card at once.")
@click.option("--marketing-consent", is_flag=True,
              help="The guest agreed to receive offers (recorded with time and wording).")
@click.option("--json", "as_json", is_flag=True, help="Print the member as JSON.")
@pass_obj
def member_add(obj: Obj, as_json: bool, **fields: Any) -> None:
    """Sign a guest up; prints the new member id."""
    from .domain.members import NewMember, add_member

    fields["allergies"] = list(fields["allergies"])
    fields["avoid"] = list(fields["avoid"])
    fields["tags"] = list(fields["tags"])
    created = add_member(obj.store(), NewMember(**fields), actor="cli")
    if as_json:
        emit_json(created)
    else:
        click.echo(created["id"])


@member.command("find")
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help='Print {"members": [...]}.')
@pass_obj
def member_find(obj: Obj, query: str, limit: int, as_json: bool) -> None:
    """Find guests by phone (any form), phone tail, card number or name."""
    from .domain.members import find_members, member_view

    store = obj.store()
    found = [member_view(store, row) for row in find_members(store, query, limit)]
    if as_json:
        emit_json({"members": found})
        return
    if not found:
        click.echo("no members found", err=True)
    for m in found:
        click.echo(f"{m['id']}  {m['name'] or '(erased)'}  {m['phone'] or ''}  {m['tier_name']}"
                   f"  {m['points_balance']} pts  {m['stored_value_fen'] / 100:.2f} 元")


@member.command("show")
@click.argument("id_or_phone")
@click.option("--json", "as_json", is_flag=True, help="Print the member as JSON.")
@pass_obj
def member_show(obj: Obj, id_or_phone: str, as_json: bool) -> None:
    """One guest by id, phone or card, with points and stored value."""
    from .domain.members import member_view, resolve_member

    store = obj.store()
    shown = member_view(store, resolve_member(store, id_or_phone))
    if as_json:
        emit_json(shown)
        return
    for key in ("id", "name", "phone", "birthday", "tier_name", "points_balance",
                "stored_value_fen", "spice_level", "avoid", "allergies", "notes",
                "seat_preference", "tags", "vip", "marketing_consent", "home_store",
                "created_at"):
        value = shown[key]
        if isinstance(value, list):
            value = ", ".join(value)
        click.echo(f"{key:18} {value if value not in (None, '') else '-'}")
    for card in shown["cards"]:
        click.echo(f"{'card':18} {card['number']} ({card['status']})")


# -- data ------------------------------------------------------------------------------------

@cli.command("export")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write one file per table into.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@pass_obj
def export_cmd(obj: Obj, out: Path, fmt: str) -> None:
    """Write members, visits, orders, lines, ledgers and coupons to CSV or XLSX."""
    from .export import export

    def progress(table: str, done: int, total: int) -> None:
        click.echo(f"\r{table}: {done}/{total}", nl=False, err=True)

    counts = export(obj.store(), out, fmt, actor="cli", progress=progress)
    click.echo("", err=True)
    for table, count in counts.items():
        click.echo(f"{out / (table + '.' + fmt)}  {count} rows")


@cli.command("demo-data")
@click.option("--members", default=2000, show_default=True, type=click.IntRange(1, 5_000_000))
@click.option("--days", default=365, show_default=True, type=click.IntRange(0, 3650))
@click.option("--seed", default=7, show_default=True, type=int)
@pass_obj
def demo_data_cmd(obj: Obj, members: int, days: int, seed: int) -> None:
    """Fill an empty home with a generated store (the one `laoke demo` uses)."""
    from .demo_data import generate

    summary = generate(obj.store(), members=members, days=days, seed=seed)
    click.echo(f"generated {summary.members} members, {summary.visits} visits, "
               f"{summary.orders} orders, {summary.order_lines} order lines "
               f"over {summary.days} days")


@cli.command("segment")
@click.argument("name", type=click.Choice(["lapsed", "birthday"]))
@click.option("--days", type=click.IntRange(0, 3650),
              help="lapsed: no visit in this many days (90); birthday: within this many (7).")
@click.option("--json", "as_json", is_flag=True, help='Print {"count", "member_ids"}.')
@pass_obj
def segment_cmd(obj: Obj, name: str, days: int | None, as_json: bool) -> None:
    """Guests in a segment now: lapsed guests or upcoming birthdays."""
    from .domain.segments import segment

    ids = segment(obj.store(), name, days)
    if as_json:
        emit_json({"count": len(ids), "member_ids": ids})
    else:
        click.echo(f"{len(ids)} members")
        for member_id in ids:
            click.echo(member_id)


@cli.command("demo")
@pass_obj
def demo_cmd(obj: Obj) -> None:
    """The main job on embedded defaults: a generated store and a summary of its day."""
    from .demo import run_demo

    run_demo(obj.demo_home, echo=click.echo)


@cli.command("bench")
@click.option("--members", default=1_000_000, show_default=True,
              type=click.IntRange(1_000, 5_000_000))
@click.option("--json", "as_json", is_flag=True, help='Print {"figures": {...}}.')
def bench_cmd(members: int, as_json: bool) -> None:
    """Run the benchmarks (lookup latency, checkout throughput vs raw sqlite3, size)."""
    from .bench import run_benchmarks

    figures = run_benchmarks(members, log=lambda line: click.echo(line, err=True))
    if as_json:
        emit_json({"figures": figures})
    else:
        for name, value in figures.items():
            click.echo(f"{name:32} {value}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="laoke", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        click.echo(f"laoke: {error.format_message()}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("laoke: aborted", err=True)
        sys.exit(130)
    except LaokeError as error:
        click.echo(f"laoke: {error.message}", err=True)
        sys.exit(1 if error.kind == "not_found" else 2)
