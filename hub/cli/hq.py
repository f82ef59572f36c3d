"""Headquarters: the receiver, chain reports, stores, pushes, flags."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..domain.config import STORE_ID_PATTERN, WeatherSettings
from ..domain.money import yuan
from ..domain.report_names import REPORT_NAMES
from . import Obj, cli, emit_json, json_arg, pass_obj
from .reports import days, show_report


@cli.group("hq")
def hq_group() -> None:
    """Headquarters: receive every store, chain-wide figures."""


def _hq_book(obj: Obj, db: str | None) -> Any:
    from sync.chain import hq_book

    try:
        return hq_book(obj.home, db)
    except ValueError as error:  # a URL that names no database HQ can keep its book in
        raise click.BadParameter(str(error), param_hint="--db") from None
    except ConnectionError as error:
        raise click.ClickException(str(error)) from None


db_option = click.option(
    "--db", metavar="URL", envvar="LAOKE_HQ_DB",
    help="HQ's database: sqlite:///PATH (default: the home's hq.db) or postgresql://... "
    "(or $LAOKE_HQ_DB); remembered in the home, without its password (libpq's PGPASSWORD "
    "or ~/.pgpass give that), for the next command.")


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
@click.option("--slice-points", type=click.IntRange(0, 100_000_000), default=1_000,
              show_default=True, help="The most of a guest's points one store may hold back "
              "for redeeming while it cannot reach HQ.")
@click.option("--partitioned", is_flag=True, help="Share the chain with the other workers on "
              "this PostgreSQL database by partition: each store applied by one worker at "
              "a time, a dead worker's stores taken over within seconds.")
@click.option("--chain-books", is_flag=True, help="Keep the home's chain books (chain "
              "reports, the export at HQ) caught up as HQ applies, a few seconds behind.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve the fleet as "
              "Prometheus metrics on this port (/metrics).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address the metrics listen on.")
@click.option("--wechat-port", type=click.IntRange(1, 65535), help="Serve the chain's WeChat "
              "Official Account callback on this port (/wechat/callback, behind the reverse "
              "proxy WeChat calls): HQ hands each event to the stores it is for, and makes "
              "their kiosks' follow QRs ([messaging.wechat] in HQ's settings).")
@click.option("--wechat-host", default="127.0.0.1", show_default=True,
              help="The address the WeChat callback listens on.")
@click.option("--weather-forecast-url", default=WeatherSettings().forecast_url,
              show_default=True, envvar="LAOKE_HQ_WEATHER_FORECAST_URL",
              help="Open-Meteo's forecast API, asked for the stores whose weather comes "
              "from HQ ([weather] source = \"hq\").")
@click.option("--weather-archive-url", default=WeatherSettings().archive_url,
              show_default=True, envvar="LAOKE_HQ_WEATHER_ARCHIVE_URL",
              help="Open-Meteo's archive API, for the same stores' history.")
@db_option
@pass_obj
def hq_run(obj: Obj, db: str | None, broker: str, username: str, password: str,
           client_id: str, ca_file: str, slice_fen: int, slice_points: int,
           partitioned: bool, chain_books: bool, metrics_port: int | None,
           metrics_host: str, wechat_port: int | None, wechat_host: str,
           weather_forecast_url: str, weather_archive_url: str) -> None:
    """Apply every store's events exactly once into the HQ database, until SIGTERM; relay
    the weather to the stores that ask HQ for it."""
    import signal
    import threading

    from sync.hq import Receiver
    from sync.hq.weather import WeatherRelay

    from ..weather import OpenMeteoClient

    book = _hq_book(obj, db)
    relay = WeatherRelay(OpenMeteoClient(weather_forecast_url, weather_archive_url,
                                         WeatherSettings().timeout_s))
    try:
        receiver = Receiver(book, broker, username, password, client_id, ca_file,
                            slice_fen, slice_points, partitioned, relay)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    metrics = None
    if metrics_port is not None:
        from sync.hq.metrics import serve_metrics

        try:
            metrics = serve_metrics(book, metrics_port, metrics_host)
        except OSError as error:
            raise click.BadParameter(f"{metrics_host}:{metrics_port}: {error.strerror}",
                                     param_hint="--metrics-port") from None
    from sync.chain import ChainBooks, hq_settings
    from sync.hq.db import POSTGRES
    from sync.hq.partitions import RELAY_JOB, Sole
    from sync.hq.relay import RelaySender, relayed_channels

    from ..domain.errors import ConfigError

    try:
        settings = hq_settings(obj.home)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    callback = None
    if wechat_port is not None:
        from sync.hq.wechat import serve_wechat

        if not (settings.messaging.wechat.configured and settings.messaging.wechat.token):
            raise click.BadParameter("HQ's [messaging.wechat] needs app_id, app_secret and "
                                     "token for the callback", param_hint="--wechat-port")
        try:
            callback = serve_wechat(book.url, book.clock, settings.messaging.wechat,
                                    wechat_port, wechat_host)
        except OSError as error:
            raise click.BadParameter(f"{wechat_host}:{wechat_port}: {error.strerror}",
                                     param_hint="--wechat-port") from None
    # the chain's accounts: stores may relay their messages through HQ (without any, what a
    # store relays fails, saying so, rather than waiting at HQ for ever)
    relayed = ", ".join(relayed_channels(settings))
    workers = [receiver, relay, *([ChainBooks(obj.home, book)] if chain_books else []),
               # on PostgreSQL another worker (or an HQ rolled over) may share the book
               RelaySender(book, settings, sole=Sole(book.url, RELAY_JOB)
                           if book.conn.engine == POSTGRES else None)]
    for worker in workers:
        worker.start()
    click.echo(f"laoke hq: receiving from {broker} into {book.where}"
               f"{f'; sending the stores’ messages by {relayed}' if relayed else ''}",
               err=True)
    stop.wait()
    for worker in workers:
        worker.stop()
    for server in (metrics, callback):
        if server is not None:
            server.shutdown()


region_option = click.option("--region", metavar="NAME",
                             help="Only the stores HQ files under this region.")


@hq_group.command("report")
@click.argument("name", required=False, type=click.Choice(REPORT_NAMES))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="With NAME: first day.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="With NAME: last day.")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": ..., "totals": ...} '
              "(with NAME: the report).")
@region_option
@db_option
@pass_obj
def hq_report(obj: Obj, db: str | None, name: str | None, start: str | None, end: str | None,
              as_json: bool, region: str | None) -> None:
    """Per-store, per-region and chain totals: members, orders, revenue, last applied seq,
    online; with NAME, any store report over the whole chain (or over a region)."""
    if name is not None:
        from sync.chain import chain_books

        from ..domain.reports import report

        first, last = days(start, end)
        try:
            with chain_books(obj.home, db, region) as chain:
                show_report(report(chain, name, first, last), as_json)
        except ValueError as error:  # no store is filed under that region
            raise click.BadParameter(str(error), param_hint="--region") from None
        return
    try:
        totals_by_store = _hq_book(obj, db).report(region)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--region") from None
    if as_json:
        emit_json(totals_by_store)
        return
    for store_id, row in totals_by_store["stores"].items():
        click.echo(f"{store_id:16} {'online ' if row['online'] else 'offline'} members "
                   f"{row['members']:7d} orders {row['orders']:8d} revenue "
                   f"{yuan(row['revenue_fen'], ' 元', width=12)} seq {row['last_seq']}"
                   f"{'  ' + row['region'] if row['region'] else ''}")
    for name_, row in totals_by_store.get("regions", {}).items():
        click.echo(f"{name_:16} {row['stores']:3d} stores members {row['members']:7d} "
                   f"orders {row['orders']:8d} revenue {yuan(row['revenue_fen'], ' 元', width=12)}")
    totals = totals_by_store["totals"]
    click.echo(f"{region or 'chain':16}         members {totals['members']:7d} orders "
               f"{totals['orders']:8d} revenue {yuan(totals['revenue_fen'], ' 元', width=12)}")


@hq_group.group("regions", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"regions": {store: region}}.')
@db_option
@click.pass_context
def hq_regions(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """Which region each store is filed under (华东, 华北, ...): `laoke hq report --region`
    and `laoke hq stores --region` read them."""
    if ctx.invoked_subcommand is not None:
        return
    obj = ctx.find_object(Obj)
    assert obj is not None  # the root command made it
    filed = _hq_book(obj, db).regions()
    if as_json:
        emit_json({"regions": filed})
        return
    for store_id, region in filed.items():
        click.echo(f"{store_id:16} {region}")


@hq_regions.command("set")
@click.argument("store_id")
@click.argument("region")
@db_option
@pass_obj
def hq_regions_set(obj: Obj, db: str | None, store_id: str, region: str) -> None:
    """File STORE_ID under REGION (it may not have connected yet)."""
    try:
        _hq_book(obj, db).set_region(store_id, region)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{store_id}: {region}")


@hq_regions.command("clear")
@click.argument("store_id")
@db_option
@pass_obj
def hq_regions_clear(obj: Obj, db: str | None, store_id: str) -> None:
    """File STORE_ID under no region."""
    try:
        _hq_book(obj, db).set_region(store_id, None)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{store_id}: -")


@hq_regions.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@pass_obj
def hq_regions_import(obj: Obj, db: str | None, path: Path) -> None:
    """File many stores at once from a CSV or XLSX with columns `store_id` and `region`:
    every row is checked before any is kept."""
    from ..sheets import read_sheet

    columns = ("store_id", "region")
    rows = read_sheet(path, "regions", columns, columns, max_rows=100_000)
    book = _hq_book(obj, db)
    filed = []
    for n, row in enumerate(rows, start=2):
        store_id, region = (str(row.get(k) or "").strip() for k in ("store_id", "region"))
        if not re.fullmatch(STORE_ID_PATTERN, store_id) or not region:
            raise click.ClickException(f"row {n}: needs a store_id and a region")
        filed.append((store_id, region))
    try:
        for store_id, region in filed:
            book.set_region(store_id, region)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{len(filed)} stores filed")


@hq_group.command("stock")
@click.argument("store_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"store", "levels": [...]} as a '
              "store's `laoke stock levels --json` does.")
@db_option
@pass_obj
def hq_stock(obj: Obj, db: str | None, store_id: str, as_json: bool) -> None:
    """A store's stock on hand as HQ's chain books have it: its counts, deliveries and waste,
    less what its orders used through its recipes."""
    from sync.chain import chain_books

    from ..domain.errors import NotFound
    from ..domain.stock import levels

    with chain_books(obj.home, db) as chain:
        found = levels(chain, store_id)
    if not found:
        raise NotFound(f"HQ has no stock of store {store_id!r}")
    if as_json:
        emit_json({"store": store_id, "levels": found})
        return
    for level in found:
        click.echo(f"{level['ingredient']:12} {level['on_hand']:>10g} {level['unit']:4} "
                   f"{level['supplier'] or ''}")


@hq_group.command("stores")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": [...]}.')
@region_option
@db_option
@pass_obj
def hq_stores(obj: Obj, db: str | None, as_json: bool, region: str | None) -> None:
    """The fleet: every store HQ knows, online or not, last seen, backlog (written at the
    store, not yet applied here), version, incarnation, protocol (and whether HQ can read
    it), applied seq, first missing seq, alarms (stalled, conflicts, poison, attention,
    clock_skew) and what a person must look at (an event HQ parked, a second writer, events
    lost)."""
    book = _hq_book(obj, db)
    try:
        wanted = None if region is None else set(book.region_stores(region))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--region") from None
    rows = [row for row in book.stores() if wanted is None or row["store_id"] in wanted]
    if as_json:
        emit_json({"stores": rows})
        return
    for row in rows:
        click.echo(f"{row['store_id']:16} {row['region'] or '-':8} "
                   f"{'online ' if row['online'] else 'offline'} "
                   f"seen {(row['last_seen'] or '-')[:19]} backlog {row['backlog']} "
                   f"version {row['version'] or '-'} "
                   f"incarnation {row['epoch'] or '-'} protocol {row['schema'] or '-'}"
                   f"{'' if row['readable'] else ' (NEWER THAN HQ: cannot read it)'} "
                   f"applied {row['applied_seq']}"
                   f"{'  waiting for ' + str(row['gap_from']) if row['gap_from'] else ''}"
                   f"{'  ALARMS: ' + ', '.join(row['alarms']) if row['alarms'] else ''}"
                   f"{'  NEEDS ATTENTION: ' + row['attention'] if row['attention'] else ''}")


@hq_group.command("console")
@click.option("--every", "every_s", type=click.FloatRange(min=0.5), default=5.0,
              show_default=True, help="Seconds between reads of HQ's book.")
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), help="Default: the locale's.")
@db_option
@pass_obj
def hq_console(obj: Obj, db: str | None, every_s: float, lang: str | None) -> None:
    """The fleet on one screen (Textual): every store online or not, last seen, backlog,
    version, protocol, sales and alarms, the stores that need a person first, and the
    flags for a person to decide; `a` shows only stores with alarms."""
    book = _hq_book(obj, db)  # a bad --db fails here, before the screen opens
    url = book.url
    book.conn.close()
    from kiosk.console.hq import run_hq_console  # Textual loads once there is a book
    from sync.chain import hq_settings

    run_hq_console(url, every_s, lang, hq_settings(obj.home).timezone)  # HQ's day, as the books


@hq_group.group("push")
def hq_push() -> None:
    """Send a coupon template or a campaign to every store of the chain."""


@hq_push.command("template")
@click.argument("spec", metavar="JSON")
@db_option
@pass_obj
def hq_push_template(obj: Obj, db: str | None, spec: str) -> None:
    """A coupon template for every store, e.g. '{"name": "周年庆", "kind": "amount_off",
    "amount_fen": 3000, "min_spend_fen": 10000}'; prints its id."""

    from ..domain.clock import to_iso
    from ..domain.coupons import new_template, template_record
    from ..domain.errors import InvalidInput

    data = json_arg(spec, "the template")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise InvalidInput("the template is a JSON object with a name and a kind")
    terms = {k: v for k, v in data.items() if k not in ("name", "kind")}
    try:
        template = new_template(data["name"], str(data.get("kind")),
                                to_iso(datetime.now(UTC)), **terms)
    except TypeError as error:
        raise InvalidInput(f"the template: {error}") from None
    _hq_book(obj, db).publish_change("coupon_template.created", template_record(template))
    click.echo(template["id"])


@hq_push.command("menu")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@pass_obj
def hq_push_menu(obj: Obj, db: str | None, file: Path) -> None:
    """The chain's menu for every store, from a menu file (the columns `laoke menu import`
    reads); each store keeps its own prices and what it sold out."""
    from ..domain.errors import InvalidInput
    from ..domain.menu import checked_dish
    from ..menu_files import read_rows

    dishes = []
    for number, row in enumerate(read_rows(file), 2):
        if str(row.get("ingredient", "")).strip():
            raise InvalidInput(f"row {number}: recipes are each store's own (its ingredients "
                               "and suppliers): push the menu without the recipe columns")
        try:
            dishes.append(checked_dish(row))
        except InvalidInput as error:
            raise InvalidInput(f"row {number}: {error.message}") from None
    _hq_book(obj, db).publish_change("menu.changed", {"dishes": dishes})
    click.echo(f"{len(dishes)} dishes for every store")


@hq_push.command("campaign")
@click.argument("spec", metavar="JSON")
@db_option
@pass_obj
def hq_push_campaign(obj: Obj, db: str | None, spec: str) -> None:
    """A campaign for every store (the `laoke campaign create` JSON; with an "id", a change
    to that campaign); the coupon templates it offers must have been pushed first."""

    from ..domain.campaigns import chain_campaign
    from ..domain.clock import to_iso
    from ..domain.errors import InvalidInput

    book = _hq_book(obj, db)
    campaign = chain_campaign(json_arg(spec, "the campaign"), to_iso(datetime.now(UTC)))
    offer = campaign["offer"]
    for template_id in ([offer["template_id"]] if offer["template_id"] else []) \
            + offer["template_ids"]:
        if not book.pushed_template(template_id):
            raise InvalidInput(f"no coupon template {template_id!r} was pushed to the stores")
    book.publish_change("campaign.saved", campaign)
    click.echo(campaign["id"])


@hq_push.command("settings")
@click.argument("spec", metavar="JSON")
@db_option
@pass_obj
def hq_push_settings(obj: Obj, db: str | None, spec: str) -> None:
    """Settings for every store, e.g. '{"points": {"earn_per_yuan": 2}}': points, tiers,
    privacy, campaigns and printing; each store applies them at once and keeps them."""
    from ..domain.config import new_settings, overlay

    changes = json_arg(spec, "the settings")
    overlay(new_settings("check"), changes)  # refused here as a store would refuse it
    _hq_book(obj, db).publish_change("settings.changed", {"settings": changes})
    click.echo("pushed")


@hq_group.command("flags")
@click.option("--json", "as_json", is_flag=True, help='Print {"flags": [...]}.')
@db_option
@pass_obj
def hq_flags(obj: Obj, db: str | None, as_json: bool) -> None:
    """What needs a person: a coupon redeemed at two stores while offline, with both receipts."""
    flags = _hq_book(obj, db).flags()
    if as_json:
        emit_json({"flags": flags})
        return
    for flag in flags:
        receipts = ", ".join(f"{r.get('store_id')} order {r.get('id')}"
                             for r in flag["detail"]["receipts"])
        click.echo(f"{flag['at'][:16]}  {flag['kind']}  {flag['subject']}  ({receipts})")
