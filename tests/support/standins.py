"""Local stand-ins for what cannot run here: an SMS gateway (or WeChat relay) over HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway:
    """An SMS gateway: dedupes by Idempotency-Key, as real ones do; can fail on purpose."""

    def __init__(self) -> None:
        self.texts: dict[str, dict] = {}
        self.requests = 0
        self.fail_next = 0  # answer 503 without taking the message
        self.lose_answer_next = 0  # take the message, then answer 503 (a lost answer)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests += 1
                if gateway.fail_next:
                    gateway.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                gateway.texts.setdefault(self.headers["Idempotency-Key"], body)
                if gateway.lose_answer_next:
                    gateway.lose_answer_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "delivered"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
