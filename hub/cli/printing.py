"""Printing from the shell, the virtual printer, card readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import Obj, cli, emit_json, pass_obj


@cli.group("print")
def print_group() -> None:
    """Queue receipts and coupons for a printer."""


def _deliver(obj: Obj, job: dict[str, Any], wait: bool, as_json: bool) -> None:
    """The running hub delivers queued jobs; with no hub, this command does it itself."""
    from printer.queue import follow

    from ..home import VIRTUAL_SPOOL
    from ..hublock import hub_running

    job = follow(obj.store(), obj.home / VIRTUAL_SPOOL, job, deliver=not hub_running(obj.home),
                 wait=wait)
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

    from ..home import VIRTUAL_SPOOL

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

    from ..readers.parsers import DEFAULT_BAUD, PARSERS, Read
    from ..readers.service import identify

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
