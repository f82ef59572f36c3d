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
from .domain.money import yuan
from .domain.report_names import REPORT_NAMES
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
@click.option("--email", help="E-mail address (for campaign e-mail).")
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
                   f"  {m['points_balance']} pts  {yuan(m['stored_value_fen'], ' 元')}")


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
        filled = 30 * done // total if total else 30
        click.echo(f"\r{table:<20} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}",
                   nl=False, err=True)

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
    from .backup import backup
    from .domain.errors import InvalidInput

    store = obj.store()
    target = folder or (Path(store.settings.backup.dir) if store.settings.backup.dir else None)
    if target is None:
        raise InvalidInput("where to? --to DIR, or [backup] dir in laoke.toml")
    click.echo(backup(store, target, keep or store.settings.backup.keep))


@cli.command("restore")
@click.option("--from-backup", "file", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A backup made by laoke backup.")
@pass_obj
def restore_cmd(obj: Obj, file: Path) -> None:
    """Make a backup this home's database again, with the hub stopped (a store in a chain
    is rebuilt from HQ instead: laoke hub restore --from-hq)."""
    from .backup import restore_backup
    from .domain.config import load_settings
    from .domain.errors import InvalidInput
    from .home import ensure_home
    from .hublock import HubAlreadyRunning, hold

    obj.home.mkdir(parents=True, exist_ok=True)
    try:
        lock = hold(obj.home)
    except HubAlreadyRunning as error:
        raise InvalidInput(f"{error}: stop it first") from None
    try:
        ensure_home(obj.home)
        emit_json(restore_backup(obj.home, load_settings(obj.home), file))
    finally:
        lock.close()


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


def _json_arg(text: str, what: str) -> Any:
    from .domain.errors import InvalidInput

    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"{what} is not valid JSON: {error}") from None


@cli.command("segment")
@click.argument("name", type=click.Choice(["lapsed", "birthday", "first-visit", "delivery-only",
                                           "rules"]))
@click.option("--days", type=click.IntRange(0, 3650),
              help="lapsed: no visit in this many days (90); birthday: within this many (7).")
@click.option("--rules", metavar="JSON", help='With NAME "rules": audience rules, e.g. '
              '\'{"lapsed_days": 60, "tiers": ["gold"], "taste": "微辣"}\'.')
@click.option("--json", "as_json", is_flag=True, help='Print {"count", "member_ids"}.')
@pass_obj
def segment_cmd(obj: Obj, name: str, days: int | None, rules: str | None,
                as_json: bool) -> None:
    """Guests in a segment now: lapsed, birthdays, first-visit or delivery-only guests, or
    any audience rules."""
    from .domain.audience import pick
    from .domain.errors import InvalidInput
    from .domain.segments import segment

    if (name == "rules") != (rules is not None):
        raise InvalidInput('--rules goes with the segment name "rules", and only with it')
    if rules is not None:
        ids = [p.member_id for p in pick(obj.store(), _json_arg(rules, "--rules"))]
    else:
        ids = segment(obj.store(), name, days)
    if as_json:
        emit_json({"count": len(ids), "member_ids": ids})
    else:
        click.echo(f"{len(ids)} members")
        for member_id in ids:
            click.echo(member_id)


# -- the menu --------------------------------------------------------------------------------

@cli.group()
def menu() -> None:
    """The menu the till prices from: import, export, sold out, old prices kept."""


@menu.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_obj
def menu_import(obj: Obj, file: Path) -> None:
    """Add or update dishes from a CSV (UTF-8) or XLSX file; all rows or none."""
    from .domain.menu import import_menu
    from .menu_files import read_rows

    done = import_menu(obj.store(), read_rows(file), actor="cli")
    click.echo(f"{done.added} added, {done.updated} updated, {done.unchanged} unchanged")


@menu.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write: .csv or .xlsx.")
@pass_obj
def menu_export(obj: Obj, out: Path) -> None:
    """Write the menu in the columns `laoke menu import` reads."""
    from .menu_files import write_menu

    click.echo(f"{write_menu(obj.store(), out)} dishes written to {out}")


@menu.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"dishes": [...]}.')
@pass_obj
def menu_list(obj: Obj, as_json: bool) -> None:
    """Every dish with its prices and whether it is available today."""
    from .domain.menu import menu as dishes
    from .domain.money import yuan

    found = dishes(obj.store())
    if as_json:
        emit_json({"dishes": found})
        return
    for dish in found:
        member = "" if dish["member_price_fen"] is None else \
            f"  会员 {yuan(dish['member_price_fen'])}"
        flags = ("  仅会员" if dish["members_only"] else "") + \
            ("" if dish["available"] else "  今日售罄")
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
    from .domain.menu import save_combo

    combo = save_combo(obj.store(), name, list(parts), off_fen, actor="cli", active=not inactive)
    click.echo(f"{combo['name']}: {' + '.join(combo['parts'])} -{combo['off_fen']} fen")


@menu.command("sold-out")
@click.argument("code")
@click.option("--back", is_flag=True, help="On the menu again today.")
@pass_obj
def menu_sold_out(obj: Obj, code: str, back: bool) -> None:
    """Sold out for the rest of today (back by itself tomorrow)."""
    from .domain.menu import set_sold_out

    dish = set_sold_out(obj.store(), code, not back, actor="cli")
    click.echo(f"{dish['name']}: {'available' if dish['available'] else 'sold out today'}")


@menu.command("keep-price")
@click.argument("code")
@click.option("--member", "member_id", metavar="ID", help="The guest who keeps the price.")
@click.option("--tier", help="Or every guest of this tier.")
@click.option("--until", required=True, metavar="YYYY-MM-DD", help="Last day it holds.")
@click.option("--price-fen", type=click.IntRange(0), help="Default: the price before the last "
              "change.")
@pass_obj
def menu_keep_price(obj: Obj, code: str, member_id: str | None, tier: str | None, until: str,
                    price_fen: int | None) -> None:
    """Keep an old price for a regular (or a tier) until a date: 对老会员保留原价."""
    from .domain.clock import parse_day
    from .domain.menu import keep_price

    try:
        day = parse_day(until, "--until")
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    hold = keep_price(obj.store(), code, day.isoformat(), "cli", member_id=member_id,
                      tier=tier, price_fen=price_fen)
    click.echo(f"{code} at {hold['price_fen']} fen until {hold['until']}")


# -- campaigns -------------------------------------------------------------------------------

@cli.group()
def campaign() -> None:
    """Win guests back: list, make, switch on, run campaigns and see their results."""


def _campaign_store(obj: Obj) -> Store:
    from .domain.campaigns import install_builtins

    store = obj.store()
    install_builtins(store)
    return store


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"campaigns": [...]}.')
@pass_obj
def campaign_list(obj: Obj, as_json: bool) -> None:
    """Every campaign, the active ones first."""
    from .domain.campaigns import list_campaigns

    found = list_campaigns(_campaign_store(obj))
    if as_json:
        emit_json({"campaigns": found})
        return
    for c in found:
        state = "on " if c["active"] else "off"
        click.echo(f"{state} {c['id']}  {c['kind']:<12} {c['schedule']['run']:<8} {c['name']}")


@campaign.command("create")
@click.argument("spec", metavar="JSON")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign as JSON.")
@pass_obj
def campaign_create(obj: Obj, spec: str, as_json: bool) -> None:
    """Make a campaign from a JSON spec (name, kind, audience, offer, message_zh, message_en,
    channels, schedule, control_pct, active); prints its id."""
    from .domain.campaigns import create_campaign

    made = create_campaign(_campaign_store(obj), _json_arg(spec, "the campaign"), actor="cli")
    emit_json(made) if as_json else click.echo(made["id"])


@campaign.command("set")
@click.argument("campaign_id")
@click.argument("changes", metavar="JSON")
@pass_obj
def campaign_set(obj: Obj, campaign_id: str, changes: str) -> None:
    """Change a campaign, e.g. '{"active": true}' or '{"control_pct": 20}'."""
    from .domain.campaigns import update_campaign

    emit_json(update_campaign(_campaign_store(obj), campaign_id,
                              _json_arg(changes, "the changes"), actor="cli"))


@campaign.command("run")
@click.argument("campaign_id")
@pass_obj
def campaign_run(obj: Obj, campaign_id: str) -> None:
    """Pick the audience and act now; the running hub sends the messages."""
    from .domain.campaigns import run_campaign

    emit_json(run_campaign(_campaign_store(obj), campaign_id, actor="cli"))


@campaign.command("results")
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_obj
def campaign_results_cmd(obj: Obj, campaign_id: str, as_json: bool) -> None:
    """Treated against control: messages, coupons redeemed, guests back, spend, lift."""
    from .domain.campaigns import campaign_results

    result = campaign_results(_campaign_store(obj), campaign_id)
    if as_json:
        emit_json(result)
        return
    click.echo(result["campaign"]["name"])
    m = result["messages"]
    click.echo(f"messages: {m['sent_total']} sent ({m['delivered']} delivered), "
               f"{m['failed']} failed, {m['skipped']} skipped, {m['queued']} waiting")
    for arm, figures in result["arms"].items():
        click.echo(f"{arm:<8} {figures['guests']} guests, {figures['coupons_redeemed']}/"
                   f"{figures['coupons_issued']} coupons used, {figures['returned']} back "
                   f"({figures['return_rate']:.1%}), spent {yuan(figures['spend_fen'], ' 元')}")
    if result["lift"]:
        click.echo(f"lift: {result['lift']['return_rate_pts']:+.2f} points of return rate, "
                   f"{yuan(result['lift']['spend_per_guest_fen'], ' 元', sign=True)} per guest")


@cli.command("report")
@click.argument("name", type=click.Choice(REPORT_NAMES))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (default: 29 days "
              "before --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--weather", type=float, metavar="FACTOR",
              help="forecast: scale for the weather ahead (0.85 for rain).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also write its tables and chart (PNG) into this folder (audited).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True, help="With --out: the tables' format.")
@pass_obj
def report_cmd(obj: Obj, name: str, start: str | None, end: str | None, as_json: bool,
               weather: float | None, out: Path | None, fmt: str) -> None:
    """A report over a date range (store-local days)."""
    from .domain.reports import report

    first, last = _days(start, end)
    result = report(obj.store(), name, first, last, weather)
    if out is not None:
        from .report_files import export_report

        for path in export_report(obj.store(), result, out, fmt, actor="cli"):
            click.echo(path, err=as_json)
    _show_report(result, as_json)


def _show_report(result: dict[str, Any], as_json: bool) -> None:
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


def _days(start: str | None, end: str | None) -> tuple[Any, Any]:
    from .domain.reports import parse_range

    return parse_range(start, end, ("--from", "--to"))


@cli.command("demo")
@click.option("--summary", is_flag=True,
              help="Print the day's figures instead of opening the console.")
@pass_obj
def demo_cmd(obj: Obj, summary: bool) -> None:
    """The main job on embedded defaults: a generated store served by a hub, a virtual
    printer and a simulated card reader, with the staff console open on them."""
    from .demo import run_demo

    interactive = not summary and sys.stdin.isatty() and sys.stdout.isatty()
    run_demo(obj.demo_home, echo=click.echo, interactive=interactive)


@cli.command("console")
@click.option("--hub", "hub_url", metavar="URL", help="The hub (default: this home's hub, "
              "else the one zeroconf finds on the LAN).")
@click.option("--token", help="A device token (default: this home's console credential).")
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), help="Default: from the locale.")
@pass_obj
def console_cmd(obj: Obj, hub_url: str | None, token: str | None, lang: str | None) -> None:
    """The staff console (Textual): dashboard, members, checkout, lists, devices."""
    from kiosk.client import HubClient, HubError
    from kiosk.console import run_console

    from .domain.config import load_settings
    from .hublock import running_hub_url
    from .runtime import CONSOLE_TOKEN

    timezone = "Asia/Shanghai"
    local_url = running_hub_url(obj.home) if (obj.home / CONSOLE_TOKEN).exists() else None
    local = local_url is not None
    if hub_url is None and local_url is not None:
        hub_url, timezone = local_url, load_settings(obj.home).timezone
    if hub_url is None:
        from .discovery import find_hubs

        found = find_hubs(timeout=3)
        if not found:
            raise click.ClickException("no hub found: start `laoke hub run`, or pass --hub URL")
        hub_url = found[0]["url"]
    if token is None:
        if not local:
            raise click.ClickException("pass --token (from `laoke device add NAME --role "
                                       "manager` on the hub)")
        token = (obj.home / CONSOLE_TOKEN).read_text().strip()
    client = HubClient(hub_url, token)
    try:
        client.health()
    except HubError as error:
        raise click.ClickException(error.message) from None
    run_console(client, language=lang, timezone=timezone)


@cli.command("bench")
@click.option("--members", default=1_000_000, show_default=True,
              type=click.IntRange(1_000, 5_000_000))
@click.option("--json", "as_json", is_flag=True, help='Print {"figures": {...}}.')
@click.option("--quick", is_flag=True, help="Shorter load phases (a smoke run, not figures).")
def bench_cmd(members: int, as_json: bool, quick: bool) -> None:
    """Run the benchmarks: lookups, checkout vs raw sqlite3, HTTP check-in, memory, size."""
    from .bench import run_benchmarks

    figures = run_benchmarks(members, log=lambda line: click.echo(line, err=True), quick=quick)
    if as_json:
        emit_json({"figures": figures})
    else:
        for name, value in figures.items():
            click.echo(f"{name:32} {value}")


# -- the hub daemon, devices and staff ----------------------------------------------------------

@cli.group()
def hub() -> None:
    """The store hub daemon."""


@hub.command("restore")
@click.option("--from-hq", "from_hq", is_flag=True, required=True,
              help="Rebuild this store from what HQ holds of it.")
@click.option("--store-id", required=True, help="The store being replaced.")
@click.option("--broker", metavar="URL", help="HQ's broker (else [broker] url in the home).")
@click.option("--username", help="This store's broker user (else the home's).")
@click.option("--password", envvar="LAOKE_BROKER_PASSWORD", help="Or $LAOKE_BROKER_PASSWORD.")
@click.option("--chain-key", envvar="LAOKE_CHAIN_KEY",
              help="The chain's key (or $LAOKE_CHAIN_KEY), for a home made fresh here.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30, show_default=True,
              help="Seconds to wait for each page from HQ.")
@pass_obj
def hub_restore(obj: Obj, from_hq: bool, store_id: str, broker: str | None,
                username: str | None, password: str | None, chain_key: str | None,
                timeout: float) -> None:
    """A replacement hub: fill this (new) home with the store's books as HQ applied them,
    and carry on numbering where HQ's watermark says."""
    from sync.restore import restore_from_hq

    from .backup import install_database
    from .domain.config import CONFIG_NAME, load_settings, new_settings, write_settings
    from .domain.errors import InvalidInput
    from .domain.restore import check_empty
    from .home import DB_NAME

    home = obj.home
    home.mkdir(parents=True, exist_ok=True)
    if (home / CONFIG_NAME).exists():
        settings = load_settings(home)
        if settings.store_id != store_id:
            raise InvalidInput(f"{home} belongs to store {settings.store_id!r}, not {store_id!r}")
    else:
        if not chain_key:
            raise InvalidInput("a fresh home needs the chain's key: --chain-key or "
                               "$LAOKE_CHAIN_KEY")
        settings = new_settings(store_id)
        settings.chain.key = chain_key
    for key, value in (("url", broker), ("username", username), ("password", password)):
        if value is not None:
            setattr(settings.broker, key, value)
    if (home / DB_NAME).exists():
        with Store(home / DB_NAME, settings) as existing:
            check_empty(existing)
    # Built aside and moved in whole: a restore cut short leaves the home as it was.
    building = home / (DB_NAME + ".restoring")
    for leftover in home.glob(building.name + "*"):
        leftover.unlink()
    with Store(building, settings) as store:
        done = restore_from_hq(store, timeout, progress=lambda seq, of: click.echo(
            f"\rrestored {seq}/{of} events", nl=False, err=True))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    install_database(home, building)
    write_settings(home, settings)
    click.echo("", err=True)
    emit_json(done)


def _reader(text: str) -> dict[str, str]:
    protocol, sep, url = text.partition("=")
    if not sep or not url:
        raise click.BadParameter(f"{text!r} is not PROTOCOL=URL (e.g. rdm6300=/dev/ttyUSB0)")
    return {"protocol": protocol, "url": url}


@hub.command("run")
@click.option("--port", type=click.IntRange(1, 65535), help="HTTP port (config: [api] port).")
@click.option("--host", help="Address to listen on (config: [api] host).")
@click.option("--broker", metavar="URL", help="HQ's MQTT broker (config: [broker] url).")
@click.option("--store-id", metavar="ID", help="This store's id, for a new home.")
@click.option("--printer", "printers", multiple=True, metavar="URL",
              help="A receipt printer URL (repeatable).")
@click.option("--reader", "readers", multiple=True, metavar="PROTOCOL=URL",
              help="A card reader or scanner (repeatable), e.g. rdm6300=/dev/ttyUSB0.")
@click.option("--discovery-interfaces", metavar="ADDRS",
              help='zeroconf on these addresses ("all", or e.g. 127.0.0.1).')
@click.option("--no-discovery", is_flag=True, help="Do not announce or browse with zeroconf.")
@pass_obj
def hub_run(obj: Obj, port: int | None, host: str | None, broker: str | None,
            store_id: str | None, printers: tuple[str, ...], readers: tuple[str, ...],
            discovery_interfaces: str | None, no_discovery: bool) -> None:
    """Serve the store: HTTP API, event stream, pairing and zeroconf, until SIGTERM."""
    from .daemon import run_hub

    api = {k: v for k, v in (("port", port), ("host", host)) if v is not None}
    overrides: dict[str, Any] = {"api": api} if api else {}
    if store_id:
        overrides["store_id"] = store_id
    if broker:
        overrides["broker"] = {"url": broker}
    if printers:
        overrides["printers"] = [{"name": f"printer{n}", "url": url}
                                 for n, url in enumerate(printers, 1)]
    if readers:
        overrides["readers"] = [_reader(text) for text in readers]
    discovery: dict[str, Any] = {}
    if discovery_interfaces:
        discovery["interfaces"] = discovery_interfaces
    if no_discovery:
        discovery["enabled"] = False
    if discovery:
        overrides["discovery"] = discovery
    run_hub(obj.home, overrides, echo=lambda line: click.echo(line, err=True))


@cli.group()
def device() -> None:
    """Tablets, kiosks and consoles paired with this hub."""


@device.command("add")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["owner", "manager", "cashier", "waiter", "kiosk"]))
@click.option("--json", "as_json", is_flag=True, help='Print {"token", "pair_url", ...}.')
@pass_obj
def device_add(obj: Obj, name: str, role: str, as_json: bool) -> None:
    """Register a device; prints its bearer token and a pairing link for its browser."""
    from .discovery import base_url
    from .domain.devices import add_device, create_pairing_code

    store = obj.store()
    added, token = add_device(store, name, role, actor="cli")
    # An owner device gets its token only: no pairing code is ever live for the owner role.
    code = create_pairing_code(store, role, "cli", device_id=added["id"]) \
        if role != "owner" else None
    pair_url = f"{base_url(store.settings)}/pair?code={code['code']}" if code else None
    if as_json:
        emit_json({"token": token, "pair_url": pair_url, "device": added,
                   "pair_code": code and code["code"],
                   "pair_code_expires_at": code and code["expires_at"]})
    else:
        click.echo(f"token     {token}")
        if pair_url:
            click.echo(f"pair_url  {pair_url}  (valid 10 minutes)")


@device.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"devices": [...]}.')
@pass_obj
def device_list(obj: Obj, as_json: bool) -> None:
    """Paired devices with their roles and last contact."""
    from .domain.devices import list_devices

    found = list_devices(obj.store())
    if as_json:
        emit_json({"devices": found})
        return
    for d in found:
        state = f"revoked {d['revoked_at']}" if d["revoked_at"] else \
            f"last seen {d['last_seen_at'] or 'never'}"
        click.echo(f"{d['id']}  {d['role']:8} {d['name']}  ({state})")


@device.command("revoke")
@click.argument("device_id")
@pass_obj
def device_revoke(obj: Obj, device_id: str) -> None:
    """Revoke a device: its tokens stop working at once."""
    from .domain.devices import revoke_device

    revoke_device(obj.store(), device_id, actor="cli")
    click.echo(f"revoked {device_id}")


@device.command("pair-code")
@click.option("--role", required=True,
              type=click.Choice(["manager", "cashier", "waiter", "kiosk"]))
@pass_obj
def device_pair_code(obj: Obj, role: str) -> None:
    """A six-digit code a new tablet or kiosk types in within ten minutes."""
    from .domain.devices import create_pairing_code

    code = create_pairing_code(obj.store(), role, "cli")
    click.echo(f"{code['code']}  ({role}, valid until {code['expires_at']})")


@cli.group()
def staff() -> None:
    """Staff and their PINs."""


@staff.command("add")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["owner", "manager", "cashier",
                                                          "waiter"]))
@click.option("--pin", required=True, help="4 to 8 digits; stored only as a scrypt hash.")
@pass_obj
def staff_add(obj: Obj, name: str, role: str, pin: str) -> None:
    """Add a staff member; prints the id."""
    from .domain.staff import add_staff

    click.echo(add_staff(obj.store(), name, role, pin, actor="cli")["id"])


@staff.command("set-pin")
@click.argument("staff_id")
@click.option("--pin", required=True, help="4 to 8 digits; stored only as a scrypt hash.")
@pass_obj
def staff_set_pin(obj: Obj, staff_id: str, pin: str) -> None:
    """Give a staff member a new PIN (audited)."""
    from .domain.staff import set_pin

    set_pin(obj.store(), staff_id, pin, actor="cli")


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"staff": [...]}.')
@pass_obj
def staff_list(obj: Obj, as_json: bool) -> None:
    """Staff without their PINs."""
    from .domain.staff import list_staff

    people = list_staff(obj.store())
    if as_json:
        emit_json({"staff": people})
        return
    for person in people:
        click.echo(f"{person['id']}  {person['role']:8} {person['name']}")


# -- printing --------------------------------------------------------------------------------

@cli.group("print")
def print_group() -> None:
    """Queue receipts and coupons for a printer."""


def _deliver(obj: Obj, job: dict[str, Any], wait: bool, as_json: bool) -> None:
    """The running hub delivers queued jobs; with no hub, this command does it itself."""
    import time

    from printer.queue import PrintQueue, get_job, public

    from .home import VIRTUAL_SPOOL
    from .hublock import hub_running

    store = obj.store()
    queue = PrintQueue(lambda: store, obj.home / VIRTUAL_SPOOL)
    hub = hub_running(obj.home)
    while True:
        if not hub and job["state"] in ("queued", "waiting") and \
                job["next_attempt_at"] <= store.now_iso():
            job = queue.deliver(get_job(store, job["id"]))
        else:
            job = public(get_job(store, job["id"]))
        if not wait or job["state"] in ("printed", "unconfirmed", "cancelled"):
            break
        time.sleep(0.2)
    if as_json:
        emit_json(job)
    else:
        reason = f" ({job['last_error']})" if job["last_error"] else ""
        click.echo(f"{job['id']}  {job['state']}{reason}")


def _print_options(func: Any) -> Any:
    func = click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")(func)
    func = click.option("--wait", is_flag=True, help="Wait until it is printed.")(func)
    func = click.option("--reprint", is_flag=True,
                        help="Print again (marked REPRINT on paper; audited).")(func)
    func = click.option("--width", type=click.Choice(["58", "80"]),
                        help="Paper width in mm (default: the printer's).")(func)
    return click.option("--printer", metavar="URL-OR-NAME",
                        help="A configured printer's name or a printer URL.")(func)


@print_group.command("receipt")
@click.argument("order_id")
@_print_options
@pass_obj
def print_receipt_cmd(obj: Obj, order_id: str, printer: str | None, width: str | None,
                      reprint: bool, wait: bool, as_json: bool) -> None:
    """Queue an order's receipt; prints the job id and its state."""
    from printer.slips import print_receipt

    job = print_receipt(obj.store(), order_id, printer, reprint=reprint, actor="cli",
                        width=int(width) if width else None)
    _deliver(obj, job, wait, as_json)


@print_group.command("coupon")
@click.argument("code")
@_print_options
@pass_obj
def print_coupon_cmd(obj: Obj, code: str, printer: str | None, width: str | None,
                     reprint: bool, wait: bool, as_json: bool) -> None:
    """Queue a coupon (a coupon prints once unless --reprint)."""
    from printer.slips import print_coupon

    job = print_coupon(obj.store(), code, printer, reprint=reprint, actor="cli",
                       width=int(width) if width else None)
    _deliver(obj, job, wait, as_json)


@cli.group("printer")
def printer_group() -> None:
    """Printers: the virtual printer, test pages, the queue."""


@printer_group.command("serve")
@click.option("--port", default=9100, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--width", type=click.Choice(["58", "80"]), default="80", show_default=True)
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where slips are kept (default: virtual-printer/ in the home).")
@pass_obj
def printer_serve(obj: Obj, port: int, host: str, width: str, folder: Path | None) -> None:
    """Run the virtual printer on a TCP port; every slip is kept as .txt, .json and .png."""
    import signal
    import threading

    from printer.virtual import VirtualPrinter, VirtualPrinterServer

    from .home import VIRTUAL_SPOOL

    spool = folder or obj.home / VIRTUAL_SPOOL
    server = VirtualPrinterServer(VirtualPrinter(spool, int(width)), host, port).start()
    click.echo(f"virtual printer on tcp://{host}:{server.port}, slips in {spool}", err=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()


@printer_group.command("test")
@click.argument("url", required=False)
@click.option("--width", type=click.Choice(["58", "80"]))
@click.option("--wait/--no-wait", default=True, show_default=True)
@pass_obj
def printer_test(obj: Obj, url: str | None, width: str | None, wait: bool) -> None:
    """Print a test page (Chinese, alignment, QR) on URL or the default printer."""
    from printer.slips import print_test_page

    job = print_test_page(obj.store(), url, actor="cli", width=int(width) if width else None)
    _deliver(obj, job, wait, as_json=False)


@printer_group.command("jobs")
@click.option("--open", "open_only", is_flag=True, help="Only jobs not printed yet.")
@click.option("--json", "as_json", is_flag=True, help='Print {"jobs": [...]}.')
@pass_obj
def printer_jobs(obj: Obj, open_only: bool, as_json: bool) -> None:
    """The print queue, newest first, with each job's state and reason."""
    from printer.queue import list_jobs

    jobs = list_jobs(obj.store(), 50, open_only)
    if as_json:
        emit_json({"jobs": jobs})
        return
    for job in jobs:
        reason = f" ({job['last_error']})" if job["last_error"] else ""
        click.echo(f"{job['id']}  {job['kind']:8} {job['printer']:12} {job['state']}{reason}")


# -- readers ---------------------------------------------------------------------------------

@cli.group("reader")
def reader_group() -> None:
    """Card readers and scanners."""


@reader_group.command("watch")
@click.argument("url")
@click.option("--protocol", required=True, type=click.Choice(["rdm6300", "track2", "line"]))
@click.option("--baudrate", type=click.IntRange(300, 921_600),
              help="Default: the protocol's (9600).")
@click.option("--count", type=click.IntRange(1), help="Stop after this many reads.")
@pass_obj
def reader_watch(obj: Obj, url: str, protocol: str, baudrate: int | None,
                 count: int | None) -> None:
    """Print what a reader sends, decoded, and whose card it is (for installers)."""
    import serial

    from .readers.parsers import DEFAULT_BAUD, PARSERS, Read
    from .readers.service import identify

    parser = PARSERS[protocol]()
    try:
        port = serial.serial_for_url(url, baudrate=baudrate or DEFAULT_BAUD[protocol],
                                     timeout=0.5)
    except (serial.SerialException, ValueError) as error:
        raise click.ClickException(f"cannot open {url}: {error}") from None
    click.echo(f"watching {url} ({protocol}); Ctrl-C to stop", err=True)
    seen = 0
    try:
        while count is None or seen < count:
            data = port.read(1)
            if not data:
                continue
            for result in parser.feed(data + port.read(port.in_waiting)):
                seen += 1
                if isinstance(result, Read):
                    found = identify(obj.store(), result.value)
                    who = found["member"]["name"] if found["member"] else found["message"]
                    click.echo(f"{result.value}  {found['status']}  {who}")
                else:
                    click.echo(f"rejected: {result.reason}  {result.raw!r}")
    except KeyboardInterrupt:
        pass
    except serial.SerialException as error:
        raise click.ClickException(f"the reader went away: {error}") from None
    finally:
        port.close()


# -- HQ ----------------------------------------------------------------------------------------

@cli.group("hq")
def hq_group() -> None:
    """Headquarters: receive every store, chain-wide figures."""


def _hq_book(obj: Obj) -> Any:
    from sync.hq import HqBook

    obj.home.mkdir(parents=True, exist_ok=True)
    return HqBook(obj.home / "hq.db")


@hq_group.command("run")
@click.option("--broker", required=True, metavar="URL", help="mqtt://HOST:1883 or mqtts://...")
@click.option("--username", default="", help="HQ's broker user.")
@click.option("--password", default="", envvar="LAOKE_HQ_PASSWORD", help="Or $LAOKE_HQ_PASSWORD.")
@click.option("--client-id", default="laoke-hq", show_default=True,
              help="Distinct per receiver when several share the subscription.")
@click.option("--ca-file", default="", help="With mqtts://: the CA (PEM) that signed the "
              "broker's certificate (default: the system's CAs).")
@click.option("--slice-fen", type=click.IntRange(0, 10_000_000), default=20_000,
              show_default=True, help="The most of a guest's stored value one store may "
              "hold back for spending while it cannot reach HQ.")
@pass_obj
def hq_run(obj: Obj, broker: str, username: str, password: str, client_id: str,
           ca_file: str, slice_fen: int) -> None:
    """Apply every store's events exactly once into the HQ database, until SIGTERM."""
    import signal
    import threading

    from sync.hq import Receiver

    try:
        receiver = Receiver(_hq_book(obj), broker, username, password, client_id, ca_file,
                            slice_fen)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    receiver.start()
    click.echo(f"laoke hq: receiving from {broker} into {obj.home / 'hq.db'}", err=True)
    stop.wait()
    receiver.stop()


@hq_group.command("report")
@click.argument("name", required=False, type=click.Choice(REPORT_NAMES))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="With NAME: first day.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="With NAME: last day.")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": ..., "totals": ...} '
              "(with NAME: the report).")
@pass_obj
def hq_report(obj: Obj, name: str | None, start: str | None, end: str | None,
              as_json: bool) -> None:
    """Per-store and chain totals: members, orders, revenue, last applied seq, online; with
    NAME, any store report over the whole chain."""
    book = _hq_book(obj)
    if name is not None:
        from sync.chain import catch_up, open_chain

        from .domain.reports import report

        first, last = _days(start, end)
        with open_chain(obj.home) as chain:
            catch_up(chain, book)
            _show_report(report(chain, name, first, last), as_json)
        return
    report = book.report()
    if as_json:
        emit_json(report)
        return
    for store_id, row in report["stores"].items():
        click.echo(f"{store_id:16} {'online ' if row['online'] else 'offline'} members "
                   f"{row['members']:7d} orders {row['orders']:8d} revenue "
                   f"{yuan(row['revenue_fen'], ' 元', width=12)} seq {row['last_seq']}")
    totals = report["totals"]
    click.echo(f"{'chain':16}         members {totals['members']:7d} orders "
               f"{totals['orders']:8d} revenue {yuan(totals['revenue_fen'], ' 元', width=12)}")


@hq_group.command("stores")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": [...]}.')
@pass_obj
def hq_stores(obj: Obj, as_json: bool) -> None:
    """Stores HQ knows: online or not, applied seq, last event, first missing seq, and
    what a person must look at (an event HQ parked)."""
    rows = [dict(r) for r in _hq_book(obj).conn.execute(
        "SELECT * FROM hq_stores ORDER BY store_id")]
    if as_json:
        emit_json({"stores": rows})
        return
    for row in rows:
        click.echo(f"{row['store_id']:16} {'online ' if row['online'] else 'offline'} "
                   f"applied {row['applied_seq']}  last event {row['last_event_at'] or '-'}"
                   f"{'  waiting for ' + str(row['gap_from']) if row['gap_from'] else ''}"
                   f"{'  NEEDS ATTENTION: ' + row['attention'] if row['attention'] else ''}")


@hq_group.group("push")
def hq_push() -> None:
    """Send a coupon template or a campaign to every store of the chain."""


@hq_push.command("template")
@click.argument("spec", metavar="JSON")
@pass_obj
def hq_push_template(obj: Obj, spec: str) -> None:
    """A coupon template for every store, e.g. '{"name": "周年庆", "kind": "amount_off",
    "amount_fen": 3000, "min_spend_fen": 10000}'; prints its id."""
    from datetime import UTC, datetime

    from .domain.clock import to_iso
    from .domain.coupons import new_template, template_record
    from .domain.errors import InvalidInput

    data = _json_arg(spec, "the template")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InvalidInput("the template is a JSON object with a name and a kind")
    terms = {k: v for k, v in data.items() if k not in ("name", "kind")}
    try:
        template = new_template(data["name"], str(data.get("kind")),
                                to_iso(datetime.now(UTC)), **terms)
    except TypeError as error:
        raise InvalidInput(f"the template: {error}") from None
    _hq_book(obj).publish_change("coupon_template.created", template_record(template))
    click.echo(template["id"])


@hq_push.command("campaign")
@click.argument("spec", metavar="JSON")
@pass_obj
def hq_push_campaign(obj: Obj, spec: str) -> None:
    """A campaign for every store (the `laoke campaign create` JSON; with an "id", a change
    to that campaign); the coupon templates it offers must have been pushed first."""
    from datetime import UTC, datetime

    from .domain.campaigns import chain_campaign
    from .domain.clock import to_iso
    from .domain.errors import InvalidInput

    book = _hq_book(obj)
    campaign = chain_campaign(_json_arg(spec, "the campaign"), to_iso(datetime.now(UTC)))
    offer = campaign["offer"]
    for template_id in ([offer["template_id"]] if offer["template_id"] else []) \
            + offer["template_ids"]:
        if not book.conn.execute("SELECT 1 FROM hq_events WHERE type = "
                                 "'coupon_template.created' AND json_extract(data, '$.id') = ?",
                                 (template_id,)).fetchone():
            raise InvalidInput(f"no coupon template {template_id!r} was pushed to the stores")
    book.publish_change("campaign.saved", campaign)
    click.echo(campaign["id"])


@hq_push.command("settings")
@click.argument("spec", metavar="JSON")
@pass_obj
def hq_push_settings(obj: Obj, spec: str) -> None:
    """Settings for every store, e.g. '{"points": {"earn_per_yuan": 2}}': points, tiers,
    privacy, campaigns and printing; each store applies them at once and keeps them."""
    from .domain.config import new_settings, overlay

    changes = _json_arg(spec, "the settings")
    overlay(new_settings("check"), changes)  # refused here as a store would refuse it
    _hq_book(obj).publish_change("settings.changed", {"settings": changes})
    click.echo("pushed")


@hq_group.command("flags")
@click.option("--json", "as_json", is_flag=True, help='Print {"flags": [...]}.')
@pass_obj
def hq_flags(obj: Obj, as_json: bool) -> None:
    """What needs a person: a coupon redeemed at two stores while offline, with both receipts."""
    flags = _hq_book(obj).flags()
    if as_json:
        emit_json({"flags": flags})
        return
    for flag in flags:
        receipts = ", ".join(f"{r.get('store_id')} order {r.get('id')}"
                             for r in flag["detail"]["receipts"])
        click.echo(f"{flag['at'][:16]}  {flag['kind']}  {flag['subject']}  ({receipts})")


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
