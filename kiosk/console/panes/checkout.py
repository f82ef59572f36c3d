"""The till: a bill typed as lines, paid with points, a coupon and stored value, printed."""

from __future__ import annotations

import uuid

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static, TextArea

from hub.domain.money import to_fen, yuan
from hub.domain.profiles import MemberProfile

from ..bill import parse_lines
from ..messages import Charged
from .base import Json, Pane

PAYMENT_FIELDS = ("#pay-points", "#pay-coupon", "#pay-stored", "#party")


class CheckoutPane(Pane):
    KEY = "checkout"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.guest: MemberProfile | None = None  # whom the bill is for; None: a walk-in

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            yield Static(t("no_member"), id="checkout-member", classes="panel")
            yield Label(t("lines_hint"))
            yield TextArea(id="lines")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("party_size"), id="party")
                yield Input(placeholder=t("redeem_points"), id="pay-points")
                yield Input(placeholder=t("coupon_code"), id="pay-coupon")
                yield Input(placeholder=t("pay_stored_value"), id="pay-stored")
                yield Button(t("charge"), id="charge", variant="success")
            yield Label(t("receipt_preview"))
            yield Static("", id="receipt", classes="panel")

    def bill_to(self, member: MemberProfile) -> None:
        self.guest = member
        t = self.t
        self.query_one("#checkout-member", Static).update(
            f"{member['name']} {member['phone']}  {self.console.tier_name(member)}  "
            f"{t('points')} {member['points_balance']}  {t('stored_value')} "
            f"{yuan(member['stored_value_fen'])}  {t('allergies')}: "
            f"{'、'.join(member['allergies']) or '-'}")

    @on(Button.Pressed, "#charge")
    def charge(self) -> None:
        try:
            lines = parse_lines(self.query_one("#lines", TextArea).text)
            points_text = self.query_one("#pay-points", Input).value.strip()
            points = int(points_text) if points_text else 0
            stored = to_fen(self.query_one("#pay-stored", Input).value)
            party_text = self.query_one("#party", Input).value.strip()
            party = int(party_text) if party_text else 1  # a bill at the counter seats one
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        body: Json = {"lines": lines, "redeem_points": points, "stored_value_fen": stored,
                      "print": True, "party_size": party}
        if self.guest is not None:
            body["member_id"] = self.guest["id"]
        code = self.query_one("#pay-coupon", Input).value.strip()
        if code:
            body["coupon_code"] = code
        key = str(uuid.uuid4())  # one key per press: a retried request never charges twice

        def done(result: Json) -> None:
            job = result.get("print_job") or {}
            self.query_one("#receipt", Static).update(job.get("preview", ""))
            self.notify(f"{self.t('printed')}: {yuan(result['due_fen'])}")
            self.query_one("#lines", TextArea).text = ""
            for field in PAYMENT_FIELDS:
                self.query_one(field, Input).value = ""
            self.post_message(Charged())

        self.call(lambda: self.console.client.checkout(body, key), done)
