"""The paid mystery box (盲盒) at the till: sell one to a member, list the prizes. The result
report is `laoke report boxes`."""

from __future__ import annotations

import click

from ..domain.money import yuan
from . import Obj, cli, emit_json, pass_obj


@cli.group()
def box() -> None:
    """The mystery box (盲盒): sell one to a member, see what it may hold."""


@box.command("sell")
@click.argument("member", metavar="ID-OR-PHONE")
@click.option("--pay", required=True, type=click.Choice(["stored_value", "cash", "wechat",
                                                         "alipay", "card"]),
              help="From the guest's stored value, or what they paid at the till.")
@click.option("--request-id", metavar="ID", help="The sale's own id: the same id again "
              "answers the same box, paid once (default: a new sale).")
@click.option("--json", "as_json", is_flag=True, help="Print the opened box.")
@pass_obj
def box_sell(obj: Obj, member: str, pay: str, request_id: str | None, as_json: bool) -> None:
    """Sell MEMBER a box at its price (their tier discount applies) and reveal the prize
    drawn by weight, in one change. In a chain the stored value is the store's to spend
    within its slice, as at a till that cannot reach HQ."""
    from ..domain.checkout import authorise
    from ..domain.ids import new_id
    from ..domain.members import resolve_member
    from ..domain.mystery import box_sale, open_box

    store = obj.store()
    member_id = resolve_member(store, member)["id"]
    sale = box_sale(store, request_id or new_id(), member_id, pay)
    opened = open_box(store, authorise(None, store, sale))
    if as_json:
        emit_json(dict(opened))
        return
    won = opened["prize"] + (f"  券码 {opened['coupon_code']}" if opened["coupon_code"] else
                             "") + (f"  +{opened['points']} 积分" if opened["points"] else "")
    click.echo(f"{'(again) ' if opened['again'] else ''}盲盒 {yuan(opened['price_fen'], ' 元')}"
               f"  order {opened['order_id']}: {won}")


@box.command("prizes")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"price_fen", "prizes": [{"name", "weight", "share", ...}]}.')
@pass_obj
def box_prizes(obj: Obj, as_json: bool) -> None:
    """The box's price and each prize with its chance ([mystery_box] in laoke.toml)."""
    from ..domain.mystery import prize_list

    shown = prize_list(obj.store())
    if as_json:
        emit_json(shown)
        return
    if not shown["price_fen"] or not shown["prizes"]:
        click.echo("the mystery box is not sold: set [mystery_box] price_fen and prizes")
        return
    click.echo(f"盲盒 {yuan(shown['price_fen'], ' 元')}")
    for prize in shown["prizes"]:
        gives = prize["coupon_template"] or f"{prize['points']} 积分"
        state = "" if prize["available"] else "  (no active coupon template of this name)"
        click.echo(f"{prize['share'] * 100:5.1f}%  {prize['name']}  {gives}{state}")
