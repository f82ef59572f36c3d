"""The `laoke` command: a thin layer over the domain, one module per area (as the API has
one router per area); each parses, calls the owner of the rule, and prints.

Every failure the user can cause prints one line `laoke: ...` on stderr and exits 2 (1 when
what was asked for does not exist); nothing is written on a failure.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .. import __version__
from ..domain.errors import LaokeError
from ..domain.store import Store
from ..home import open_store, resolve_demo_home, resolve_home


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


def json_arg(text: str, what: str) -> Any:
    from ..domain.errors import InvalidInput

    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"{what} is not valid JSON: {error}") from None


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


# Each module adds its commands to `cli`.
from . import (  # noqa: E402, F401
    apps,
    boxes,
    calls,
    campaigns,
    data,
    delivery,
    devices,
    hq,
    hub,
    members,
    menu,
    printing,
    reports,
    stock,
    tls,
)

__all__ = ["Obj", "cli", "emit_json", "json_arg", "main", "pass_obj"]
