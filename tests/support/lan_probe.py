"""Runs inside tests.support.lan's namespace: starts a daemon as a user would, then looks at it.

The scenario (JSON, the only argument) names the daemon's command line and environment, what
says it is ready (`health_url`, or a TCP `port`), URLs to fetch over HTTPS trusting the
home's CA file (`https`, `ca_file`: host names checked, as a tablet with the CA installed
does), whether to browse for hubs with zeroconf as the console does, and commands to run
against it (`then`); the findings go to stdout as one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx


def ready(scenario: dict) -> dict | bool:
    if "health_url" in scenario:
        try:
            response = httpx.get(scenario["health_url"], timeout=1)
            return response.json() if response.status_code == 200 else False
        except httpx.TransportError:
            return False
    try:
        socket.create_connection(("127.0.0.1", scenario["port"]), timeout=1).close()
        return True
    except OSError:
        return False


def main() -> None:
    scenario = json.loads(sys.argv[1])
    env = {**os.environ, **scenario.get("env", {})}
    process = subprocess.Popen(scenario["argv"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    found: dict = {"ready": None}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not found["ready"]:
        found["ready"] = ready(scenario) or None
        time.sleep(0.1)
    if found["ready"] and scenario.get("https"):
        found["https"] = {}
        trust = ssl.create_default_context(cafile=scenario["ca_file"])
        for url in scenario["https"]:
            until = time.monotonic() + 30  # the plain listener may answer before HTTPS does
            while True:
                try:
                    answer = httpx.get(url, timeout=10, verify=trust)
                    found["https"][url] = {"status": answer.status_code, "json": answer.json()}
                    break
                except httpx.ConnectError as error:
                    found["https"][url] = {"error": repr(error)}
                    if time.monotonic() > until:
                        break
                    time.sleep(0.1)
    if found["ready"] and scenario.get("browse"):
        from hub.discovery import find_hubs  # the console's way of finding a hub

        found["hubs"] = find_hubs(timeout=5)
    if found["ready"]:
        found["then"] = [
            {"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
            for r in (subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
                      for argv in scenario.get("then", []))]
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        found["exit_code"] = process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        found["exit_code"] = process.wait()
    found["output"] = process.stdout.read().decode(errors="replace") if process.stdout else ""
    print(json.dumps(found, ensure_ascii=False))


if __name__ == "__main__":
    main()
