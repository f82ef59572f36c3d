"""Printing through the running hub and from the shell, with the virtual printer."""

import json
import os
import subprocess
import sys
import time

from hub.ports import free_port, wait_port
from printer.virtual import VirtualPrinter
from tests.support.hubproc import ROOT, wait_until

LINES = [{"dish": "宫保鸡丁", "qty": 2, "unit_price_fen": 4800}]


def wait_for_slips(spool, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slips = VirtualPrinter(spool).slips()
        if len(slips) >= count:
            return slips
        time.sleep(0.1)
    raise AssertionError(f"expected {count} slips, got {len(VirtualPrinter(spool).slips())}")


def test_checkout_with_print_reaches_the_virtual_printer(running_hub):
    spool = running_hub.home / "virtual-printer"
    with running_hub.client() as api:
        guest = api.post("/members", json={"name": "王芳", "phone": "13800138000",
                                           "marketing_consent": True,
                                           "allergies": ["对虾"]}).json()
        paid = api.post("/checkouts", json={"member_id": guest["id"], "lines": LINES,
                                            "print": True},
                        headers={"Idempotency-Key": "print-1"}).json()
        assert paid["print_job"]["kind"] == "receipt"
        again = api.post("/checkouts", json={"member_id": guest["id"], "lines": LINES,
                                             "print": True},
                         headers={"Idempotency-Key": "print-1"}).json()
        assert again["print_job"]["id"] == paid["print_job"]["id"], "a retry prints nothing"
        [receipt] = wait_for_slips(spool, 1)
        assert "宫保鸡丁 x2" in receipt["text"] and "96.00元" in receipt["text"]
        seated = api.post("/checkins", json={"member_id": guest["id"], "table": "A5",
                                             "party_size": 2}).json()
        assert api.post("/print/kitchen", json={"visit_id": seated["id"]}).status_code == 202
        kitchen = wait_for_slips(spool, 2)[1]
        assert "对虾过敏" in kitchen["text"]
        # the slip lands in the spool a moment before the queue marks its job printed
        wait_until(lambda: {j["state"] for j in api.get("/print/jobs").json()["jobs"]}
                   == {"printed"})
        health = api.get("/health").json()
        assert health["printers"][0]["url"] == "virtual:"
        assert health["print_queue"] == {"waiting": 0, "unconfirmed": 0}
        refused = api.post("/print/receipt", json={"order_id": paid["order_id"]})
        assert refused.status_code == 422 and "reprint" in refused.json()["message"]
        reprint = api.post("/print/receipt", json={"order_id": paid["order_id"],
                                                   "reprint": True})
        assert reprint.status_code == 202
        assert "重印" in wait_for_slips(spool, 3)[2]["text"]


def laoke(home, *args):
    env = {**os.environ, "LAOKE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_print_from_the_shell_with_no_hub_and_the_printer_server(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "hub", "--home", str(home), "printer",
                               "serve", "--port", str(port), "--dir", str(tmp_path / "tcp")],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_port(port)
        result = laoke(home, "printer", "test", f"tcp://127.0.0.1:{port}", "--width", "58")
        assert result.returncode == 0, result.stderr
        assert "printed" in result.stdout
        slips = wait_for_slips(tmp_path / "tcp", 1)
        assert "中文测试" in slips[-1]["text"]
    finally:
        server.terminate()
        server.wait(10)
    member = laoke(home, "member", "add", "--name", "王芳", "--phone", "13800138000").stdout
    assert member.strip()
    down = laoke(home, "printer", "test", f"tcp://127.0.0.1:{port}", "--no-wait")
    assert down.returncode == 0 and "waiting (cannot reach" in down.stdout
    jobs = json.loads(laoke(home, "printer", "jobs", "--open", "--json").stdout)["jobs"]
    assert len(jobs) == 1 and jobs[0]["state"] == "waiting"
    bad = laoke(home, "print", "receipt", "no-such-order")
    assert bad.returncode == 1 and bad.stderr.startswith("laoke: no order")
