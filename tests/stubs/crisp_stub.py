"""A small stub of Crisp's REST API v1 for tests (127.0.0.1 only)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

IDENTIFIER = "plugin-identifier"
KEY = "plugin-key"
WEBSITE = "w-1"
BODY_MARKER = "STUB-BODY-MARKER-that-must-not-leak"


@dataclass
class StubRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class CrispStub:
    """A small Crisp REST API v1: `GET /v1/website/{w}/conversation/{s}/messages[?timestamp_before=ms]`.

    Returns at most `page_size` messages, oldest first, among those strictly before `timestamp_before`
    (or at/before it when `inclusive`). Checks Basic auth and `X-Crisp-Tier` (401 otherwise). Sessions in
    `statuses` answer that HTTP status instead (with a body holding BODY_MARKER).
    """

    page_size: int = 20
    tier: str = "plugin"
    inclusive: bool = False
    ignore_cursor: bool = False
    sessions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    raw_answers: dict[str, bytes] = field(default_factory=dict)
    requests: list[StubRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> CrispStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: object | bytes, headers: dict[str, str] | None = None) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                stub.requests.append(StubRequest(parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
                expected_auth = "Basic " + base64.b64encode(f"{IDENTIFIER}:{KEY}".encode()).decode()
                if self.headers.get("Authorization") != expected_auth or self.headers.get("X-Crisp-Tier") != stub.tier:
                    self._send(401, {"error": True, "reason": "invalid_session", "data": {"message": BODY_MARKER}})
                    return
                segments = parts.path.strip("/").split("/")
                if len(segments) != 6 or segments[:2] != ["v1", "website"] or segments[3] != "conversation":
                    self._send(404, {"error": True, "reason": "route_not_found", "data": {}})
                    return
                website, session = segments[2], segments[4]
                if session in stub.statuses:
                    status = stub.statuses[session]
                    headers = {"Retry-After": "7"} if status == 429 else None
                    self._send(status, {"error": True, "reason": "boom", "data": {"message": BODY_MARKER}}, headers)
                    return
                if session in stub.raw_answers:
                    self._send(200, stub.raw_answers[session])
                    return
                if website != WEBSITE or session not in stub.sessions:
                    self._send(404, {"error": True, "reason": "session_not_found", "data": {"message": BODY_MARKER}})
                    return
                messages = stub.sessions[session]
                if "timestamp_before" in query and not stub.ignore_cursor:
                    before = int(query["timestamp_before"][0])
                    messages = [
                        m for m in messages if (m["timestamp"] <= before if stub.inclusive else m["timestamp"] < before)
                    ]
                self._send(200, {"error": False, "reason": "resolved", "data": messages[-stub.page_size :]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def crisp_stub() -> Iterator[CrispStub]:
    stub = CrispStub().start()
    yield stub
    stub.stop()
