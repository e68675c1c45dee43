"""Records every chat-model call as an LLMCall row: tokens, cost, latency, time to first token, outcome.

The handler is attached to each model built by `apps.ai.providers`, so every feature is covered without
calling anything itself. It never stores prompt or answer text (SPEC §12). With ``breaker=True`` it also reports
each call's success or failure to the provider's circuit breaker (`apps.ai.breaker`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import openai
from django.conf import settings
from django.db import close_old_connections, connection
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from apps.ai.tokens import count_tokens

logger = logging.getLogger(__name__)


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    prices = settings.LLM_PRICES.get(model)
    if not prices:
        return Decimal(0)
    per_prompt, per_completion = (Decimal(str(p)) for p in prices)
    return (per_prompt * prompt_tokens + per_completion * completion_tokens) / Decimal(1_000_000)


def llm_call_record(
    *,
    purpose: str,
    provider: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    latency_ms: int,
    outcome: str = "ok",
    error_type: str = "",
    first_token_ms: int | None = None,
    streamed: bool = False,
    tokens_estimated: bool = False,
) -> None:
    """Insert one LLMCall. Failures to record are logged, never raised: accounting must not break a reply."""
    from apps.ai.models import LLMCall

    try:
        LLMCall.objects.create(
            purpose=purpose[:40],
            provider=provider,
            model=model[:120],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            tokens_estimated=tokens_estimated,
            cost_usd=cost_usd(model, prompt_tokens, completion_tokens),
            latency_ms=latency_ms,
            first_token_ms=first_token_ms,
            streamed=streamed,
            outcome=outcome,
            error_type=error_type[:120],
        )
    except Exception:
        logger.exception("llm_call_record failed", extra={"purpose": purpose, "model": model})
    finally:
        # LangChain runs sync handlers of async calls in executor threads: don't leak their connections.
        if threading.current_thread() is not threading.main_thread() and not connection.in_atomic_block:
            close_old_connections()


@dataclass
class _Run:
    started: float
    prompt_tokens: int
    first_token_at: float | None = None
    streamed: bool = False
    text: list[str] = field(default_factory=list)


def _error_type(error: BaseException) -> str:
    """Exception class and HTTP status when there is one, e.g. "InternalServerError/503". Never the message."""
    status = getattr(error, "status_code", None)
    name = next(
        (c.__name__ for c in type(error).__mro__ if c.__module__.startswith(("openai", "httpx"))),
        type(error).__name__,
    )
    return f"{name}/{status}" if status else name


def counts_as_failure(error: BaseException) -> bool:
    """Whether a failed call says something about the provider's health (for the circuit breaker): transport
    errors, timeouts, 5xx, 429 and authentication errors do; a request the server rejected as malformed (400, 404,
    413, 422: about this request only) does not, nor does the caller stopping a stream (GeneratorExit)."""
    if not isinstance(error, Exception):
        return False
    status = getattr(error, "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (401, 403, 408, 429))


def _outcome_of(error: BaseException) -> str:
    if isinstance(error, (TimeoutError, httpx.TimeoutException, openai.APITimeoutError)):
        return "timeout"
    return "error"


def llm_call_finish(
    *,
    purpose: str,
    provider: str,
    model: str,
    breaker: bool,
    started: float,
    prompt_tokens: int,
    completion_tokens: int,
    tokens_estimated: bool,
    first_token_at: float | None = None,
    streamed: bool = False,
    error: BaseException | None = None,
) -> None:
    """The end of one call (``started``, ``first_token_at``: time.perf_counter()): reported to the provider's circuit
    breaker when ``breaker``, and recorded (`llm_call_record`). ``error`` None: a success. GeneratorExit: the caller
    stopped reading a stream (the low-confidence stop, a newer message); the provider answered, so it counts as a
    success, recorded as "stopped" with the tokens received, estimated. Another exception: a failure, counted by the
    breaker when `counts_as_failure`, recorded with its outcome and error type and no completion tokens."""
    stopped = isinstance(error, GeneratorExit)
    failed = error is not None and not stopped
    if breaker:
        from apps.ai.breaker import breaker_record_failure, breaker_record_success

        if not failed:
            breaker_record_success(provider)
        elif error is not None and counts_as_failure(error):
            breaker_record_failure(provider)
    llm_call_record(
        purpose=purpose,
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=0 if failed else completion_tokens,
        latency_ms=int((time.perf_counter() - started) * 1000),
        outcome=_outcome_of(error) if failed and error is not None else "ok",
        error_type=_error_type(error) if failed and error is not None else ("stopped" if stopped else ""),
        first_token_ms=int((first_token_at - started) * 1000) if first_token_at else None,
        streamed=streamed,
        tokens_estimated=tokens_estimated or error is not None,
    )


class LLMCallRecorder(BaseCallbackHandler):
    """One per model instance; safe for concurrent runs (state is keyed by run id)."""

    def __init__(self, *, purpose: str, provider: str, model: str, breaker: bool = False) -> None:
        self.purpose = purpose
        self.provider = provider
        self.model = model
        self.breaker = breaker
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        prompt = sum(
            count_tokens(m.content if isinstance(m.content, str) else str(m.content))
            for batch in messages
            for m in batch
        )
        with self._lock:
            self._runs[run_id] = _Run(started=time.perf_counter(), prompt_tokens=prompt)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any) -> None:
        token = token if isinstance(token, str) else ""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            if run.first_token_at is None and token:
                run.first_token_at = time.perf_counter()
            run.streamed = True
            run.text.append(token)

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        usage: dict[str, Any] = {}
        model = self.model
        text = "".join(run.text)
        for generations in response.generations:
            for gen in generations:
                message = getattr(gen, "message", None)
                meta = getattr(message, "usage_metadata", None)
                if meta:
                    usage = {"input": meta.get("input_tokens", 0), "output": meta.get("output_tokens", 0)}
                info = getattr(message, "response_metadata", None) or {}
                model = info.get("model_name") or model
                if not text:
                    text = gen.text
        token_usage = (response.llm_output or {}).get("token_usage") or {}
        if not usage and token_usage:
            usage = {"input": token_usage.get("prompt_tokens", 0), "output": token_usage.get("completion_tokens", 0)}
        estimated = not usage
        if estimated:
            usage = {"input": run.prompt_tokens, "output": count_tokens(text)}
        self._finish(run, model=model, prompt=int(usage["input"]), completion=int(usage["output"]), estimated=estimated)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        # A stopped stream (GeneratorExit) is recorded with what was received; a failure, without a first token.
        stopped = isinstance(error, GeneratorExit)
        completion = count_tokens("".join(run.text)) if stopped else 0
        self._finish(
            run, model=self.model, prompt=run.prompt_tokens, completion=completion, estimated=True, error=error
        )

    def _finish(
        self,
        run: _Run,
        *,
        model: str,
        prompt: int,
        completion: int,
        estimated: bool,
        error: BaseException | None = None,
    ) -> None:
        stopped = isinstance(error, GeneratorExit)
        llm_call_finish(
            purpose=self.purpose,
            provider=self.provider,
            model=model,
            breaker=self.breaker,
            started=run.started,
            prompt_tokens=prompt,
            completion_tokens=completion,
            tokens_estimated=estimated,
            first_token_at=run.first_token_at if error is None or stopped else None,
            streamed=run.streamed,
            error=error,
        )
