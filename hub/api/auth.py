"""Who is calling: a paired device (bearer token or pairing cookie), and the person: a staff
PIN on the request, else whoever has a shift open on the device (hub/domain/shifts.py).

Unpaired requests get 401, a role without the permission 403 (before any PIN is looked at),
a wrong PIN 401, too many PINs 429.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..domain.devices import device_for_token, may
from ..domain.errors import InvalidInput, PinInvalid
from ..domain.shifts import current_shift
from ..runtime import Hub, RateLimiter

COOKIE = "laoke_token"
MONEY = frozenset({"checkout.create", "stored_value.topup", "stored_value.refund",
                   "points.adjust"})
bearer = HTTPBearer(auto_error=False, description="A device token from pairing or "
                    "`laoke device add`.")


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


@dataclass
class Caller:
    device: dict[str, Any]
    staff: dict[str, Any] | None = None
    # The device's open shift when the person comes from it; None when a PIN named them.
    shift: dict[str, Any] | None = None

    @property
    def vouched(self) -> bool:
        """A PIN typed for this very request: what approvals and money-PIN stores ask for,
        where a shift left open on a tablet is not enough."""
        return self.staff is not None and self.shift is None

    @property
    def role(self) -> str:
        return str(self.device["role"])

    @property
    def actor(self) -> str:
        who = f"device:{self.device['id']}"
        return f"{who} staff:{self.staff['id']}" if self.staff else who

    @property
    def staff_id(self) -> str | None:
        return self.staff["id"] if self.staff else None

    def can(self, permission: str) -> bool:
        return may(self.role, permission)

    @property
    def masked(self) -> bool:
        return not self.can("member.read_unmasked")


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    if request.cookies.get(COOKIE):
        return request.cookies[COOKIE]
    # EventSource and <img> cannot send headers: these two GETs accept the token in the URL.
    if request.url.path.endswith(("/events", "/qr.svg")):
        return request.query_params.get("access_token")
    return None


PIN_WAIT_S = 5.0  # how long a PIN waits for a free scrypt slot before the hub says busy


def count_attempt(limiter: RateLimiter, key: str, what: str) -> None:
    """Count one attempt by `key`, or 429 with Retry-After while it has used up its guesses."""
    wait = limiter.attempt(key)
    if wait:
        raise HTTPException(429, f"{what}; try again in {int(wait) + 1} s",
                            headers={"Retry-After": str(int(wait) + 1)})


def identify(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    hub = hub_of(request)
    token = token_of(request, credentials)
    if not token:
        raise HTTPException(401, "this device is not paired: send Authorization: Bearer TOKEN",
                            headers={"WWW-Authenticate": "Bearer"})
    device = device_for_token(hub.store(), token)
    if device is None:
        raise HTTPException(401, "unknown or revoked device token",
                            headers={"WWW-Authenticate": "Bearer"})
    return Caller(device)


def staff_of(request: Request, device: dict[str, Any], pin: str) -> dict[str, Any]:
    """The staff member a PIN names. The guess is counted before it is hashed, and hashing
    waits for one of the hub's few scrypt slots, so no burst of guesses passes the limit or
    runs the hub out of memory."""
    hub = hub_of(request)
    key = f"pin:{device['id']}"
    count_attempt(hub.pin_guesses, key, "too many wrong PINs")
    if not hub.pin_hashing.acquire(timeout=PIN_WAIT_S):
        raise HTTPException(503, "the hub is busy checking PINs; try again",
                            headers={"Retry-After": "1"})
    try:
        staff = hub.pins.staff_for(hub.store(), pin)
    except (PinInvalid, InvalidInput):
        raise HTTPException(401, "wrong staff PIN") from None
    finally:
        hub.pin_hashing.release()
    hub.pin_guesses.succeeded(key)
    return staff


def require(permission: str) -> Callable[..., Caller]:
    """A dependency that lets the call through only for roles holding `permission`.

    Identification and the check are one dependency: each sync dependency costs FastAPI a
    trip through its thread pool.
    """

    def check(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
              x_staff_pin: Annotated[str | None, Header(
                  description="A staff PIN, to attribute the action to a person")] = None,
              ) -> Caller:
        who = identify(request, credentials)
        # The role first: a device that may not do this learns nothing about a PIN it sends.
        if not who.can(permission):
            raise HTTPException(403, f"a {who.role} device may not do this ({permission})")
        hub = hub_of(request)
        if x_staff_pin is not None:
            who.staff = staff_of(request, who.device, x_staff_pin)
        else:
            who.shift = current_shift(hub.store(), who.device["id"])
            who.staff = who.shift["staff"] if who.shift else None
        if (permission in MONEY and hub.settings.security.require_pin_for_money
                and not who.vouched):
            raise HTTPException(403, "this store asks for a staff PIN (X-Staff-Pin) for money")
        return who

    return check
