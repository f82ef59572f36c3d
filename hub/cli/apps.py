"""The programs people run: the demo, the console, the benchmarks."""

from __future__ import annotations

import sys

import click

from . import Obj, cli, emit_json, pass_obj


@cli.command("demo")
@click.option("--summary", is_flag=True,
              help="Print the day's figures instead of opening the console.")
@pass_obj
def demo_cmd(obj: Obj, summary: bool) -> None:
    """The main job on embedded defaults: a generated store served by a hub, a virtual
    printer and a simulated card reader, with the staff console open on them."""
    from ..demo import run_demo

    interactive = not summary and sys.stdin.isatty() and sys.stdout.isatty()
    run_demo(obj.demo_home, echo=click.echo, interactive=interactive)


@cli.command("console")
@click.option("--hub", "hub_url", metavar="URL", help="The hub (default: this home's hub, "
              "else the one zeroconf finds on the LAN).")
@click.option("--token", help="A device token (default: this home's console credential).")
@click.option("--pin", metavar="sha256/...", help="The hub's key (pin= in its pairing link, "
              "or `laoke tls show` at the hub): nothing is sent to a host without it.")
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), help="Default: from the locale.")
@pass_obj
def console_cmd(obj: Obj, hub_url: str | None, token: str | None, pin: str | None,
                lang: str | None) -> None:
    """The staff console (Textual): dashboard, members, checkout, lists, devices."""
    from kiosk.client import HubClient, HubError
    from kiosk.connect import find_hub

    found = find_hub(obj.home, hub_url, token, pin)
    try:
        client = HubClient(found.url, found.token, pin=found.pin)
        client.health()
    except HubError as error:
        raise click.ClickException(error.message) from None
    from kiosk.console import run_console  # Textual loads once there is a hub to show

    run_console(client, language=lang, timezone=found.timezone)


@cli.command("bench")
@click.option("--members", default=1_000_000, show_default=True,
              type=click.IntRange(1_000, 5_000_000))
@click.option("--json", "as_json", is_flag=True, help='Print {"figures": {...}}.')
@click.option("--quick", is_flag=True, help="Shorter load phases (a smoke run, not figures).")
@click.option("--fleet", is_flag=True, help="Only the chain's figures: simulated stores "
              "against a broker and partitioned HQ workers on PostgreSQL of the bench's own "
              "(lag, a day's backlog drained by 1, 2 and 4 workers, apply against raw "
              "INSERT).")
@click.option("--stores", default=1_000, show_default=True, type=click.IntRange(1, 5_000),
              help="With --fleet: how many simulated stores sell at the rush rate.")
@click.option("--pull-every", default=2.0, show_default=True, type=click.FloatRange(0.5, 600),
              metavar="SECONDS", help="With --fleet: how often each simulated store pulls "
              "the feed (a hub pulls every 2 s).")
def bench_cmd(members: int, as_json: bool, quick: bool, fleet: bool, stores: int,
              pull_every: float) -> None:
    """Run the benchmarks: lookups, checkout vs raw sqlite3, HTTP check-in, memory, size;
    with --fleet, the chain's instead."""
    def log(line: str) -> None:
        click.echo(line, err=True)

    if fleet:
        import tempfile
        from pathlib import Path

        from ..bench.chain import bench_fleet

        with tempfile.TemporaryDirectory(prefix="laoke-fleet-") as work:
            figures = bench_fleet(Path(work), stores, log, quick, pull_every)
    else:
        from ..bench import run_benchmarks

        figures = run_benchmarks(members, log=log, quick=quick)
    if as_json:
        emit_json({"figures": figures})
    else:
        for name, value in figures.items():
            click.echo(f"{name:32} {value}")
