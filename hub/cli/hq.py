"""Headquarters: the receiver, chain reports, stores, pushes, flags."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..domain.config import WeatherSettings
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
           metrics_host: str, weather_forecast_url: str, weather_archive_url: str) -> None:
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
    from sync.chain import ChainBooks

    workers = [receiver, relay, *([ChainBooks(obj.home, book)] if chain_books else [])]
    for worker in workers:
        worker.start()
    click.echo(f"laoke hq: receiving from {broker} into {book.where}", err=True)
    stop.wait()
    for worker in workers:
        worker.stop()
    if metrics is not None:
        metrics.shutdown()


@hq_group.command("report")
@click.argument("name", required=False, type=click.Choice(REPORT_NAMES))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="With NAME: first day.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="With NAME: last day.")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": ..., "totals": ...} '
              "(with NAME: the report).")
@db_option
@pass_obj
def hq_report(obj: Obj, db: str | None, name: str | None, start: str | None, end: str | None,
              as_json: bool) -> None:
    """Per-store and chain totals: members, orders, revenue, last applied seq, online; with
    NAME, any store report over the whole chain."""
    if name is not None:
        from sync.chain import chain_books

        from ..domain.reports import report

        first, last = days(start, end)
        with chain_books(obj.home, db) as chain:
            show_report(report(chain, name, first, last), as_json)
        return
    totals_by_store = _hq_book(obj, db).report()
    if as_json:
        emit_json(totals_by_store)
        return
    for store_id, row in totals_by_store["stores"].items():
        click.echo(f"{store_id:16} {'online ' if row['online'] else 'offline'} members "
                   f"{row['members']:7d} orders {row['orders']:8d} revenue "
                   f"{yuan(row['revenue_fen'], ' 元', width=12)} seq {row['last_seq']}")
    totals = totals_by_store["totals"]
    click.echo(f"{'chain':16}         members {totals['members']:7d} orders "
               f"{totals['orders']:8d} revenue {yuan(totals['revenue_fen'], ' 元', width=12)}")


@hq_group.command("stores")
@click.option("--json", "as_json", is_flag=True, help='Print {"stores": [...]}.')
@db_option
@pass_obj
def hq_stores(obj: Obj, db: str | None, as_json: bool) -> None:
    """The fleet: every store HQ knows, online or not, last seen, backlog (written at the
    store, not yet applied here), version, incarnation, protocol (and whether HQ can read
    it), applied seq, first missing seq, alarms (stalled, conflicts, poison, attention,
    clock_skew) and what a person must look at (an event HQ parked, a second writer, events
    lost)."""
    rows = _hq_book(obj, db).stores()
    if as_json:
        emit_json({"stores": rows})
        return
    for row in rows:
        click.echo(f"{row['store_id']:16} {'online ' if row['online'] else 'offline'} "
                   f"seen {(row['last_seen'] or '-')[:19]} backlog {row['backlog']} "
                   f"version {row['version'] or '-'} "
                   f"incarnation {row['epoch'] or '-'} protocol {row['schema'] or '-'}"
                   f"{'' if row['readable'] else ' (NEWER THAN HQ: cannot read it)'} "
                   f"applied {row['applied_seq']}"
                   f"{'  waiting for ' + str(row['gap_from']) if row['gap_from'] else ''}"
                   f"{'  ALARMS: ' + ', '.join(row['alarms']) if row['alarms'] else ''}"
                   f"{'  NEEDS ATTENTION: ' + row['attention'] if row['attention'] else ''}")


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
