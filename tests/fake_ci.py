"""A local HTTP server speaking the documented shape of a Tekton/Argo webhook and GitLab's
pipeline trigger API (neither can run here). It records each request it receives."""
import contextlib
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.local_http import serving


@contextlib.contextmanager
def fake_ci(status: int = 201):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if "/trigger/pipeline" in self.path:
                form = parse_qs(body.decode())
                ok = form.get("token") == ["glptt-test-token"] and form.get("ref")
                answer = {"id": 4711, "web_url": "http://gitlab.local/group/p/-/pipelines/4711"} if ok else \
                    {"message": "401 Unauthorized"}
                code = status if ok else 401
            else:
                answer, code = {"eventID": "evt-123"}, status
            payload = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    with serving(Handler) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
