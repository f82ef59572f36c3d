"""Run by test_crash: checkouts in a loop until the parent kills this process."""

import contextlib
import sys
from pathlib import Path

from hub.domain.checkout import CheckoutRequest, checkout
from hub.domain.coupons import Line
from hub.domain.errors import LaokeError
from hub.domain.ids import new_id
from hub.home import open_store

home = Path(sys.argv[1])
with open_store(home) as store:
    members = [r[0] for r in store.conn.execute("SELECT id FROM members")]
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        member_id = members[n % len(members)]
        with contextlib.suppress(LaokeError):
            checkout(store, CheckoutRequest(
                new_id(), [Line("宫保鸡丁", 1 + n % 3, 4800), Line("米饭", 2, 300)],
                member_id=member_id, redeem_points=n % 4, stored_value_fen=(n % 5) * 100))
