"""The members tab: find a guest as you type, their profile and ledgers, and what staff
change for them (notes, top-ups, cards, a coupon, the delivery-platform accounts that are
theirs)."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Select, Static, Switch

from hub.domain.members import MemberView
from hub.domain.money import to_fen, yuan
from hub.domain.profiles import GuestHistory, HistoryOrder, MemberProfile

from ..messages import GuestShown
from ..widgets import Table, TemplateSelect
from .base import Json, Pane


def split(text: str) -> list[str]:
    """A list as staff type it, with ASCII or full-width commas."""
    return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


class MembersPane(Pane):
    KEY = "members"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.member: MemberProfile | None = None  # the guest on screen, as the hub last sent them

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            yield Input(placeholder=t("search"), id="search")
            yield Table(*(t(k) for k in ("name", "phone", "tier", "points", "stored_value")),
                        id="results")
            yield Static(t("no_member"), id="profile", classes="panel")
            yield Static("", id="ledgers", classes="panel")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("notes"), id="edit-notes")
                yield Input(placeholder=t("allergies"), id="edit-allergies")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("seat"), id="edit-seat")
                yield Input(placeholder=f"{t('birthday')} YYYY-MM-DD", id="edit-birthday")
                yield Input(placeholder=t("tags"), id="edit-tags")
                yield Label(t("vip"))
                yield Switch(id="edit-vip")
                yield Button(t("save"), id="save", variant="primary")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("amount_yuan"), id="topup-amount")
                yield Input(placeholder=t("bonus_yuan"), id="topup-bonus")
                yield Button(t("top_up"), id="topup")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("card"), id="card-number")
                yield Button(t("link"), id="link-card")
                yield Button(t("block"), id="block-card", variant="error")
            with Horizontal(classes="row"):
                yield TemplateSelect([], prompt=t("template"), id="member-template")
                yield Button(t("send_coupon"), id="member-coupon")
            with Horizontal(classes="row"):  # issue 20: a person joins a platform user
                yield Select[str]([], prompt=t("delivery_order"), id="delivery-order")
                yield Button(t("join_delivery"), id="delivery-join")
                yield Select[str]([], prompt=t("platform_user"), id="delivery-identity")
                yield Button(t("unjoin"), id="delivery-unjoin", variant="warning")

    def focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def search_as_you_type(self, event: Input.Changed) -> None:
        query = event.value.strip()
        if query:
            self.view("results", lambda: self.console.client.search(query, limit=20),
                      self.show_results)
        else:
            self.drop("results")
            self.query_one("#results", Table).clear()

    def show_results(self, found: list[MemberView]) -> None:
        table = self.query_one("#results", Table)
        table.clear()
        for member in found:
            table.add_row(member["name"] or "-", member["phone"] or "-",
                          self.console.tier_name(member), str(member["points_balance"]),
                          yuan(member["stored_value_fen"]), key=member["id"])

    @on(DataTable.RowSelected, "#results")
    def result_chosen(self, event: DataTable.RowSelected) -> None:
        self.open(str(event.row_key.value))

    def open(self, member_id: str) -> None:
        self.view("member", lambda: self.console.client.member(member_id), self.show_member)

    def show_member(self, member: MemberProfile) -> None:
        self.member = member
        t, console = self.t, self.console
        coupons = ", ".join(f"{c['name']} {c['code']}" for c in member["usable_coupons"])
        favourites = "、".join(f"{d['dish']}×{d['qty']}" for d in member["favourite_dishes"])
        cards = ", ".join(f"{c['number']} ({c['status']})" for c in member["cards"])
        allergies = "、".join(member["allergies"])
        text = (
            f"[b]{member['name'] or '-'}[/b]  {member['phone'] or ''}  "
            f"{console.tier_name(member)}{'  VIP' if member['vip'] else ''}\n"
            f"{t('points')} {member['points_balance']}   {t('stored_value')} "
            f"{yuan(member['stored_value_fen'])}   {t('birthday')} {member['birthday'] or '-'}"
            f"{'  🎂' if member.get('birthday_today') else ''}\n"
            f"{t('allergies')}: [b red]{allergies or t('none')}[/]   {t('spice')}: "
            f"{member.get('spice_label') or '-'}   {t('avoid')}: "
            f"{'、'.join(member['avoid']) or '-'}\n"
            f"{t('notes')}: {member['notes'] or '-'}   {t('seat')}: "
            f"{member['seat_preference'] or '-'}   {t('tags')}: {', '.join(member['tags']) or '-'}"
            f"\n{t('last_visit')}: {console.local_time(member.get('last_visit_at'), '%Y-%m-%d')}"
            f"   {t('favourites')}: {favourites or '-'}\n"
            f"{t('coupons')}: {coupons or '-'}   {t('card')}: {cards or '-'}")
        self.query_one("#profile", Static).update(text)
        self.query_one("#ledgers", Static).update("…")
        member_id, client = member["id"], console.client
        self.view("ledgers", lambda: (client.points(member_id), client.stored_value(member_id),
                                      client.history(member_id)), self.show_ledgers)
        self.view("platform-users", lambda: (client.joinable_orders(),
                                             client.platform_identities(member_id)),
                  self.show_platform_users)
        self.query_one("#edit-notes", Input).value = member["notes"]
        self.query_one("#edit-allergies", Input).value = ", ".join(member["allergies"])
        self.query_one("#edit-seat", Input).value = member["seat_preference"]
        self.query_one("#edit-birthday", Input).value = member["birthday"] or ""
        self.query_one("#edit-tags", Input).value = ", ".join(member["tags"])
        self.query_one("#edit-vip", Switch).value = member["vip"]
        self.post_message(GuestShown(member))

    def show_ledgers(self, answers: tuple[Json, Json, GuestHistory]) -> None:
        points, stored, history = answers
        day = lambda iso: self.console.local_time(iso, "%m-%d")  # noqa: E731

        def line(label: str, items: list[str]) -> str:
            return f"[b]{self.t(label)}[/b] " + ("  ".join(items) or "-")

        self.query_one("#ledgers", Static).update("\n".join([
            line("points", [f"{day(e['created_at'])} {e['kind']} {e['delta']:+d}"
                            for e in points["entries"][-5:]]),
            line("stored_value", [f"{day(e['created_at'])} {e['kind']} {yuan(e['amount_fen'])}"
                                  for e in stored["entries"][-5:]]),
            line("visits", [f"{day(v['visited_at'])} {v['table_no']}×{v['party_size']}"
                            for v in history["visits"][:6]]),
            line("orders", [self.order_text(o) for o in history["orders"][:6]]),
        ]))

    def show_platform_users(self, answers: tuple[list[Json], list[Json]]) -> None:
        """The platform orders nobody's yet, to pick the one the guest shows in their app,
        and the platform users joined to the guest, to undo a wrong join."""
        orders, joined = answers
        t, when = self.t, self.console.local_time
        self.query_one("#delivery-order", Select).set_options(
            (f"{when(o['created_at'], '%m-%d %H:%M')} {t(o['platform'])} {o['dishes'] or ''} "
             f"{yuan(o['paid_fen'])}", f"{o['platform']}\t{o['platform_user_id']}")
            for o in orders)
        self.query_one("#delivery-identity", Select).set_options(
            (f"{t(i['platform'])} {i['platform_user_id']} ({i['joined_by']})",
             f"{i['platform']}\t{i['platform_user_id']}") for i in joined)

    @on(Button.Pressed, "#delivery-join")
    def join_platform_user(self) -> None:
        """The chosen order's platform user joins the guest on screen (the hub audits it)."""
        member_id = self._member_id()
        chosen = self.query_one("#delivery-order", Select).value
        if member_id and isinstance(chosen, str):
            platform, user = chosen.split("\t", 1)
            self.call(lambda: self.console.client.join_platform_user(platform, user, member_id),
                      self.changed("joined"))

    @on(Button.Pressed, "#delivery-unjoin")
    def unjoin_platform_user(self) -> None:
        chosen = self.query_one("#delivery-identity", Select).value
        if self.member is not None and isinstance(chosen, str):
            platform, user = chosen.split("\t", 1)
            self.call(lambda: self.console.client.unjoin_platform_user(platform, user),
                      self.changed("unjoined"))

    def order_text(self, order: HistoryOrder) -> str:
        """One order of the guest's history: when, where (the table, or which platform), what
        they ate and paid, and whether the platform cancelled or refunded it."""
        t = self.t
        where = t(order["platform"] or order["channel"])
        dishes = "、".join(f"{line['dish']}×{line['qty']}" for line in order["lines"][:3])
        more = "…" if len(order["lines"]) > 3 else ""
        ended = f" ({t(order['state'])})" if order["state"] != "placed" else ""
        return (f"{self.console.local_time(order['created_at'], '%m-%d')} {where} {dishes}{more} "
                f"{yuan(order['total_fen'] - order['discount_fen'])}{ended}")

    def reload(self) -> None:
        """Ask the hub again for the guest on screen, after something changed their books."""
        if self.member is not None:
            self.open(self.member["id"])

    def changed(self, word: str) -> Callable[[object], None]:
        """What to do once the hub has changed the guest's books: say so, show them again."""

        def then(_: object) -> None:
            self.notify(self.t(word))
            self.reload()

        return then

    def _member_id(self) -> str | None:
        if self.member is None:
            self.notify(self.t("no_member"), severity="warning")
            return None
        return str(self.member["id"])

    @on(Button.Pressed, "#save")
    def save_member(self) -> None:
        member_id = self._member_id()
        if member_id is None:
            return
        changes = {
            "notes": self.query_one("#edit-notes", Input).value,
            "allergies": split(self.query_one("#edit-allergies", Input).value),
            "seat_preference": self.query_one("#edit-seat", Input).value,
            "birthday": self.query_one("#edit-birthday", Input).value or None,
            "tags": split(self.query_one("#edit-tags", Input).value),
            "vip": self.query_one("#edit-vip", Switch).value,
        }

        def saved(member: MemberProfile) -> None:
            self.show_member(member)
            self.notify(self.t("saved"))

        self.call(lambda: self.console.client.update_member(member_id, changes), saved)

    @on(Button.Pressed, "#topup")
    def top_up(self) -> None:
        member_id = self._member_id()
        if member_id is None:
            return
        try:
            amount = to_fen(self.query_one("#topup-amount", Input).value)
            bonus = to_fen(self.query_one("#topup-bonus", Input).value)
        except ValueError as error:
            self.notify(str(error), severity="error")
            return
        self.call(lambda: self.console.client.top_up(member_id, amount, bonus),
                  self.changed("topped_up"))

    @on(Button.Pressed, "#link-card")
    def link_card(self) -> None:
        member_id = self._member_id()
        number = self.query_one("#card-number", Input).value.strip()
        if member_id and number:

            def linked(member: MemberProfile) -> None:
                self.notify(self.t("linked"))
                self.show_member(member)

            self.call(lambda: self.console.client.link_card(member_id, number), linked)

    @on(Button.Pressed, "#block-card")
    def block_card(self) -> None:
        number = self.query_one("#card-number", Input).value.strip()
        if number:
            self.call(lambda: self.console.client.block_card(number, "lost (console)"),
                      self.changed("blocked"))

    @on(Button.Pressed, "#member-coupon")
    def send_coupon(self) -> None:
        member_id = self._member_id()
        template = self.query_one("#member-template", Select).value
        if member_id and isinstance(template, str):

            def sent(coupon: Json) -> None:
                self.notify(f"{self.t('sent')}: {coupon['code']}")
                self.reload()

            self.call(lambda: self.console.client.send_coupon(template, member_id, "console"),
                      sent)
