"""Guests from the shell: add, find, show."""

from __future__ import annotations

from typing import Any

import click

from ..domain.money import yuan
from . import Obj, cli, emit_json, pass_obj


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
    from ..domain.members import NewMember, add_member

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
    from ..domain.members import find_members, member_view

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
    from ..domain.members import member_view, resolve_member

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
