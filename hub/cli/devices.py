"""Devices paired with the hub, and the staff who use them."""

from __future__ import annotations

import click

from . import Obj, cli, emit_json, pass_obj


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
    from ..discovery import base_url, hub_certificate
    from ..domain.devices import add_device, create_pairing_code
    from ..tls import pair_link

    store = obj.store()
    added, token = add_device(store, name, role, actor="cli")
    # An owner device gets its token only: no pairing code is ever live for the owner role.
    code = create_pairing_code(store, role, "cli", device_id=added["id"]) \
        if role != "owner" else None
    certificate = hub_certificate(obj.home, store.settings)
    pin = certificate.pin if certificate else None
    pair_url = pair_link(base_url(store.settings), code["code"], pin) if code else None
    if as_json:
        emit_json({"token": token, "pair_url": pair_url, "pin": pin, "device": added,
                   "pair_code": code and code["code"],
                   "pair_code_expires_at": code and code["expires_at"]})
    else:
        click.echo(f"token     {token}")
        if pair_url:
            click.echo(f"pair_url  {pair_url}  (valid 10 minutes)")
        if pin:
            click.echo(f"pin       {pin}  (laoke console --pin; a browser trusts "
                       f"{base_url(store.settings)}/trust once)")


@device.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"devices": [...]}.')
@pass_obj
def device_list(obj: Obj, as_json: bool) -> None:
    """Paired devices with their roles and last contact."""
    from ..domain.devices import list_devices

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
    from ..domain.devices import revoke_device

    revoke_device(obj.store(), device_id, actor="cli")
    click.echo(f"revoked {device_id}")


@device.command("pair-code")
@click.option("--role", required=True,
              type=click.Choice(["manager", "cashier", "waiter", "kiosk"]))
@pass_obj
def device_pair_code(obj: Obj, role: str) -> None:
    """A six-digit code a new tablet or kiosk types in within ten minutes."""
    from ..domain.devices import create_pairing_code

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
    from ..domain.staff import add_staff

    click.echo(add_staff(obj.store(), name, role, pin, actor="cli")["id"])


@staff.command("set-pin")
@click.argument("staff_id")
@click.option("--pin", required=True, help="4 to 8 digits; stored only as a scrypt hash.")
@pass_obj
def staff_set_pin(obj: Obj, staff_id: str, pin: str) -> None:
    """Give a staff member a new PIN (audited)."""
    from ..domain.staff import set_pin

    set_pin(obj.store(), staff_id, pin, actor="cli")


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"staff": [...]}.')
@pass_obj
def staff_list(obj: Obj, as_json: bool) -> None:
    """Staff without their PINs."""
    from ..domain.staff import list_staff

    people = list_staff(obj.store())
    if as_json:
        emit_json({"staff": people})
        return
    for person in people:
        click.echo(f"{person['id']}  {person['role']:8} {person['name']}")


@staff.command("plan")
@click.argument("staff_id")
@click.argument("day", metavar="YYYY-MM-DD")
@click.argument("hours", metavar="HH:MM-HH:MM")
@pass_obj
def staff_plan(obj: Obj, staff_id: str, day: str, hours: str) -> None:
    """Put a person on the rota for a day (local times); prints the planned shift's id."""
    from ..domain.clock import parse_day
    from ..domain.errors import InvalidInput
    from ..domain.rota import plan

    starts, _, ends = hours.partition("-")
    try:
        when = parse_day(day, "DAY")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    click.echo(plan(obj.store(), staff_id, when, starts, ends, actor="cli")["id"])


@staff.command("rota")
@click.option("--week", "monday", metavar="YYYY-MM-DD", help="Its Monday (default: this "
              "week's).")
@click.option("--json", "as_json", is_flag=True, help="Print the week as JSON.")
@pass_obj
def staff_rota(obj: Obj, monday: str | None, as_json: bool) -> None:
    """The week's rota: per hour the forecast covers, staff needed, planned and the gap;
    per person the hours planned and worked (from their shifts)."""
    from datetime import timedelta

    from ..domain.audience import local_today
    from ..domain.clock import parse_day
    from ..domain.errors import InvalidInput
    from ..domain.rota import week

    store = obj.store()
    try:
        first = parse_day(monday, "--week") if monday else None
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if first is None:
        today = local_today(store)
        first = today - timedelta(days=today.weekday())
    rota = week(store, first)
    if as_json:
        emit_json(rota)
        return
    for day in rota["days"]:
        for hour in day["hours"]:
            mark = "short" if hour["gap"] > 0 else "over" if hour["gap"] < 0 else ""
            click.echo(f"{day['date']} {hour['hour']:02d}:00  covers {hour['forecast_covers']:5}"
                       f"  needed {hour['needed']}  planned {hour['planned']}"
                       f"  {', '.join(hour['staff'])}  {mark}")
    for person in rota["staff"]:
        click.echo(f"{person['name']}: planned {person['planned_hours']} h, "
                   f"worked {person['actual_hours']} h")
