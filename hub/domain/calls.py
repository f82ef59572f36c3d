"""The call list: a person phones the lapsed regulars worth the most and learns why they
stopped coming (搬家了, 觉得价格涨了); each call is logged with its reason, what was sent and
when to call again.

A guest is on the list while they are lapsed (`[calls] lapsed_days`), came at least
`[calls] min_visits` times, and have no call since they were last seen, or their last call's
follow-up day has come. The list shows phones in full (it is for calling), so reading it is
audited; calls stay in this store (HQ sees the coupons they send).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal, TypedDict, get_args

from .audience import local_today
from .clock import from_iso, parse_day, to_iso
from .coupons import issue_coupon, template_by_name
from .errors import InvalidInput, MemberErased, NotFound
from .ids import new_id
from .members import member_row
from .profiles import FavouriteDish, favourite_dishes
from .store import Store

Outcome = Literal["reached", "no_answer"]
Reason = Literal["moved", "prices", "service", "taste", "no_answer", "other"]
Send = Literal["coupon", "post"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
REASONS: tuple[str, ...] = get_args(Reason)
# zh-CN and English labels, in the order the console offers them.
REASON_LABELS = {"moved": ("搬家了", "Moved away"), "prices": ("价格", "Prices"),
                 "service": ("服务", "Service"), "taste": ("口味", "Taste"),
                 "no_answer": ("未接通", "No answer"), "other": ("其他", "Other")}
MAX_NOTE = 500
MAX_ADDRESS = 200
MAX_LIST = 500


class Server(TypedDict):
    staff_id: str
    name: str
    times: int


class LastCall(TypedDict):
    called_at: str
    outcome: str
    reason: str
    follow_up: str | None


class CallListRow(TypedDict):
    """One guest to call, with what the caller should know before dialling."""

    member_id: str
    name: str | None
    phone: str | None
    tier: str
    last_seen: str
    days_away: int
    visits: int
    spend_fen: int
    favourite_dishes: list[FavouriteDish]
    served_by: list[Server]
    last_call: LastCall | None


class Call(TypedDict):
    id: str
    member_id: str
    staff_id: str | None
    outcome: str
    reason: str
    note: str
    coupon_code: str | None
    sent: str | None
    address: str | None
    follow_up: str | None
    called_at: str


# Lapsed regulars not yet called since they were last seen, or whose follow-up day has come;
# worth is what they spent, then how often they came.
_DUE = """
SELECT m.id, m.name, m.phone, m.tier, s.last_seen, max(s.visits, s.orders) AS visits,
       (SELECT COALESCE(SUM(o.total_fen - o.discount_fen - o.refunded_fen), 0)
        FROM counted_orders o WHERE o.member_id = m.id) AS spend_fen,
       c.called_at, c.outcome, c.reason, c.follow_up
FROM member_stats s JOIN members m ON m.rowid = s.member_rowid
LEFT JOIN calls c ON c.id = (SELECT id FROM calls WHERE member_id = m.id
                             ORDER BY called_at DESC, id DESC LIMIT 1)
WHERE s.last_seen < :cutoff AND max(s.visits, s.orders) >= :min_visits
  AND m.erased_at IS NULL AND m.phone IS NOT NULL
  AND (c.id IS NULL OR c.called_at < s.last_seen
       OR (c.follow_up IS NOT NULL AND c.follow_up <= :today))
ORDER BY spend_fen DESC, visits DESC, s.last_seen DESC, m.id
LIMIT :limit
"""


def served_by(store: Store, member_id: str, limit: int = 2) -> list[Server]:
    """The staff who seated the guest most (a bill rung up without a table counts for its
    cashier): who the guest may ask after on the phone."""
    return [Server(staff_id=r[0], name=r[1], times=r[2]) for r in store.conn.execute(
        "SELECT st.id, st.name, COUNT(*) AS times FROM ("
        " SELECT staff_id FROM visits WHERE member_id = :id AND staff_id IS NOT NULL"
        " UNION ALL SELECT staff_id FROM orders WHERE member_id = :id AND visit_id IS NULL"
        " AND staff_id IS NOT NULL) x JOIN staff st ON st.id = x.staff_id "
        "GROUP BY st.id ORDER BY times DESC, st.name LIMIT :limit",
        {"id": member_id, "limit": limit})]


def call_list(store: Store, actor: str, limit: int = 50) -> list[CallListRow]:
    """The guests to call now, the most valuable first; the read is audited with who was
    shown, since the list carries their phones."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit is a whole number from 1 to {MAX_LIST}")
    rules = store.settings.calls
    now = store.now()
    rows = store.conn.execute(_DUE, {
        "cutoff": to_iso(now - timedelta(days=rules.lapsed_days)),
        "min_visits": rules.min_visits, "today": local_today(store).isoformat(),
        "limit": limit}).fetchall()
    listed = [CallListRow(
        member_id=r["id"], name=r["name"], phone=r["phone"], tier=r["tier"],
        last_seen=r["last_seen"], days_away=(now - from_iso(r["last_seen"])).days,
        visits=r["visits"], spend_fen=r["spend_fen"],
        favourite_dishes=favourite_dishes(store, r["id"]),
        served_by=served_by(store, r["id"]),
        last_call=None if r["called_at"] is None else LastCall(
            called_at=r["called_at"], outcome=r["outcome"], reason=r["reason"],
            follow_up=r["follow_up"]))
        for r in rows]
    with store.write():
        store.audit(actor, "calls.list", None, {"members": [g["member_id"] for g in listed]})
    return listed


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}")
    return str(value)


def _follow_up(store: Store, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        day = value if isinstance(value, date) else parse_day(value, "follow_up")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if day < local_today(store):
        raise InvalidInput(f"follow_up {day.isoformat()} is in the past")
    return day.isoformat()


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(f"{what} is text of at most {limit} characters")
    return value.strip()


def log_call(store: Store, member_id: str, outcome: Any, reason: Any = None, *,
             note: Any = "", follow_up: Any = None, send: Any = None, address: Any = None,
             actor: str = "system", staff_id: str | None = None) -> Call:
    """Record one call. An unanswered call's reason is `no_answer`; a reached guest's is why
    they stopped coming (`other` needs a note). `send` issues the `[calls] coupon_template`
    coupon to the guest's account, or for `post` also keeps the address the guest gave, for
    the printed coupon that is mailed to them (printer.slips.print_posted_coupon)."""
    outcome = _choice(outcome, OUTCOMES, "outcome")
    if outcome == "no_answer":
        reason = _choice(reason or "no_answer", ("no_answer",), "an unanswered call's reason")
    else:
        reason = _choice(reason, tuple(r for r in REASONS if r != "no_answer"), "reason")
    note = _text(note or "", "note", MAX_NOTE)
    if reason == "other" and not note:
        raise InvalidInput("a reason of other needs a note saying what it was")
    if send is not None:
        send = _choice(send, get_args(Send), "send")
    if send == "post":
        address = _text(address or "", "address", MAX_ADDRESS)
        if not address:
            raise InvalidInput("a posted coupon needs the address to post it to")
    elif address:
        raise InvalidInput("an address is only for a posted coupon (send: post)")
    else:
        address = None
    day = _follow_up(store, follow_up)
    with store.write():
        if member_row(store, member_id)["erased_at"]:
            raise MemberErased("this guest's data was erased; there is no one to call")
        code = None
        if send is not None:
            template = template_by_name(store, store.settings.calls.coupon_template)
            if template is None:
                raise InvalidInput("no coupon to send: set [calls] coupon_template to a "
                                   "coupon template's name")
            code = issue_coupon(store, template, member_id, reason="call",
                                issued_by=staff_id)["code"]
        call = Call(id=new_id(), member_id=member_id, staff_id=staff_id, outcome=outcome,
                    reason=reason, note=note, coupon_code=code, sent=send, address=address,
                    follow_up=day, called_at=store.now_iso())
        store.db.table("calls").insert({**call, "actor": actor})
        store.audit(actor, "calls.log", member_id, {"call": call["id"], "reason": reason})
    return call


def get_call(store: Store, call_id: str) -> Call:
    row = store.one("SELECT id, member_id, staff_id, outcome, reason, note, coupon_code, sent, "
                    "address, follow_up, called_at FROM calls WHERE id = ?", (call_id,))
    if row is None:
        raise NotFound(f"no call {call_id!r}")
    return Call(id=row["id"], member_id=row["member_id"], staff_id=row["staff_id"],
                outcome=row["outcome"], reason=row["reason"], note=row["note"],
                coupon_code=row["coupon_code"], sent=row["sent"], address=row["address"],
                follow_up=row["follow_up"], called_at=row["called_at"])


def member_calls(store: Store, member_id: str) -> list[Call]:
    """A guest's calls, the newest first."""
    member_row(store, member_id)
    return [get_call(store, r[0]) for r in store.conn.execute(
        "SELECT id FROM calls WHERE member_id = ? ORDER BY called_at DESC, id DESC",
        (member_id,))]
