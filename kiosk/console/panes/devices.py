"""Paired tablets and kiosks, pairing a new one, the printers' and readers' health, and the
hub's own: each background worker's state, what the chain sent that could not apply and the
group-buy vouchers taken offline that the platform then refused, for the owner to settle."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Select, Static

from ..widgets import Table
from .base import Json, Pane

ROLES = ("waiter", "cashier", "manager", "kiosk")  # the roles the console pairs


class DevicesPane(Pane):
    KEY = "devices"

    def compose(self) -> ComposeResult:
        t = self.t
        with VerticalScroll():
            yield Table(*(t(k) for k in ("name", "role", "last_seen", "state")),
                        id="device-table")
            with Horizontal(classes="row"):
                yield Select[str]([(r, r) for r in ROLES], value="waiter",
                                  allow_blank=False, id="pair-role")
                yield Button(t("pair"), id="pair")
                yield Button(t("revoke"), id="revoke", variant="error")
                yield Button(t("test_page"), id="test-page")
            yield Static("", id="pair-code", classes="panel")
            yield Static("", id="hardware", classes="panel")
            yield Static("", id="sync-state", classes="panel")
            yield Table(*(t(k) for k in ("time", "event", "from_store", "reason")),
                        id="conflict-table")
            yield Table(*(t(k) for k in ("time", "voucher_code", "voucher_yuan", "order_id",
                                         "reason")), id="voucher-table")
            with Horizontal(classes="row"):
                yield Button(t("voucher_loss"), id="voucher-loss", variant="warning")
                yield Button(t("voucher_reverified"), id="voucher-reverified")

    def on_mount(self) -> None:
        self.load()

    def opened(self) -> None:
        self.load()

    def load(self) -> None:
        client = self.console.client
        self.view("devices", lambda: (client.devices(), client.health(), client.sync_conflicts(),
                                      client.flagged_vouchers()), self.show)

    def show(self, answers: tuple[list[Json], Json, list[Json], list[Json]]) -> None:
        devices, health, conflicts, flagged = answers
        t = self.t
        table = self.query_one("#device-table", Table)
        table.clear()
        for device in devices:
            state = "revoked" if device["revoked_at"] else t("online")
            table.add_row(device["name"], device["role"],
                          self.console.local_time(device["last_seen_at"], "%m-%d %H:%M"), state,
                          key=device["id"])
        lines = [f"{t('printers')}: " + "; ".join(
            f"{p['name']} {p['url']} {p['width']}mm "
            f"{'✓' if p['ready'] is not False else p['problem']} ({p['waiting_jobs']})"
            for p in health["printers"])]
        lines.append(f"{t('readers')}: " + ("; ".join(
            f"{r['station']} {r['url']} {r['protocol']} "
            f"{t('online') if r['connected'] else t('offline')}"
            for r in health["readers"]) or t("none")))
        self.query_one("#hardware", Static).update("\n".join(lines))
        self.show_sync(health, conflicts)
        table = self.query_one("#voucher-table", Table)
        table.clear()
        for voucher in reversed(flagged):  # the newest first
            table.add_row(self.console.local_time(voucher["created_at"], "%m-%d %H:%M"),
                          voucher["code"], f"{voucher['tender_fen'] / 100:.2f}",
                          voucher["order_id"], voucher["refusal"] or "", key=voucher["id"])

    def show_sync(self, health: Json, conflicts: list[Json]) -> None:
        """Every worker's state (a failing one with its last error) and the conflicts a
        person must settle: nothing the hub does in the background fails unseen."""
        t = self.t
        sync = health["sync"]
        lines = [f"{t('hq')}: {t('online') if sync['connected'] else t('offline')}, "
                 f"{t('backlog')} {sync['backlog']}, {t('conflicts')} {sync['conflicts']}"]
        lines += [f"{t('workers')}: " + "; ".join(
            f"{w['name']} {t('worker_' + w['state'].replace(' ', '_'))}"
            + (f" ({w['last_error']})" if w["state"] == "failing" and w["last_error"] else "")
            for w in health["workers"])]
        self.query_one("#sync-state", Static).update("\n".join(lines))
        table = self.query_one("#conflict-table", Table)
        table.clear()
        for conflict in reversed(conflicts):  # the newest first
            table.add_row(self.console.local_time(conflict["at"], "%m-%d %H:%M"),
                          conflict["type"], conflict["origin_store"] or "-", conflict["reason"],
                          key=str(conflict["id"]))

    @on(Button.Pressed, "#pair")
    def new_pairing_code(self) -> None:
        role = str(self.query_one("#pair-role", Select).value)
        self.call(lambda: self.console.client.pairing_code(role), lambda code: self.query_one(
            "#pair-code", Static).update(
            f"{self.t('pairing_code')}: [b]{code['code']}[/b] ({role})\n{code['pair_url']}"))

    @on(Button.Pressed, "#revoke")
    def revoke_device(self) -> None:
        device_id = self.query_one("#device-table", Table).chosen()
        if device_id is not None:
            self.call(lambda: self.console.client.revoke(device_id), lambda _: self.load())

    @on(Button.Pressed, "#voucher-loss")
    @on(Button.Pressed, "#voucher-reverified")
    def settle_voucher(self, event: Button.Pressed) -> None:
        """The chosen flagged voucher settled as the button says (the hub audits it)."""
        voucher_id = self.query_one("#voucher-table", Table).chosen()
        resolution = "loss" if event.button.id == "voucher-loss" else "reverified"
        if voucher_id is not None:
            self.call(lambda: self.console.client.resolve_voucher(voucher_id, resolution),
                      lambda _: self.load())

    @on(Button.Pressed, "#test-page")
    def test_page(self) -> None:
        self.console.action_test_page()
