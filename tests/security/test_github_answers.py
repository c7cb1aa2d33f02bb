"""A hostile or broken GitHub API (a wrong GITHUB_API_URL, a compromised proxy): huge or
malformed answers are clear errors, never an exhausted memory or an internal error."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator

import pytest

BIG = 40 * 2**20


@pytest.fixture
def hostile_api() -> Iterator[dict[str, bytes]]:
    answers: dict[str, bytes] = {}

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path.split("?")[0], b'{"message": "Not Found"}')
            self.send_response(200 if self.path.split("?")[0] in answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answers["url"] = f"http://127.0.0.1:{server.server_address[1]}".encode()
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("answer", "message"), [
    (json.dumps({"id": 1, "assets": {"a": 1}}).encode(), "is not shaped as GitHub documents"),
    (json.dumps(["not", "an", "object"]).encode(), "is not shaped as GitHub documents"),
    (b"{not json", "is not JSON"),
    (b'{"id": 1, "body": "' + b"a" * BIG + b'", "assets": []}', "larger than 32 MiB"),
])
def test_verify_github_with_a_hostile_api(cli, monkeypatch, tmp_path, hostile_api, answer,
                                          message):
    hostile_api["/repos/octo/demo/releases/tags/v1.0.0"] = answer
    monkeypatch.setenv("GITHUB_API_URL", hostile_api["url"].decode())
    res = cli("verify", "--github", "octo/demo@v1.0.0", tmp_path / "dl")
    assert res.code in (1, 2), res.out + res.err
    assert message in res.out + res.err
    assert "internal error" not in res.out + res.err and "Traceback" not in res.err
