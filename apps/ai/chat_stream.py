"""A lean streaming client for OpenAI-compatible Chat Completions, for the copilot's hot path.

`get_chat_model`'s ChatOpenAI streams through the OpenAI SDK, which builds a pydantic object per server event, and
LangChain adds a merged message chunk and a callback round per token: about a third of the copilot worker's CPU
per suggestion (py-spy, docs/benchmarks.md, "Copilot"). `chat_stream` reads the server-sent events as lines and
decodes each with ``json.loads``, with the same settings as `get_chat_model` (LLM_BASE_URL, LLM_API_KEY, LLM_MODEL,
LLM_TEMPERATURE, LLM_TIMEOUT for every phase of the request, LLM_MAX_RETRIES attempts for transport errors, timeouts,
408, 409, 429 and 5xx before the answer starts), the same circuit breaker and the same LLMCall record. One HTTP client
per process keeps its connections to the server between calls.

The text sent is the caller's: redact it first (`apps.core.privacy.redact`), as every caller of `get_chat_model` does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

import httpx
from django.conf import settings

from apps.ai.breaker import breaker_check
from apps.ai.recording import llm_call_finish
from apps.ai.tokens import count_tokens

PROVIDER = "openai"
RETRY_STATUSES = frozenset({408, 409, 429})
BACKOFF_S = 0.5  # first retry's wait, doubled each time (at most BACKOFF_MAX_S), as the OpenAI SDK does
BACKOFF_MAX_S = 8.0


class ChatStreamError(Exception):
    """The server answered with an error status (``status_code``) or an error event."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


_clients: dict[tuple[str, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(base_url: str, timeout: float) -> httpx.Client:
    key = (base_url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout))
            _clients[key] = client
        return client


def _retry_after(response: httpx.Response) -> float | None:
    """The server's requested wait (``retry-after-ms`` or ``retry-after`` in seconds), when under a minute."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(response.headers.get(name, "")) * scale
        except ValueError:
            continue
        if 0 <= seconds <= 60:
            return seconds
    return None


def _base_url() -> str:
    url = (settings.LLM_BASE_URL or "https://api.openai.com/v1").rstrip("/")
    return url + "/"


class ChatStream:
    """One streamed call: iterate for the answer's text pieces (in order; empty pieces are skipped). ``usage``
    (prompt and completion tokens, as the server counted them, else estimated) is known once the iteration ended;
    ``close()`` stops the request early (the call is then recorded as stopped, and counts as a success for the
    breaker: the server answered). Iteration raises ``httpx.TimeoutException``, ``httpx.TransportError`` or
    ChatStreamError; each failure is recorded, and counted by the breaker unless the request was at fault (4xx)."""

    def __init__(self, *, purpose: str, messages: list[dict[str, str]], model: str | None = None) -> None:
        if not settings.LLM_API_KEY:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured("LLM_PROVIDER=openai needs LLM_API_KEY.")
        breaker_check(PROVIDER)  # raises LLMUnavailable("circuit_open") without sending anything
        self.purpose = purpose
        self.messages = messages
        self.model = model or settings.LLM_MODEL
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.text: list[str] = []
        self._started = time.perf_counter()
        self._first_token_at: float | None = None
        self._response: httpx.Response | None = None
        self._iterator: Generator[str, None, None] | None = None
        self._recorded = False

    # ------------------------------------------------------------------------------------------------ reading

    def __iter__(self) -> Iterator[str]:
        if self._iterator is None:
            self._iterator = self._read()
        return self._iterator

    def _request(self) -> httpx.Response:
        client = _client(_base_url(), float(settings.LLM_TIMEOUT))
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": settings.LLM_TEMPERATURE,
        }
        headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}", "Accept": "text/event-stream"}
        attempts = max(1, settings.LLM_MAX_RETRIES)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            wait = min(BACKOFF_MAX_S, BACKOFF_S * 2**attempt)
            try:
                request = client.build_request("POST", "chat/completions", json=body, headers=headers)
                response = client.send(request, stream=True)
            except (httpx.TimeoutException, httpx.TransportError):
                if last:
                    raise
            else:
                status = response.status_code
                if status < 400:
                    return response
                response.read()
                response.close()
                if last or not (status in RETRY_STATUSES or status >= 500):
                    raise ChatStreamError(f"HTTP {status}", status_code=status)
                wait = _retry_after(response) or wait
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self) -> Generator[str, None, None]:
        try:
            self._response = self._request()
            for line in self._response.iter_lines():
                if not line.startswith("data:"):
                    continue  # comments, event names, blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                if not isinstance(event, dict):
                    continue
                if event.get("error"):
                    raise ChatStreamError("error event")
                usage = event.get("usage")
                if isinstance(usage, dict):
                    self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    self.completion_tokens = int(usage.get("completion_tokens") or 0)
                for choice in event.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if isinstance(content, str) and content:
                        if self._first_token_at is None:
                            self._first_token_at = time.perf_counter()
                        self.text.append(content)
                        yield content
        except BaseException as exc:  # GeneratorExit included: the caller stopped reading
            self._finish(error=exc)
            raise
        else:
            self._finish()
        finally:
            if self._response is not None:
                self._response.close()

    def close(self) -> None:
        """Stop reading: the request is closed and the call recorded as stopped."""
        if self._iterator is not None:
            self._iterator.close()
        elif not self._recorded:
            self._finish(error=GeneratorExit())

    # ------------------------------------------------------------------------------------------------ records

    @property
    def usage(self) -> tuple[int, int]:
        """(prompt tokens, completion tokens): the server's count when it sent one, else an estimate."""
        prompt = self.prompt_tokens if self.prompt_tokens else sum(count_tokens(m["content"]) for m in self.messages)
        completion = self.completion_tokens if self.completion_tokens else count_tokens("".join(self.text))
        return prompt, completion

    def _finish(self, *, error: BaseException | None = None) -> None:
        """Once: report the call to the breaker and record it (`llm_call_finish`; GeneratorExit: stopped)."""
        if self._recorded:
            return
        self._recorded = True
        prompt, completion = self.usage
        llm_call_finish(
            purpose=self.purpose,
            provider=PROVIDER,
            model=self.model,
            breaker=True,
            started=self._started,
            prompt_tokens=prompt,
            completion_tokens=completion,
            tokens_estimated=not (self.prompt_tokens and self.completion_tokens),
            first_token_at=self._first_token_at,
            streamed=True,
            error=error,
        )
