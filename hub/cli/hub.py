"""The store hub daemon, and its rebuilding from HQ."""

from __future__ import annotations

from typing import Any

import click

from . import Obj, cli, emit_json, pass_obj


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
    from sync.restore import restore_home

    done = restore_home(obj.home, store_id, broker=broker, username=username,
                        password=password, chain_key=chain_key, timeout=timeout,
                        progress=lambda seq, of: click.echo(f"\rrestored {seq}/{of} events",
                                                            nl=False, err=True))
    click.echo("", err=True)
    emit_json(done)


@hub.command("encrypt")
@pass_obj
def hub_encrypt(obj: Obj) -> None:
    """Encrypt a home made before encryption, with the hub stopped: a new key (laoke.key,
    0600), the database copied encrypted, checked against the plain one and moved in whole."""
    from ..backup import encrypt_home
    from ..domain.config import load_settings
    from ..hublock import hub_stopped

    with hub_stopped(obj.home):
        emit_json(encrypt_home(obj.home, load_settings(obj.home)))


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
    from ..daemon import run_hub

    api = {k: v for k, v in (("port", port), ("host", host))
           if v is not None}
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
