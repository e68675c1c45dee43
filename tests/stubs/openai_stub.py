"""A local OpenAI-compatible HTTP server for tests and benchmarks (chat completions with and without
streaming, embeddings, models). Deterministic, scriptable, and records what it received.

    stub = OpenAIStub().start()
    stub.reply = "Bonjour !"          # what the assistant answers
    stub.fail_next(429, times=2)      # the next two requests get HTTP 429
    stub.tool_responses.append('{"conversations": [...]}')  # next tool-call arguments (raw JSON text)
    stub.token_delay = 0.05           # seconds between streamed tokens
    stub.first_token_delay = 0.3      # seconds before the first streamed token (time to first token)
    stub.replies.append('{"confidence": 0.9, ...}')  # the next chat answer only (then `reply` again)
    stub.down = True                  # every request: connection closed without an answer
    stub.streams[-1]                  # per streamed answer: when it started/ended, whether the client hung up
    ...
    stub.stop()

Run alone: python -m tests.stubs.openai_stub --port 8089
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _count(text: str) -> int:
    """The stub's own token count (words and punctuation), independent of tiktoken."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def _vector(text: str, dim: int) -> list[float]:
    values: list[float] = []
    seed = text.encode("utf-8")
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    vec = values[:dim]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets connections when 20 clients stream at once (bench copilot)


@dataclass
class StreamRecord:
    """One streamed answer, timed with time.perf_counter(): ``finished`` is when its last event was written (None
    while sending); ``aborted`` is True when the client closed the connection before the end."""

    started: float
    finished: float | None = None
    aborted: bool = False
    tokens_sent: int = 0
    received: float = 0.0  # when the request was read
    first_token: float | None = None  # when the first non-empty token was written
    token_times: list[float] = field(default_factory=list)  # when each token was written
    marker: str = ""  # the last match of `marker_pattern` in the prompt (the newest message's, for benchmarks)


@dataclass
class OpenAIStub:
    host: str = "127.0.0.1"
    port: int = 0
    reply: str = "Bonjour ! Votre paiement a bien été reçu, la commande part aujourd'hui."
    token_delay: float = 0.0
    response_delay: float = 0.0  # seconds before any answer (for crash tests)
    first_token_delay: float = 0.0  # seconds between the stream's headers and its first token
    down: bool = False  # True: each request is read, then the connection is closed with no answer
    replies: deque[str] = field(default_factory=deque)  # scripted chat answers, one per request, before `reply`
    streams: list[StreamRecord] = field(default_factory=list)
    marker_pattern: str = r"bench-q\d+-[0-9a-f]+"
    requests: list[Received] = field(default_factory=list)
    usages: list[dict[str, int]] = field(default_factory=list)
    _failures: deque[int] = field(default_factory=deque)
    tool_responses: deque[str] = field(default_factory=deque)
    default_labels: list[str] = field(default_factory=lambda: ["paiement", "commande"])
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _tool_arguments(self, prompt: str) -> str:
        if self.tool_responses:
            return self.tool_responses.popleft()
        ids = re.findall(r'<conversation id="([^"]+)">', prompt)
        return json.dumps({"conversations": [{"id": i, "labels": self.default_labels} for i in ids]})

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
                elif self.path.rstrip("/") == "/_stub/timings":  # for a benchmark running the stub as a process
                    self._json(200, {"streams": [asdict(r) for r in list(stub.streams)]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "bad json"}})
                    return
                self.received = time.perf_counter()
                stub.requests.append(Received(self.path, body, {k.lower(): v for k, v in self.headers.items()}))
                if stub.down:
                    self.close_connection = True
                    return
                if stub.response_delay:
                    time.sleep(stub.response_delay)
                if stub._failures:
                    status = stub._failures.popleft()
                    # retry-after-ms keeps the SDK's backoff short in tests.
                    self._json(
                        status,
                        {"error": {"message": f"stub failure {status}", "type": "stub"}},
                        {"retry-after-ms": "20"},
                    )
                    return
                if self.path.endswith("/chat/completions"):
                    self._chat(body)
                elif self.path.endswith("/embeddings"):
                    self._embeddings(body)
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def _chat(self, body: dict[str, Any]) -> None:
                prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
                reply = stub.replies.popleft() if stub.replies else stub.reply
                usage = {"prompt_tokens": _count(prompt), "completion_tokens": _count(reply)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                stub.usages.append(usage)
                model = body.get("model", "gpt-4o-mini")
                base = {"id": "chatcmpl-stub", "created": int(time.time()), "model": model}
                if body.get("tools"):
                    self._json(
                        200,
                        {
                            **base,
                            "object": "chat.completion",
                            "usage": usage,
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "tool_calls",
                                    "message": {
                                        "role": "assistant",
                                        "content": None,
                                        "tool_calls": [
                                            {
                                                "id": "call_stub",
                                                "type": "function",
                                                "function": {
                                                    "name": body["tools"][0]["function"]["name"],
                                                    "arguments": stub._tool_arguments(prompt),
                                                },
                                            }
                                        ],
                                    },
                                }
                            ],
                        },
                    )
                    return
                if not body.get("stream"):
                    self._json(
                        200,
                        {
                            **base,
                            "object": "chat.completion",
                            "usage": usage,
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": reply},
                                }
                            ],
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()

                def event(payload: dict[str, Any] | str) -> None:
                    data = (
                        payload
                        if isinstance(payload, str)
                        else json.dumps({**base, "object": "chat.completion.chunk", **payload})
                    )
                    self.wfile.write(f"data: {data}\n\n".encode())
                    self.wfile.flush()

                found = re.findall(stub.marker_pattern, prompt)
                record = StreamRecord(
                    started=time.perf_counter(), received=self.received, marker=found[-1] if found else ""
                )
                stub.streams.append(record)
                self.close_connection = True
                try:
                    event(
                        {
                            "choices": [
                                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                            ]
                        }
                    )
                    if stub.first_token_delay:
                        time.sleep(stub.first_token_delay)
                    for piece in re.findall(r"\S+\s*", reply):
                        if stub.token_delay:
                            time.sleep(stub.token_delay)
                        event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                        record.token_times.append(time.perf_counter())
                        if record.first_token is None:
                            record.first_token = record.token_times[0]
                        record.tokens_sent += 1
                    event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        event({"choices": [], "usage": usage})
                    event("[DONE]")
                except (BrokenPipeError, ConnectionResetError):
                    record.aborted = True
                record.finished = time.perf_counter()

            def _embeddings(self, body: dict[str, Any]) -> None:
                inputs = body.get("input", [])
                if isinstance(inputs, str):
                    inputs = [inputs]
                dim = int(body.get("dimensions") or 1536)
                data = [
                    {"object": "embedding", "index": i, "embedding": _vector(str(t), dim)} for i, t in enumerate(inputs)
                ]
                tokens = sum(_count(str(t)) for t in inputs)
                self._json(
                    200,
                    {
                        "object": "list",
                        "model": body.get("model"),
                        "data": data,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        self._server = _Server((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    parser.add_argument("--first-token-delay", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--reply-file", type=argparse.FileType("r", encoding="utf-8"), help="the chat answer")
    args = parser.parse_args()
    stub = OpenAIStub(port=args.port, token_delay=args.token_delay, first_token_delay=args.first_token_delay)
    if args.reply_file:
        stub.reply = args.reply_file.read()
    stub.start()
    print(f"OpenAI-compatible stub on {stub.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
