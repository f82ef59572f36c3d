"""The mystery box from the command line, as at the till: `laoke box sell` sells a member a box
(stored value or cash) and reveals its prize, the same request id answers the same box,
`laoke box prizes` lists the chances, and `laoke report boxes` counts the sales."""

from __future__ import annotations

import json

import pytest

from hub.domain.config import BoxPrize, MysteryBoxSettings, load_settings, write_settings
from hub.domain.coupons import create_template
from hub.domain.ledgers import top_up
from hub.domain.members import NewMember, add_member
from hub.home import open_store


@pytest.fixture
def laoke(tmp_path, capsys):
    """The command line in this process (a second interpreter costs seconds) on a home whose
    box costs 99 元 and holds a tasting coupon or 200 points."""
    from hub.cli import main

    home = tmp_path / "home"

    def run(*args):
        main(["--home", str(home), *args])
        return capsys.readouterr()

    with open_store(home) as store:
        create_template(store, "新菜品尝券", "free_dish", dish="酸汤肥牛")
        guest = add_member(store, NewMember(name="王芳", phone="13800138000"))
        top_up(store, guest["id"], 15_000)
    settings = load_settings(home)
    settings.mystery_box = MysteryBoxSettings(price_fen=9900, prizes=[
        BoxPrize(name="新菜品尝", weight=3, coupon_template="新菜品尝券"),
        BoxPrize(name="双倍积分", weight=1, points=200),
        BoxPrize(name="免单", weight=1, coupon_template="免单券")])
    write_settings(home, settings)
    run.home, run.guest = home, guest
    return run


def test_a_box_sold_from_the_shell_is_paid_once_and_counted(laoke, capsys):
    prizes = json.loads(laoke("box", "prizes", "--json").out)
    assert prizes["price_fen"] == 9900
    assert [(p["name"], p["share"], p["available"]) for p in prizes["prizes"]] == [
        ("新菜品尝", 0.6, True), ("双倍积分", 0.2, True), ("免单", 0.2, False)]
    assert "no active coupon template" in laoke("box", "prizes").out
    with open_store(laoke.home) as store:  # a box drawing it would be refused: the owner adds it
        create_template(store, "免单券", "amount_off", amount_fen=9900)
    assert all(p["available"] for p in json.loads(laoke("box", "prizes", "--json").out)["prizes"])

    sold = json.loads(laoke("box", "sell", "13800138000", "--pay", "stored_value",
                            "--request-id", "till-1", "--json").out)
    assert sold["member_id"] == laoke.guest["id"] and not sold["again"]
    again = json.loads(laoke("box", "sell", laoke.guest["id"], "--pay", "stored_value",
                             "--request-id", "till-1", "--json").out)
    assert again == {**sold, "again": True}, "the same sale answers the same box"
    shown = json.loads(laoke("member", "show", laoke.guest["id"], "--json").out)
    assert shown["stored_value_fen"] == 15_000 - sold["price_fen"], "paid once"

    text = laoke("box", "sell", "13800138000", "--pay", "cash").out
    assert text.startswith("盲盒 ") and "order " in text
    boxes = json.loads(laoke("report", "boxes", "--json").out)
    assert boxes["boxes"] == 2

    with pytest.raises(SystemExit) as refused:
        laoke("box", "sell", "13800138000", "--pay", "stored_value")  # 51 元 left
    assert refused.value.code == 2
    assert json.loads(laoke("report", "boxes", "--json").out)["boxes"] == 2, "nothing sold"
    with pytest.raises(SystemExit) as refused:
        laoke("box", "sell", "13800138000", "--pay", "bitcoin")
    assert refused.value.code == 2 and "bitcoin" in capsys.readouterr().err
