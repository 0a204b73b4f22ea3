"""A push callback receiver on 127.0.0.1, for trying push without a public URL (the README's tour, step 8).

Checks each callback's bearer token and Standard Webhooks signature, prints what arrived, and answers 204
(401 for a wrong token, 400 for a bad signature, which the service retries):

    .venv/bin/python scripts/push_receiver.py --port 9000 --secret whsec_... --token their-token

Needs `standardwebhooks` (installed by `make dev-install`). The service must be allowed to call 127.0.0.1:
start it with WFS_OUTBOUND_ALLOWLIST=127.0.0.1."""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def handler(webhook: Webhook, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                self._answer(401, "refused: wrong or missing bearer token")
                return
            try:
                event = webhook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as exc:
                self._answer(400, f"refused: {exc}")
                return
            job = event["data"]
            output = json.dumps(job.get("output"), ensure_ascii=False)
            self._answer(204, f"verified {event['type']} {self.headers['webhook-id']}: job {job['id']} {output}")

        def _answer(self, status: int, line: str) -> None:
            print(line, flush=True)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per callback, printed above

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the workflow's signing secret (whsec_...)")
    parser.add_argument("--token", help="the access token the callbacks must bear (push.access_token)")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Webhook(args.secret), args.token))
    print(f"push receiver on http://127.0.0.1:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
