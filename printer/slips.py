"""From the store's books to queued slips: receipts, coupons, welcome slips, kitchen tickets,
shift summaries and test pages."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from hub.domain import coupons as vouchers
from hub.domain.calls import get_call
from hub.domain.clock import day_bounds, from_iso
from hub.domain.config import PrinterSettings
from hub.domain.errors import InvalidInput, NotFound, OrderNotFound
from hub.domain.feedback import feedback_url
from hub.domain.members import (
    SPICE_LEVELS,
    member_qr,
    member_row,
    points_balance,
    stored_value_balance,
)
from hub.domain.offers import welcome_template
from hub.domain.outreach import deliver_held
from hub.domain.store import Store
from hub.domain.tables import send_round

from . import layouts
from .doc import Doc
from .escpos_out import to_escpos
from .queue import enqueue, printer_for


def _local(store: Store, iso: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return from_iso(iso).astimezone(ZoneInfo(store.settings.timezone)).strftime(fmt)


def _queue(store: Store, printer: PrinterSettings, kind: str, doc: Doc, *, subject: str | None,
           coupon_code: str | None, reprint: bool, actor: str) -> dict[str, Any]:
    data = to_escpos(doc, printer.profile, printer.encoding)
    return enqueue(store, printer, kind, data, doc.plain_text(), subject=subject,
                   coupon_code=coupon_code, reprint=reprint, requested_by=actor)


def coupon_slip(store: Store, code: str) -> layouts.CouponSlip:
    coupon = vouchers.coupon_view(store, code)
    member = member_row(store, coupon["member_id"]) if coupon["member_id"] else None
    return layouts.CouponSlip(
        title=coupon["name"], value=vouchers.offer_value(coupon),
        conditions=vouchers.offer_conditions(coupon),
        valid_from=_local(store, coupon["valid_from"], "%Y-%m-%d"),
        valid_until=_local(store, coupon["valid_until"], "%Y-%m-%d"),
        code=coupon["code"], member_name=member["name"] if member else None,
        store_name=store.settings.store_name)


def print_receipt(store: Store, order_id: str, printer: str | None = None, *,
                  reprint: bool = False, actor: str = "system",
                  width: int | None = None) -> dict[str, Any]:
    """Queue the order's receipt; a member's first receipt carries a fresh next-visit coupon
    (when the store names a template), and a reprint carries the same one again."""
    target = _with_width(printer_for(store.settings, printer), width)
    with store.write():
        order = store.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        first = store.one("SELECT coupon_code FROM print_jobs WHERE kind = 'receipt' AND "
                          "subject = ? AND reprint = 0", (order_id,))
        if first is not None and not reprint:
            raise InvalidInput(f"the receipt of order {order_id} was already printed; "
                               "ask for a reprint")
        next_code = first["coupon_code"] if first is not None else None
        template = vouchers.template_by_name(store,
                                             store.settings.printing.next_coupon_template)
        if first is None and order["member_id"] and template:
            next_code = vouchers.issue_while_left(store, template, order["member_id"],
                                                  reason="next visit")
        data = receipt_data(store, order, next_code)
        if first is None and order["member_id"]:
            data.notes = deliver_held(store, order["member_id"], "receipt")
        doc = layouts.receipt(data, target.width, store.settings.locale, reprint=reprint)
        return _queue(store, target, "receipt", doc, subject=order_id, coupon_code=next_code,
                      reprint=reprint, actor=actor)


def receipt_data(store: Store, order: Any, next_code: str | None) -> layouts.Receipt:
    lines = [layouts.ReceiptLine(r["dish"], r["qty"], r["unit_price_fen"]) for r in
             store.conn.execute("SELECT * FROM order_lines WHERE order_id = ? ORDER BY line_no",
                                (order["id"],))]
    table = store.scalar("SELECT table_no FROM visits WHERE id = ?", (order["visit_id"],)) \
        if order["visit_id"] else None
    staff = store.scalar("SELECT name FROM staff WHERE id = ?", (order["staff_id"],)) \
        if order["staff_id"] else None
    member = member_row(store, order["member_id"]) if order["member_id"] else None
    tier = store.settings.tier(order["tier"]) if order["tier"] else None
    return layouts.Receipt(
        store_name=store.settings.store_name, order_id=order["id"],
        time=_local(store, order["created_at"]), lines=lines, total_fen=order["total_fen"],
        due_fen=order["total_fen"] - order["discount_fen"], channel=order["channel"],
        table=table, staff=staff, combo_discount_fen=order["combo_discount_fen"],
        tier_discount_fen=order["tier_discount_fen"],
        promo_discount_fen=order["promo_discount_fen"],
        coupon_discount_fen=order["coupon_discount_fen"], coupon_code=order["coupon_code"],
        points_redeemed=order["points_redeemed"],
        points_discount_fen=order["points_discount_fen"],
        points_earned=order["points_earned"],
        points_balance=points_balance(store, member["id"]) if member else None,
        stored_value_paid_fen=order["stored_value_paid_fen"],
        stored_value_left_fen=stored_value_balance(store, member["id"]) if member else None,
        tenders=[(r["method"], r["amount_fen"], r["received_fen"]) for r in store.conn.execute(
            "SELECT method, amount_fen, received_fen FROM order_tenders WHERE order_id = ? "
            "ORDER BY line_no", (order["id"],))],
        member_name=(member["name"] or "") if member else None,
        tier_name=(tier.name if store.settings.locale == "zh-CN" else tier.name_en)
        if tier else None,
        next_coupon=coupon_slip(store, next_code) if next_code else None,
        member_qr=member_qr(store, member["id"]) if member and not member["erased_at"]
        else None,
        feedback_url=feedback_url(store, order["id"]),
        claim_code=store.scalar("SELECT claim_code FROM delivery_orders WHERE order_id = ? "
                                "AND member_id IS NULL", (order["id"],)))


def print_coupon(store: Store, code: str, printer: str | None = None, *, reprint: bool = False,
                 actor: str = "system", width: int | None = None) -> dict[str, Any]:
    """Queue a coupon; printing the same coupon again needs `reprint` (a person's request)."""
    target = _with_width(printer_for(store.settings, printer), width)
    slip = coupon_slip(store, code)
    doc = layouts.coupon(slip, target.width, store.settings.locale, reprint=reprint)
    return _queue(store, target, "coupon", doc, subject=slip.code, coupon_code=slip.code,
                  reprint=reprint, actor=actor)


def print_posted_coupon(store: Store, call_id: str, printer: str | None = None, *,
                        actor: str = "system") -> dict[str, Any]:
    """Queue the coupon a call posts (`send: post`), headed by the guest's name and the
    address they gave on the phone; once, like every coupon."""
    call = get_call(store, call_id)
    if call["sent"] != "post" or call["coupon_code"] is None or call["address"] is None:
        raise InvalidInput("this call posted no coupon (or the guest has been erased)")
    target = printer_for(store.settings, printer)
    slip = coupon_slip(store, call["coupon_code"])
    doc = layouts.coupon(slip, target.width, store.settings.locale,
                         mail_to=(slip.member_name or "", call["address"]))
    return _queue(store, target, "coupon", doc, subject=slip.code, coupon_code=slip.code,
                  reprint=False, actor=actor)


def print_welcome(store: Store, member_id: str, printer: str | None = None, *,
                  reprint: bool = False, actor: str = "system") -> dict[str, Any]:
    target = printer_for(store.settings, printer)
    with store.write():
        member = member_row(store, member_id)
        first = store.one("SELECT coupon_code FROM print_jobs WHERE kind = 'welcome' AND "
                          "subject = ? AND reprint = 0", (member_id,))
        code = first["coupon_code"] if first is not None else None
        template = welcome_template(store)
        if first is None and template:
            code = vouchers.issue_while_left(store, template, member_id, reason="welcome")
        doc = layouts.welcome(store.settings.store_name, member["name"] or "",
                              member_qr(store, member_id),
                              coupon_slip(store, code) if code else None, target.width,
                              store.settings.locale, reprint=reprint or first is not None)
        return _queue(store, target, "welcome", doc, subject=member_id, coupon_code=code,
                      reprint=reprint or first is not None, actor=actor)


def _kitchen_ticket(store: Store, visit_id: str, **round_: Any) -> layouts.KitchenTicket:
    """The table, the party and the guest's allergies and taste: on every kitchen ticket."""
    visit = store.one("SELECT * FROM visits WHERE id = ?", (visit_id,))
    if visit is None:
        raise NotFound(f"no visit {visit_id!r}")
    member = member_row(store, visit["member_id"]) if visit["member_id"] else None
    return layouts.KitchenTicket(
        table=visit["table_no"], party_size=visit["party_size"],
        time=_local(store, visit["visited_at"], "%H:%M"),
        guest=member["name"] if member else None,
        allergies=json.loads(member["allergies"]) if member else [],
        spice=SPICE_LEVELS.get(member["spice_level"] or "", "") if member else "",
        avoid=json.loads(member["avoid"]) if member else [],
        notes=member["notes"] if member else "", **round_)


def print_kitchen(store: Store, visit_id: str, printer: str | None = None, *,
                  actor: str = "system") -> dict[str, Any]:
    target = printer_for(store.settings, printer)
    doc = layouts.kitchen(_kitchen_ticket(store, visit_id), target.width,
                          store.settings.locale)
    return _queue(store, target, "kitchen", doc, subject=visit_id, coupon_code=None,
                  reprint=False, actor=actor)


def station_printer(store: Store, station: str) -> PrinterSettings:
    """The printer that names this station, else the first printer (or the virtual one)."""
    for configured in store.settings.printers:
        if station in configured.stations:
            return configured
    return printer_for(store.settings, None)


def print_round(store: Store, tab_id: str, actor: str = "system") -> list[dict[str, Any]]:
    """Send what is new on a table to the kitchen: one ticket per station with only the new
    dishes, and the guest's allergies on every one. Nothing new: no ticket."""
    with store.write():
        sent = send_round(store, tab_id)
        jobs = []
        for station, items in sent.by_station.items():
            target = station_printer(store, station)
            ticket = _kitchen_ticket(store, sent.tab["visit_id"], station=station,
                                     items=[(item["dish"], item["qty"]) for item in items])
            doc = layouts.kitchen(ticket, target.width, store.settings.locale)
            jobs.append(_queue(store, target, "kitchen", doc, subject=sent.tab["visit_id"],
                               coupon_code=None, reprint=False, actor=actor))
    return jobs


def shift_data(store: Store, day: date, counted_cash_fen: int | None = None
               ) -> layouts.ShiftSummary:
    """The day's takings by channel and by tender, and the cash drawer against a count."""
    bounds = day_bounds(store.settings.timezone, day)
    totals = store.totals(
        "SELECT COUNT(*) AS orders, COALESCE(SUM(total_fen - discount_fen), 0) AS revenue, "
        "COALESCE(SUM(discount_fen), 0) AS discounts, "
        "COALESCE(SUM(stored_value_paid_fen), 0) AS sv, COALESCE(SUM(points_earned), 0) AS pe, "
        "COALESCE(SUM(points_redeemed), 0) AS pr, COUNT(coupon_code) AS coupons "
        "FROM orders WHERE created_at >= ? AND created_at < ?", bounds)
    channels = {r[0]: r[1] for r in store.conn.execute(
        "SELECT channel, COUNT(*) FROM orders WHERE created_at >= ? AND created_at < ? "
        "GROUP BY channel ORDER BY channel", bounds)}
    return layouts.ShiftSummary(
        store_name=store.settings.store_name, day=day.isoformat(), orders=totals["orders"],
        covers=store.scalar("SELECT COALESCE(SUM(party_size), 0) FROM visits "
                            "WHERE visited_at >= ? AND visited_at < ?", bounds),
        revenue_fen=totals["revenue"], discounts_fen=totals["discounts"],
        stored_value_paid_fen=totals["sv"],
        topups_fen=store.scalar("SELECT COALESCE(SUM(amount_fen), 0) FROM stored_value_ledger "
                                "WHERE kind = 'topup' AND created_at >= ? AND created_at < ?",
                                bounds),
        coupons_used=totals["coupons"], points_issued=totals["pe"],
        points_redeemed=totals["pr"], by_channel=channels,
        by_tender={r[0]: r[1] for r in store.conn.execute(
            "SELECT t.method, SUM(t.amount_fen) FROM order_tenders t JOIN orders o "
            "ON o.id = t.order_id WHERE o.created_at >= ? AND o.created_at < ? "
            "GROUP BY t.method ORDER BY t.method", bounds)},
        counted_cash_fen=counted_cash_fen)


def print_shift(store: Store, day: date, printer: str | None = None, *,
                actor: str = "system", counted_cash_fen: int | None = None) -> dict[str, Any]:
    target = printer_for(store.settings, printer)
    doc = layouts.shift(shift_data(store, day, counted_cash_fen), target.width,
                        store.settings.locale)
    return _queue(store, target, "shift", doc, subject=day.isoformat(), coupon_code=None,
                  reprint=False, actor=actor)


def print_test_page(store: Store, printer: str | None = None, *, actor: str = "system",
                    width: int | None = None) -> dict[str, Any]:
    target = _with_width(printer_for(store.settings, printer), width)
    doc = layouts.test_page(target.name, target.url, target.width)
    return _queue(store, target, "test", doc, subject=None, coupon_code=None, reprint=False,
                  actor=actor)


def _with_width(printer: PrinterSettings, width: int | None) -> PrinterSettings:
    if width is None:
        return printer
    if width not in (58, 80):
        raise InvalidInput("paper width is 58 or 80 mm")
    return printer.model_copy(update={"width": width})
