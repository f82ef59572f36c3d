"""The call list: who to phone, and what each call learned (`laoke calls ...`)."""

from __future__ import annotations

import click

from ..domain.money import yuan
from . import Obj, cli, emit_json, pass_obj


@cli.group()
def calls() -> None:
    """Phone lapsed regulars: the list, and each call's outcome and reason."""


@calls.command("list")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True,
              help="At most this many guests.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_obj
def calls_list(obj: Obj, limit: int, as_json: bool) -> None:
    """The lapsed regulars to call now, the most valuable first (phones in full: audited)."""
    from ..domain.calls import call_list

    guests = call_list(obj.store(), "cli", limit)
    if as_json:
        emit_json(guests)
        return
    for g in guests:
        dishes = "、".join(d["dish"] for d in g["favourite_dishes"]) or "-"
        staff = "、".join(s["name"] for s in g["served_by"]) or "-"
        last = g["last_call"]
        click.echo(f"{g['member_id']}  {g['name'] or ''}  {g['phone']}  {g['tier']}  "
                   f"{yuan(g['spend_fen'], ' 元')} / {g['visits']} visits  "
                   f"{g['days_away']} days away  dishes: {dishes}  served by: {staff}"
                   + (f"  last call {last['called_at'][:10]} {last['reason']}" if last else ""))


@calls.command("log")
@click.argument("member_id")
@click.option("--outcome", type=click.Choice(["reached", "no_answer"]), required=True,
              help="Whether the guest answered.")
@click.option("--reason", type=click.Choice(["moved", "prices", "service", "taste", "other"]),
              help="Why they stopped coming (a reached guest).")
@click.option("--note", default="", help="What they said (needed with --reason other).")
@click.option("--follow-up", metavar="YYYY-MM-DD", help="The day to call again.")
@click.option("--send", type=click.Choice(["coupon", "post"]),
              help="Issue the [calls] coupon_template coupon; post: also print it with "
              "--address, for the envelope.")
@click.option("--address", help="With --send post: where to post it.")
@click.option("--json", "as_json", is_flag=True, help="Print the call as JSON.")
@pass_obj
def calls_log(obj: Obj, member_id: str, outcome: str, reason: str | None, note: str,
              follow_up: str | None, send: str | None, address: str | None,
              as_json: bool) -> None:
    """Log a call to a guest."""
    from ..domain.calls import log_call

    store = obj.store()
    call = log_call(store, member_id, outcome, reason, note=note, follow_up=follow_up,
                    send=send, address=address, actor="cli")
    job = None
    if call["sent"] == "post":
        from printer.slips import print_posted_coupon

        job = print_posted_coupon(store, call["id"], actor="cli")
    if as_json:
        emit_json({"call": call, "print_job": job})
        return
    click.echo(f"call {call['id']} logged: {call['outcome']} ({call['reason']})"
               + (f", coupon {call['coupon_code']}" if call["coupon_code"] else "")
               + (f", print job {job['id']}" if job else "")
               + (f", call again {call['follow_up']}" if call["follow_up"] else ""))
