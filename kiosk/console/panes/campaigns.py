"""Campaigns: switch one on or off, run it now, edit it, read the exact texts a sample of its
audience would get, and see what it brought back."""

from __future__ import annotations

import json

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Static

from hub.domain.money import yuan

from ..widgets import Table
from .base import Json, Pane

# What the console lets an owner change of a campaign, as JSON (checked by the hub).
EDITABLE = ("name", "audience", "offer", "message_zh", "message_en", "channels", "schedule",
            "control_pct")


class CampaignsPane(Pane):
    KEY = "campaigns"

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.campaigns: dict[str, Json] = {}  # by id, as the hub last sent them

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            yield Table(*(t(k) for k in ("name", "kind", "schedule", "state", "last_run")),
                        id="campaign-table")
            with Horizontal(classes="row"):
                yield Button(t("switch"), id="campaign-toggle")
                yield Button(t("run_now"), id="campaign-run", variant="primary")
                yield Button(t("results"), id="campaign-results")
                yield Button(t("texts"), id="campaign-texts")
            yield Static("", id="campaign-detail", classes="panel")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("campaign_json"), id="campaign-edit")
                yield Button(t("save"), id="campaign-save", variant="primary")
            with Horizontal(classes="row"):
                yield Input(placeholder=t("rules"), id="rules")
                yield Button(t("preview"), id="preview")
            yield Static("", id="preview-count")

    def opened(self) -> None:
        self.load()

    def load(self) -> None:
        self.view("campaigns", self.console.client.campaigns, self.show)

    def show(self, campaigns: list[Json]) -> None:
        self.campaigns = {c["id"]: c for c in campaigns}
        table = self.query_one("#campaign-table", Table)
        table.clear()
        for campaign in campaigns:
            schedule = campaign["schedule"]
            when = schedule["run"] + (f" {schedule['at']}" if schedule["run"] == "daily" else "")
            table.add_row(campaign["name"], campaign["kind"], when,
                          self.t("on") if campaign["active"] else self.t("off"),
                          self.console.local_time(campaign["last_run_at"], "%m-%d %H:%M"),
                          key=campaign["id"])

    def chosen(self) -> str | None:
        return self.query_one("#campaign-table", Table).chosen()

    @on(Button.Pressed, "#campaign-toggle")
    def toggle(self) -> None:
        campaign_id = self.chosen()
        if campaign_id is None:
            return
        active = not self.campaigns[campaign_id]["active"]
        self.call(lambda: self.console.client.update_campaign(campaign_id, {"active": active}),
                  lambda _: self.load())

    @on(Button.Pressed, "#campaign-run")
    def run(self) -> None:
        campaign_id = self.chosen()
        if campaign_id is None:
            return

        def done(run: Json) -> None:
            self.notify(f"{self.t('audience')} {run['audience']}: {self.t('treated')} "
                        f"{run['treated']}, {self.t('control')} {run['control']}")
            self.load()
            self.show_results_of(campaign_id)

        self.call(lambda: self.console.client.run_campaign(campaign_id), done)

    @on(Button.Pressed, "#campaign-results")
    @on(DataTable.RowSelected, "#campaign-table")
    def results(self) -> None:
        campaign_id = self.chosen()
        if campaign_id is not None:
            self.show_results_of(campaign_id)

    @on(DataTable.RowHighlighted, "#campaign-table")
    def to_edit(self) -> None:
        campaign = self.campaigns.get(self.chosen() or "", {})
        editable = {k: campaign[k] for k in EDITABLE if k in campaign}
        self.query_one("#campaign-edit", Input).value = json.dumps(editable, ensure_ascii=False)

    @on(Button.Pressed, "#campaign-save")
    def save(self) -> None:
        campaign_id = self.chosen()
        if campaign_id is None:
            return
        try:
            changes = json.loads(self.query_one("#campaign-edit", Input).value)
        except ValueError as error:
            self.notify(f"JSON: {error}", severity="error")
            return

        def saved(_: Json) -> None:
            self.notify(self.t("saved"))
            self.load()

        self.call(lambda: self.console.client.update_campaign(campaign_id, changes), saved)

    def show_results_of(self, campaign_id: str) -> None:
        self.view("detail", lambda: self.console.client.campaign_results(campaign_id),
                  self.show_results)

    def show_results(self, results: Json) -> None:
        t = self.t
        lines = [f"[b]{results['campaign']['name']}[/b]"]
        m = results["messages"]
        lines.append(f"{t('messages')}: {m['sent_total']} ✓ {m['delivered']} ✓✓ "
                     f"{m['failed']} ✗ {m['skipped']} – {m['queued'] + m['held']} …")
        groups = {**results["arms"], **results["calls"]}
        for arm in ("treated", "control", "called", "not_called"):
            a = groups[arm]
            lines.append(f"{t(arm)}: {t('guests')} {a['guests']} · {t('redeemed')} "
                         f"{a['coupons_redeemed']}/{a['coupons_issued']} · {t('returned')} "
                         f"{a['returned']} ({a['return_rate']:.1%}) · {t('spend')} "
                         f"{yuan(a['spend_fen'])}")
        if results["lift"]:
            lines.append(f"{t('lift')}: {results['lift']['return_rate_pts']:+.2f} pts · "
                         f"{yuan(results['lift']['spend_per_guest_fen'])}/{t('guests')}")
        self.query_one("#campaign-detail", Static).update("\n".join(lines))

    @on(Button.Pressed, "#campaign-texts")
    def texts(self) -> None:
        campaign_id = self.chosen()
        if campaign_id is not None:
            self.view("detail", lambda: self.console.client.campaign_preview(campaign_id),
                      self.show_texts)

    def show_texts(self, shown: Json) -> None:
        """What the guests' phones, mailboxes and receipts would show, word for word."""
        t = self.t
        name = self.campaigns.get(shown["campaign_id"], {}).get("name", "")
        lines = [f"[b]{escape(name)}[/b] · {t('audience')}: {shown['count']}"]
        for message in shown["messages"]:
            fate = message["status"] + (f": {message['reason']}" if message["reason"] else "")
            lines.append(f"{escape(message['name'] or '')} · {message['channel']} · "
                         f"{escape(fate)}")
            lines.append(f"  {escape(message['text'])}")
        self.query_one("#campaign-detail", Static).update("\n".join(lines))

    @on(Button.Pressed, "#preview")
    @on(Input.Submitted, "#rules")
    def preview_rules(self) -> None:
        text = self.query_one("#rules", Input).value.strip() or "{}"
        try:
            rules = json.loads(text)
        except ValueError as error:
            self.notify(f"JSON: {error}", severity="error")
            return
        self.view("preview", lambda: self.console.client.preview(rules),
                  lambda found: self.query_one("#preview-count", Static).update(
                      f"{self.t('audience')}: {found['count']}"))
