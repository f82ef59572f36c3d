"""Health, pairing, devices, staff, audit, segments and what zeroconf found on the LAN."""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from ..domain import devices as registry
from ..domain.clock import to_iso
from ..domain.dashboard import day_summary
from ..domain.errors import InvalidInput
from ..domain.members import member_row, member_view
from ..domain.profiles import checkin_card, guest_card, member_profile
from ..domain.replica import conflicts
from ..domain.reports import REPORTS, Report, parse_range, report
from ..domain.segments import SEGMENTS, segment
from ..domain.staff import add_staff, list_staff
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..metrics import render as render_metrics
from ..report_files import export_report
from ..tls import pair_link
from ..workers import workers_of
from .auth import COOKIE, Caller, bearer, count_attempt, hub_of, require, token_of
from .models import DeviceCreate, Pairing, PairingCodeCreate, StaffCreate
from .printing import printer_states

router = APIRouter(tags=["hub"])
pairing_page = APIRouter(include_in_schema=False)
Json = dict[str, Any]
LANDING = {"kiosk": "/kiosk"}  # every other role lands on the waiter tablet


@router.get("/health", summary="Is the hub up? (no token needed; device addresses only "
            "for a device that manages devices)")
def health(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Json:
    hub = hub_of(request)
    store = hub.store()
    token = token_of(request, credentials)
    device = registry.device_for_token(store, token) if token else None
    doc = _health(request)
    if device is None or not registry.may(device["role"], "device.manage"):
        # Anyone on the LAN may ask; printer, reader and broker addresses are a map for an
        # attacker, so they need a token.
        doc = _without_addresses(doc)
    return doc


@router.get("/metrics", response_class=Response, summary="The hub's health as Prometheus "
            "metrics (no token needed: the figures /health answers anyone, no addresses)")
def metrics(request: Request) -> Response:
    return Response(render_metrics(_without_addresses(_health(request))),
                    media_type=METRICS_TYPE)


def _without_addresses(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v is not None if k == "broker" else _without_addresses(v))
                for k, v in value.items() if k != "url"}
    if isinstance(value, list):
        return [_without_addresses(v) for v in value]
    return value


def _health(request: Request) -> Json:
    hub = hub_of(request)
    store = hub.store()
    return {
        "status": "ok",
        "store_id": hub.settings.store_id,
        "store_name": hub.settings.store_name,
        "version": hub.version,
        "consent_version": hub.settings.privacy.consent_version,
        "schema": store.schema_version(),
        "time": store.now_iso(),
        "sync": {"backlog": store.scalar("SELECT COUNT(*) FROM outbox"),
                 "broker": hub.settings.broker.url or None,
                 "connected": hub.sync.connected.is_set() if hub.sync else False,
                 "hq_applied_seq": int(store.meta("hq_applied_seq") or 0),
                 "conflicts": store.scalar("SELECT COUNT(*) FROM sync_conflicts")},
        "printers": printer_states(request),
        "print_queue": {"waiting": store.scalar(
            "SELECT COUNT(*) FROM print_jobs WHERE state IN ('queued', 'waiting')"),
            "unconfirmed": store.scalar(
                "SELECT COUNT(*) FROM print_jobs WHERE state = 'unconfirmed'")},
        "readers": [reader.state() for reader in hub.readers] if hub.readers else [
            {"url": r.url, "protocol": r.protocol, "station": r.station, "connected": None}
            for r in hub.settings.readers],
        "event_subscribers": hub.events.subscriber_count,
        "lan_devices": hub.lan.count_online() if hub.lan else None,
        "workers": [worker.state() for worker in workers_of(hub)],
    }


def _pair_url(request: Request, code: str) -> str:
    certificate = hub_of(request).tls
    return pair_link(str(request.base_url), code, certificate.pin if certificate else None)


def _guard_owner(who: Caller, role: str) -> None:
    if role == "owner" and who.role != "owner":
        raise HTTPException(403, "only an owner device can add or revoke an owner device")


@router.post("/devices", status_code=201, summary="Register a device; its token shows once")
def create_device(body: DeviceCreate, request: Request,
                  who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    _guard_owner(who, body.role)
    store = hub_of(request).store()
    if body.pair_link and body.role == "owner":
        raise InvalidInput("no pairing link for an owner device: use its token")
    device, token = registry.add_device(store, body.name, body.role, actor=who.actor)
    pair_url = None
    if body.pair_link:  # a live code is a way in: minted only when asked for
        code = registry.create_pairing_code(store, body.role, who.actor, device_id=device["id"])
        pair_url = _pair_url(request, code["code"])
    return {"device": device, "token": token, "pair_url": pair_url}


@router.post("/devices/pairing-codes", status_code=201,
             summary="A six-digit code for a new tablet or kiosk (valid ten minutes)")
def create_pairing_code(body: PairingCodeCreate, request: Request,
                        who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    _guard_owner(who, body.role)
    code = registry.create_pairing_code(hub_of(request).store(), body.role, who.actor)
    return {"code": code["code"], "role": body.role, "expires_at": code["expires_at"],
            "pair_url": _pair_url(request, code["code"])}


@router.get("/devices", summary="Paired devices")
def list_devices(request: Request,
                 who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    return {"devices": registry.list_devices(hub_of(request).store())}


@router.delete("/devices/{device_id}", summary="Revoke a device: its tokens stop working")
def revoke_device(device_id: str, request: Request,
                  who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    store = hub_of(request).store()
    _guard_owner(who, registry.get_device(store, device_id)["role"])
    return registry.revoke_device(store, device_id, actor=who.actor)


def _pair(request: Request, code: str, name: str | None) -> tuple[Json, str]:
    hub = hub_of(request)
    key = f"pair:{request.client.host if request.client else '?'}"
    # Per address, and for the whole LAN: many addresses must not multiply the guesses.
    count_attempt(hub.pairing_guesses, key, "too many pairing attempts")
    count_attempt(hub.lan_pairing_guesses, "pair:*", "too many pairing attempts on this LAN")
    device, token = registry.pair(hub.store(), code, name)
    hub.pairing_guesses.succeeded(key)
    hub.lan_pairing_guesses.succeeded("pair:*")
    hub.events.publish("device.paired", {"id": device["id"], "name": device["name"],
                                         "role": device["role"]})
    return device, token


@router.post("/pair", status_code=201, summary="Pair with a code (no token needed)")
def pair_device(body: Pairing, request: Request) -> Json:
    device, token = _pair(request, body.code, body.name)
    return {"device": device, "token": token}


@pairing_page.get("/pair")
def pair_in_browser(request: Request, code: Annotated[str, Query(max_length=12)] = "",
                    name: Annotated[str, Query(max_length=60)] = "") -> RedirectResponse:
    """Opening a pairing link pairs the browser (a cookie) and lands on its page."""
    device, token = _pair(request, code, name or None)
    response = RedirectResponse(LANDING.get(device["role"], "/tablet"), status_code=303)
    # Secure over HTTPS: the browser then never sends it over plain HTTP, not even to the
    # redirect
    response.set_cookie(COOKIE, token, max_age=10 * 365 * 86400, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@pairing_page.get("/", response_class=HTMLResponse)
def home_page(request: Request) -> str:
    hub = hub_of(request)
    return (f"<!doctype html><meta charset=utf-8><title>laoke {hub.settings.store_name}"
            f"</title><h1>老客 laoke — {hub.settings.store_name}</h1>"
            "<p>Tablets: <a href=/tablet>/tablet</a> · Kiosk: <a href=/kiosk>/kiosk</a> · "
            "API: <a href=/docs>/docs</a>"
            + (" · 信任证书 Trust the certificate: <a href=/trust>/trust</a>" if hub.tls else "")
            + "</p>")


@router.post("/staff", status_code=201, summary="Add a staff member with a PIN")
def create_staff(body: StaffCreate, request: Request,
                 who: Annotated[Caller, Depends(require("staff.manage"))]) -> Json:
    return add_staff(hub_of(request).store(), body.name, body.role, body.pin, actor=who.actor)


@router.get("/staff", summary="Staff (without PINs)")
def get_staff(request: Request, who: Annotated[Caller, Depends(require("staff.read"))]) -> Json:
    return {"staff": list_staff(hub_of(request).store())}


@router.get("/audit", summary="The audit log, newest first")
def audit(request: Request, who: Annotated[Caller, Depends(require("audit.read"))],
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Json:
    rows = hub_of(request).store().conn.execute(
        "SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?", (limit,))
    return {"entries": [dict(r) for r in rows]}


@router.get("/sync/conflicts", summary="What other stores sent that could not be applied here, "
            "for a person to settle (the latest, oldest first)")
def sync_conflicts(request: Request, who: Annotated[Caller, Depends(require("sync.read"))],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Json:
    return {"conflicts": conflicts(hub_of(request).store(), limit)}


@router.get("/segments/{name}", summary="Lapsed guests or upcoming birthdays, with members")
def get_segment(name: str, request: Request,
                who: Annotated[Caller, Depends(require("segment.read"))],
                days: Annotated[int | None, Query(ge=0, le=3650)] = None,
                limit: Annotated[int, Query(ge=0, le=1000)] = 100) -> Json:
    if name not in SEGMENTS:
        raise HTTPException(404, f"unknown segment {name!r}; known: {', '.join(SEGMENTS)}")
    store = hub_of(request).store()
    ids = segment(store, name, days)
    members = [member_view(store, member_row(store, i), masked=who.masked) for i in ids[:limit]]
    return {"count": len(ids), "member_ids": ids, "members": members}


@router.get("/dashboard", summary="Today against the same weekday last week, and who is here")
def dashboard(request: Request, who: Annotated[Caller, Depends(require("segment.read"))],
              hours: Annotated[int, Query(ge=1, le=12)] = 3) -> Json:
    store = hub_of(request).store()
    summary = day_summary(store)
    since = to_iso(store.now() - timedelta(hours=hours))
    here = []
    for visit in store.conn.execute(
            "SELECT * FROM visits WHERE visited_at >= ? ORDER BY visited_at DESC LIMIT 50",
            (since,)):
        member = guest_card(member_profile(store, visit["member_id"], masked=who.masked)) \
            if visit["member_id"] else None
        here.append(checkin_card(dict(visit), member, "") | {"at": visit["visited_at"]})
    seen = to_iso(store.now() - timedelta(minutes=5))
    return {"today": asdict(summary.today), "same_day_last_week":
            asdict(summary.same_day_last_week), "members": summary.members,
            "lapsed_90": summary.lapsed_90, "birthdays_7": summary.birthdays_7,
            "checked_in": here,
            "devices_online": store.scalar("SELECT COUNT(*) FROM devices WHERE revoked_at "
                                           "IS NULL AND last_seen_at >= ?", (seen,))}


FileFormat = Literal["csv", "xlsx", "png"]


def _known(name: str) -> None:
    if name not in REPORTS:
        raise HTTPException(404, f"unknown report {name!r}; known: {', '.join(REPORTS)}")


@router.get("/reports/{name}", response_model=Json, summary="A report: dishes, pairings, "
            "dish_mix (?category= narrows it), hours, party_sizes, occupancy, repurchase, "
            "cohorts, rfm, staff, channels, summary, coupons, lapsed, birthdays or forecast")
def get_report(name: str, request: Request,
               who: Annotated[Caller, Depends(require("report.read"))],
               start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
               end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
               weather: Annotated[float | None, Query(ge=0.1, le=3)] = None,
               category: Annotated[str | None, Query(max_length=100)] = None) -> Report:
    first, last = parse_range(start, end)
    _known(name)
    return report(hub_of(request).store(), name, first, last, weather, category)


@router.get("/reports/{name}/export", summary="A report as a file: its tables (XLSX, or CSV "
            "zipped when there are several) or its chart (PNG); audited",
            response_class=Response)
def export_report_file(name: str, request: Request,
                       who: Annotated[Caller, Depends(require("export"))],
                       fmt: Annotated[FileFormat, Query(alias="format")] = "xlsx",
                       start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                       end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
                       category: Annotated[str | None, Query(max_length=100)] = None
                       ) -> Response:
    first, last = parse_range(start, end)
    _known(name)
    with tempfile.TemporaryDirectory(prefix="laoke-report-") as work:
        store = hub_of(request).store()
        written = export_report(store, report(store, name, first, last, category=category),
                                Path(work), "xlsx" if fmt == "xlsx" else "csv", actor=who.actor)
        wanted = [p for p in written if p.suffix == f".{fmt}"]
        if not wanted:
            raise HTTPException(404, f"the {name} report has no chart")
        if len(wanted) == 1:
            path = wanted[0]
            return Response(path.read_bytes(), media_type=MEDIA[fmt], headers={
                "Content-Disposition": f'attachment; filename="{path.name}"'})
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in wanted:
                bundle.write(path, path.name)
        return Response(archive.getvalue(), media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}.zip"'})


MEDIA: dict[str, str] = {"csv": "text/csv; charset=utf-8", "png": "image/png",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@router.get("/lan-devices", summary="Tablets, printers and hubs found by zeroconf")
def lan_devices(request: Request,
                who: Annotated[Caller, Depends(require("device.manage"))]) -> Json:
    hub = hub_of(request)
    return {"devices": hub.lan.list() if hub.lan else [], "discovery": hub.lan is not None}
