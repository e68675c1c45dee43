"""A circuit breaker per LLM provider, shared through Redis by every process (SPEC §4, docs/copilot.md).

LLM_BREAKER_FAILURES (5) consecutive failed calls to a provider open its circuit for LLM_BREAKER_OPEN_SECONDS (60):
while it is open, `breaker_check` raises `LLMUnavailable("circuit_open")` at once, so no request leaves the
machine. A successful call closes it and resets the count. After the open period the next call is let through
(half-open): the failure count is kept, so one more failure opens the circuit again, a success closes it.

A "call" is one model invocation as seen by LangChain (the SDK's own retries of 429/5xx/timeouts are inside it).
`apps.ai.providers.get_chat_model` checks the breaker when it builds a model and `apps.ai.recording.LLMCallRecorder`
reports each call's end or error, so every feature (labels, bot, summary, copilot) goes through it.

Redis being unreachable never blocks a call: the breaker then lets everything through (and logs the error class).

Keys: ``supportdesk:llm:breaker:<provider>:failures`` (consecutive failures, expires an hour after the last one)
and ``supportdesk:llm:breaker:<provider>:open`` (present while open, expires with the open period).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from apps.core.clients import redis_client

logger = logging.getLogger(__name__)

_PREFIX = "supportdesk:llm:breaker:"
FAILURES_TTL = 3600  # seconds: a failure older than this (with no call since) no longer counts


class LLMUnavailable(Exception):
    """The model could not answer. ``reason``: "error" (transport or server error after the client's retries),
    "timeout", or "circuit_open" (the breaker refused the call without sending it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _failures_key(provider: str) -> str:
    return f"{_PREFIX}{provider}:failures"


def _open_key(provider: str) -> str:
    return f"{_PREFIX}{provider}:open"


def breaker_is_open(provider: str) -> bool:
    """Whether ``provider``'s circuit is open now (False when Redis cannot tell)."""
    try:
        return bool(redis_client().exists(_open_key(provider)))
    except redis.RedisError as exc:
        logger.warning("llm breaker: redis unavailable", extra={"provider": provider, "error_type": type(exc).__name__})
        return False


def breaker_check(provider: str) -> None:
    """Raise LLMUnavailable("circuit_open") when ``provider``'s circuit is open; return otherwise."""
    if breaker_is_open(provider):
        raise LLMUnavailable("circuit_open")


def breaker_record_failure(provider: str) -> bool:
    """Count one failed call; open the circuit when LLM_BREAKER_FAILURES consecutive failures are reached.
    Returns whether this failure opened it."""
    try:
        client = redis_client()
        pipe = client.pipeline()
        pipe.incr(_failures_key(provider))
        pipe.expire(_failures_key(provider), FAILURES_TTL)
        failures = int(pipe.execute()[0])
        if failures >= settings.LLM_BREAKER_FAILURES:
            # px: the open period may be under a second in tests; set (not nx) so a failed half-open call reopens.
            client.set(_open_key(provider), failures, px=max(1, int(settings.LLM_BREAKER_OPEN_SECONDS * 1000)))
            logger.error("llm breaker: circuit open", extra={"provider": provider, "failures": failures})
            return True
    except redis.RedisError as exc:
        logger.warning("llm breaker: redis unavailable", extra={"provider": provider, "error_type": type(exc).__name__})
    return False


def breaker_record_success(provider: str) -> None:
    """A call succeeded: reset the failure count and close the circuit."""
    try:
        redis_client().delete(_failures_key(provider), _open_key(provider))
    except redis.RedisError as exc:
        logger.warning("llm breaker: redis unavailable", extra={"provider": provider, "error_type": type(exc).__name__})


def breaker_reset(provider: str) -> None:
    """Forget ``provider``'s failures and close its circuit (admin, tests)."""
    breaker_record_success(provider)
