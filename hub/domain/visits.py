"""Check-ins: a guest (or a walk-in party) sits down at a table."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput, MemberErased
from .ids import new_id
from .ledgers import whole_number
from .members import member_row
from .outreach import deliver_held
from .staff import get_staff
from .store import Store


def check_in(store: Store, member_id: str | None, table: str, party_size: int,
             staff_id: str | None = None) -> dict[str, Any]:
    if not isinstance(table, str) or not table.strip() or len(table) > 20:
        raise InvalidInput("table must be a short name such as 'A5'")
    party_size = whole_number(party_size, "party_size", 1, 100)
    visit = {"id": new_id(), "store_id": store.store_id, "member_id": member_id,
             "table_no": table.strip(), "party_size": party_size, "staff_id": staff_id,
             "visited_at": store.now_iso()}
    with store.write():
        if member_id is not None and member_row(store, member_id)["erased_at"]:
            raise MemberErased(f"member {member_id} was erased")
        if staff_id is not None:
            get_staff(store, staff_id)
        store.conn.execute(
            "INSERT INTO visits (id, store_id, member_id, table_no, party_size, staff_id, "
            "visited_at) VALUES (:id, :store_id, :member_id, :table_no, :party_size, "
            ":staff_id, :visited_at)", visit)
        store.emit("visit.created", visit)
        # What a campaign asked the waiter to tell this guest ("welcome back: a gift awaits").
        notes = deliver_held(store, member_id, "tablet") if member_id else []
    return {**visit, "staff_notes": notes}
