"""Campaigns: list, create, change, run, preview, results."""

from __future__ import annotations

import json
from typing import Any

import click

from ..domain.money import yuan
from ..domain.store import Store
from . import Obj, cli, emit_json, json_arg, pass_obj


@cli.group()
def campaign() -> None:
    """Win guests back: list, make, switch on, run campaigns and see their results."""


def _campaign_store(obj: Obj) -> Store:
    """The store with its ready-made campaigns and offers, installed on first use."""
    from ..domain.campaigns import install_builtins
    from ..domain.offers import install_default_offers

    store = obj.store()
    install_builtins(store)
    install_default_offers(store)
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


@cli.group()
def offers() -> None:
    """The welcome coupon and the birthday dessert every store comes with, switched off
    until their value is set."""


def _yuan(_ctx: click.Context, param: click.Parameter, text: str | None) -> int | None:
    from ..domain.money import to_fen

    if text is None:
        return None
    try:
        return to_fen(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


def _show_offers(found: list[Any], as_json: bool) -> None:
    from ..domain.coupons import offer_conditions, offer_value

    if as_json:
        emit_json({"offers": found})
        return
    for offer in found:
        template = offer["template"]
        value = offer_value(template) if template["amount_fen"] or template["dish"] \
            else "未设定 (not set)"
        conditions = offer_conditions(template)
        click.echo(f"{'on ' if offer['on'] else 'off'} {offer['offer']:<9} {template['name']}  "
                   f"{value}{f'  {conditions}' if conditions else ''}  "
                   f"{template['valid_days']} 天")


@offers.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print {"offers": [...]}.')
@pass_obj
def offers_list(obj: Obj, as_json: bool) -> None:
    """Both offers: on or off, their value, conditions and days."""
    from ..domain.offers import default_offers

    _show_offers(list(default_offers(_campaign_store(obj))), as_json)


@offers.command("set")
@click.argument("name", type=click.Choice(["welcome", "birthday"]))
@click.option("--amount", callback=_yuan, metavar="YUAN",
              help="welcome: what the coupon takes off the bill (20 or 20.00).")
@click.option("--dish", help="birthday: the dessert it gives (长寿面).")
@click.option("--min-spend", callback=_yuan, metavar="YUAN",
              help="The least a bill must come to for the coupon (default: none).")
@click.option("--days", type=click.IntRange(1, 3650), help="How long each coupon lasts.")
@click.option("--json", "as_json", is_flag=True, help='Print {"offers": [the offer]}.')
@pass_obj
def offers_set(obj: Obj, name: str, amount: int | None, dish: str | None,
               min_spend: int | None, days: int | None, as_json: bool) -> None:
    """Give an offer its value and switch it on (the dessert's campaign too); HQ and every
    store see the change."""
    from ..domain.offers import set_default_offer

    offer = set_default_offer(_campaign_store(obj), name, amount_fen=amount, dish=dish,
                              min_spend_fen=min_spend, valid_days=days, actor="owner:cli")
    _show_offers([offer], as_json)


@offers.command("off")
@click.argument("name", type=click.Choice(["welcome", "birthday"]))
@click.option("--json", "as_json", is_flag=True, help='Print {"offers": [the offer]}.')
@pass_obj
def offers_off(obj: Obj, name: str, as_json: bool) -> None:
    """Switch an offer off: no new coupons of it; those issued stay good."""
    from ..domain.offers import switch_off_default_offer

    _show_offers([switch_off_default_offer(_campaign_store(obj), name, actor="owner:cli")],
                 as_json)
