#!/usr/bin/env python3
"""A minimal Reachkit webhook receiver (Python 3.9+, standard library only).

    REACHKIT_WEBHOOK_SECRET=whsec_... python3 docs/examples/webhook_receiver.py [PORT]

Listens on 127.0.0.1:PORT (default 9000), verifies each request the Standard Webhooks way
(docs/WEBHOOKS.md, "Signatures") and prints the verified events. Answers 204 to a verified
request and 401 to anything else, so Reachkit retries what was not accepted.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 300


def verify(secret: str, headers, body: bytes, now: float) -> bool:
    """True when `body` was signed with `secret` for these webhook-* headers, recently."""
    try:
        msg_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        signatures = headers["webhook-signature"]
    except KeyError:
        return False
    if msg_id is None or timestamp is None or signatures is None:
        return False
    try:
        if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
            return False  # too old (or from the future): a replay
    except ValueError:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    # The header may list several space-separated signatures.
    return any(hmac.compare_digest(expected, s) for s in signatures.split())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not verify(os.environ["REACHKIT_WEBHOOK_SECRET"], self.headers, body, time.time()):
            self.send_response(401)
            self.end_headers()
            print("refused: bad or missing signature", flush=True)
            return
        event = json.loads(body)
        print(f"verified {self.headers['webhook-id']}: {json.dumps(event)}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


def self_test():
    """The Standard Webhooks specification's test vector."""
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert verify(secret, headers, b'{"test": 2432232314}', 1614265330)
    assert not verify(secret, headers, b'{"test": 2432232315}', 1614265330)
    assert not verify(secret, headers, b'{"test": 2432232314}', 1614265330 + 301)


if __name__ == "__main__":
    self_test()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on 127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
