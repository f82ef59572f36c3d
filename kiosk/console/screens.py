"""The console's dialogs over any tab: who works at this console (a shift, signed in with a
PIN), a guest's low rating the moment it arrives, with the one action that answers it, and a
call to a guest of the call list.

They are modal screens so that they reach the manager whichever tab is open, and they talk
to the hub through the app's workers like every pane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from hub.domain.calls import REASON_LABELS

if TYPE_CHECKING:
    from .app import ConsoleApp

Json = dict[str, Any]


class Dialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def t(self, key: str) -> str:
        return self.console.t(key)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class ShiftScreen(Dialog):
    """Sign in (or switch: another person's PIN ends the shift open here) and sign out."""

    def __init__(self, shift: Json | None) -> None:
        super().__init__()
        self.shift = shift

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.who(), id="shift-who")
            yield Input(placeholder=self.t("staff_pin"), password=True, id="shift-pin",
                        max_length=8)
            with Horizontal(classes="row"):
                yield Button(self.t("sign_in"), id="shift-in", variant="primary")
                yield Button(self.t("sign_out"), id="shift-out", disabled=self.shift is None)

    def who(self) -> str:
        if self.shift is None:
            return self.t("nobody_on_shift")
        return f"{self.t('on_shift')}: {self.shift['staff']['name']}"

    def signed(self, shift: Json | None) -> None:
        self.console.on_shift(shift)
        self.dismiss()

    @on(Button.Pressed, "#shift-in")
    @on(Input.Submitted, "#shift-pin")
    def sign_in(self) -> None:
        field = self.query_one("#shift-pin", Input)
        pin, field.value = field.value.strip(), ""
        if pin:
            self.console.call(lambda: self.console.client.open_shift(pin), self.signed)

    @on(Button.Pressed, "#shift-out")
    def sign_out(self) -> None:
        if self.shift is not None:
            shift_id = self.shift["id"]
            self.console.call(lambda: self.console.client.close_shift(shift_id),
                              lambda _: self.signed(None))


class RatingAlert(Dialog):
    """A low rating: table, stars, tags, comment and server; the apology coupon in one key."""

    def __init__(self, rating: Json) -> None:
        super().__init__()
        self.rating = rating

    def compose(self) -> ComposeResult:
        rating = self.rating
        with Vertical(classes="dialog alert"):
            yield Static(
                f"{self.t('low_rating')}\n{self.t('table')}: {rating['table_no'] or '-'}   "
                f"{self.t('rating')}: {'★' * rating['rating']}   "
                f"{'、'.join(rating['tags']) or '-'}\n{rating['comment'] or ''}\n"
                f"{self.t('served_by')}: {rating['staff_name'] or '-'}", id="alert")
            with Horizontal(classes="row"):
                yield Button(self.t("apology"), id="apology", variant="error")
                yield Button(self.t("close"), id="close")

    def on_mount(self) -> None:
        self.query_one("#apology", Button).focus()

    @on(Button.Pressed, "#apology")
    def apologise(self) -> None:
        feedback_id = self.rating["id"]

        def sent(answer: Json) -> None:
            self.console.notify(f"{self.t('apology_sent')}: {answer['coupon']['code']}")
            self.dismiss()

        self.console.call(lambda: self.console.client.apologise(feedback_id), sent)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss()


class CallScreen(Dialog):
    """Log a call to a guest of the call list: why they stopped coming (or no answer), a
    note, a coupon sent or posted to an address, the day to call again."""

    def __init__(self, guest: Json, logged: Callable[[Json], None]) -> None:
        super().__init__()
        self.guest = guest
        self.logged = logged

    def compose(self) -> ComposeResult:
        zh = self.console.language == "zh-CN"
        guest = self.guest
        dishes = "、".join(d["dish"] for d in guest["favourite_dishes"]) or "-"
        with Vertical(classes="dialog"):
            yield Static(f"{guest['name'] or '-'}  {guest['phone'] or '-'}\n"
                         f"{self.t('favourites')}: {dishes}", id="call-guest")
            yield Select[str]([(labels[0 if zh else 1], reason)
                               for reason, labels in REASON_LABELS.items()],
                              value="no_answer", allow_blank=False, id="call-reason")
            yield Input(placeholder=self.t("call_note"), id="call-note", max_length=500)
            yield Input(placeholder=self.t("follow_up"), id="call-follow-up", max_length=10)
            yield Select[str]([(self.t("send_nothing"), "none"),
                               (self.t("send_coupon"), "coupon"),
                               (self.t("send_post"), "post")],
                              value="none", allow_blank=False, id="call-send")
            yield Input(placeholder=self.t("address"), id="call-address", max_length=200)
            with Horizontal(classes="row"):
                yield Button(self.t("log_call"), id="call-save", variant="primary")
                yield Button(self.t("close"), id="call-close")

    def body(self) -> Json:
        """The call as the hub takes it; the hub checks it (a note for other, the address
        for a posted coupon) and says what is wrong."""
        reason = str(self.query_one("#call-reason", Select).value)
        send = str(self.query_one("#call-send", Select).value)
        body: Json = {"member_id": self.guest["member_id"],
                      "outcome": "no_answer" if reason == "no_answer" else "reached",
                      "reason": reason,
                      "note": self.query_one("#call-note", Input).value.strip()}
        follow_up = self.query_one("#call-follow-up", Input).value.strip()
        if follow_up:
            body["follow_up"] = follow_up
        if send != "none":
            body["send"] = send
        address = self.query_one("#call-address", Input).value.strip()
        if send == "post" or address:
            body["address"] = address
        return body

    @on(Button.Pressed, "#call-save")
    def save(self) -> None:
        body = self.body()

        def done(answer: Json) -> None:
            self.console.notify(self.t("call_logged") + (
                f": {answer['call']['coupon_code']}" if answer["call"]["coupon_code"] else ""))
            self.logged(answer)
            self.dismiss()

        self.console.call(lambda: self.console.client.log_call(body), done)

    @on(Button.Pressed, "#call-close")
    def close(self) -> None:
        self.dismiss()
