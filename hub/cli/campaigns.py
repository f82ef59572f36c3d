"""Campaigns: list, create, change, run, preview, results."""

from __future__ import annotations

import json

import click

from ..domain.money import yuan
from ..domain.store import Store
from . import Obj, cli, emit_json, json_arg, pass_obj


@cli.group()
def campaign() -> None:
    """Win guests back: list, make, switch on, run campaigns and see their results."""


def _campaign_store(obj: Obj) -> Store:
    from ..domain.campaigns import install_builtins

    store = obj.store()
    install_builtins(store)
    return store


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"campaigns": [...]}.')
@pass_obj
def campaign_list(obj: Obj, as_json: bool) -> None:
    """Every campaign, the active ones first."""
    from ..domain.campaigns import list_campaigns

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
    from ..domain.campaigns import create_campaign

    made = create_campaign(_campaign_store(obj), json_arg(spec, "the campaign"), actor="cli")
    emit_json(made) if as_json else click.echo(made["id"])


@campaign.command("set")
@click.argument("campaign_id")
@click.argument("changes", metavar="JSON")
@pass_obj
def campaign_set(obj: Obj, campaign_id: str, changes: str) -> None:
    """Change a campaign, e.g. '{"active": true}' or '{"control_pct": 20}'."""
    from ..domain.campaigns import update_campaign

    emit_json(update_campaign(_campaign_store(obj), campaign_id,
                              json_arg(changes, "the changes"), actor="cli"))


@campaign.command("run")
@click.argument("campaign_id")
@pass_obj
def campaign_run(obj: Obj, campaign_id: str) -> None:
    """Pick the audience and act now; the running hub sends the messages."""
    from ..domain.campaigns import run_campaign

    emit_json(run_campaign(_campaign_store(obj), campaign_id, actor="cli"))


@campaign.command("preview")
@click.argument("campaign_id")
@click.option("--sample", default=5, show_default=True, type=click.IntRange(0, 50),
              help="How many of the audience to show.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"campaign_id", "count", "messages": [...]}.')
@pass_obj
def campaign_preview(obj: Obj, campaign_id: str, sample: int, as_json: bool) -> None:
    """The exact text a sample of the audience would get now; nothing is issued or sent."""
    from ..domain.campaigns import preview_campaign

    shown = preview_campaign(_campaign_store(obj), campaign_id, sample)
    if as_json:
        emit_json(shown)
        return
    click.echo(f"{shown['count']} guests now")
    for message in shown["messages"]:
        fate = message["status"] if not message["reason"] else \
            f"{message['status']}: {message['reason']}"
        click.echo(f"{message['name'] or message['member_id']} [{message['channel']}, {fate}]")
        click.echo(f"  {message['text']}")
        if message["template"]:
            click.echo(f"  template {message['template']} "
                       f"{json.dumps(message['params'], ensure_ascii=False)}")


@campaign.command("results")
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_obj
def campaign_results_cmd(obj: Obj, campaign_id: str, as_json: bool) -> None:
    """Treated against control: messages, coupons redeemed, guests back, spend, lift."""
    from ..domain.campaigns import campaign_results

    result = campaign_results(_campaign_store(obj), campaign_id)
    if as_json:
        emit_json(result)
        return
    click.echo(result["campaign"]["name"])
    m = result["messages"]
    click.echo(f"messages: {m['sent_total']} sent ({m['delivered']} delivered), "
               f"{m['failed']} failed, {m['skipped']} skipped, {m['queued']} waiting")
    for arm, figures in [*result["arms"].items(), *result["calls"].items()]:
        click.echo(f"{arm:<10} {figures['guests']} guests, {figures['coupons_redeemed']}/"
                   f"{figures['coupons_issued']} coupons used, {figures['returned']} back "
                   f"({figures['return_rate']:.1%}), spent {yuan(figures['spend_fen'], ' 元')}")
    if result["lift"]:
        click.echo(f"lift: {result['lift']['return_rate_pts']:+.2f} points of return rate, "
                   f"{yuan(result['lift']['spend_per_guest_fen'], ' 元', sign=True)} per guest")
