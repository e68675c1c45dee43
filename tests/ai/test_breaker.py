"""The LLM circuit breaker (apps/ai/breaker.py, SPEC §4): shared through the real Redis, wired into every chat model
of the AI seam; against the local OpenAI-compatible stub."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage

from apps.ai.breaker import LLMUnavailable, breaker_is_open, breaker_record_failure, breaker_reset
from apps.ai.models import LLMCall
from apps.ai.providers import get_chat_model
from tests.stubs.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db
MESSAGES = [HumanMessage("Bonjour, ma box ne marche plus.")]


@pytest.fixture
def llm(settings: Any, openai_stub: OpenAIStub) -> Iterator[OpenAIStub]:
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY = "sk-test-stub"
    settings.LLM_BASE_URL = openai_stub.url
    settings.LLM_MAX_RETRIES = 1  # one request per call: the count of requests is the count of calls
    settings.LLM_BREAKER_FAILURES = 5
    settings.LLM_BREAKER_OPEN_SECONDS = 1.0
    breaker_reset("openai")
    yield openai_stub
    breaker_reset("openai")


def _chat_requests(stub: OpenAIStub) -> int:
    return sum(r.path.endswith("/chat/completions") for r in stub.requests)


def test_five_failures_open_the_circuit_then_calls_fail_at_once_and_a_success_closes_it(llm: OpenAIStub) -> None:
    llm.fail_next(500, times=5)
    for _ in range(5):
        assert not breaker_is_open("openai")
        with pytest.raises(openai.APIError) as failed:
            get_chat_model("summary").invoke(MESSAGES)
        assert not isinstance(failed.value, LLMUnavailable)  # the server's own error, the call was made
    assert _chat_requests(llm) == 5
    assert breaker_is_open("openai")

    started = time.perf_counter()
    with pytest.raises(LLMUnavailable) as refused:
        get_chat_model("summary").invoke(MESSAGES)
    assert refused.value.reason == "circuit_open"
    assert time.perf_counter() - started < 0.2
    assert _chat_requests(llm) == 5, "no request reaches the server while the circuit is open"

    time.sleep(1.1)  # LLM_BREAKER_OPEN_SECONDS
    answer = get_chat_model("summary").invoke(MESSAGES)
    assert answer.content == llm.reply
    assert not breaker_is_open("openai")
    # Closed again: four new failures do not open it (the count restarted at the success).
    llm.fail_next(500, times=4)
    for _ in range(4):
        with pytest.raises(openai.InternalServerError):
            get_chat_model("summary").invoke(MESSAGES)
    assert not breaker_is_open("openai")


def test_a_failure_after_the_open_period_reopens_it_at_once(llm: OpenAIStub, settings: Any) -> None:
    for _ in range(5):
        breaker_record_failure("openai")
    assert breaker_is_open("openai")
    time.sleep(1.1)
    assert not breaker_is_open("openai")
    llm.fail_next(503)
    with pytest.raises(openai.APIError):
        get_chat_model("labels").invoke(MESSAGES)
    assert breaker_is_open("openai"), "the half-open trial failed: open again without five more failures"


def test_the_breaker_is_shared_through_redis(llm: OpenAIStub) -> None:
    """Another process's failures count: the state lives in Redis, not in this process."""
    import redis
    from django.conf import settings

    other = redis.Redis.from_url(settings.REDIS_URL)  # a separate connection, as another worker would have
    for _ in range(5):
        other.incr("supportdesk:llm:breaker:openai:failures")
    breaker_record_failure("openai")  # the sixth consecutive failure, seen from here
    assert other.exists("supportdesk:llm:breaker:openai:open")
    other.close()


def test_unreachable_server_counts_as_failures(llm: OpenAIStub) -> None:
    llm.stop()  # connection refused
    for _ in range(5):
        with pytest.raises(openai.APIError) as failed:
            get_chat_model("bot").invoke(MESSAGES)
        assert not isinstance(failed.value, LLMUnavailable)
    with pytest.raises(LLMUnavailable):
        get_chat_model("bot").invoke(MESSAGES)


def test_a_rejected_request_does_not_count(llm: OpenAIStub) -> None:
    """A 400 is about one request (too long, malformed), not the provider's health."""
    llm.fail_next(400, times=6)
    for _ in range(6):
        with pytest.raises(openai.APIError):
            get_chat_model("summary").invoke(MESSAGES)
    assert not breaker_is_open("openai")


def test_a_stream_stopped_by_the_caller_is_not_a_failure(llm: OpenAIStub) -> None:
    for _ in range(4):
        breaker_record_failure("openai")
    llm.token_delay = 0.02
    stream: Any = get_chat_model("copilot", streaming=True).stream(MESSAGES)
    first = next(c for c in stream if c.content)
    assert first.content
    stream.close()
    assert not breaker_is_open("openai")
    call = LLMCall.objects.get(purpose="copilot")
    assert (call.outcome, call.error_type) == ("ok", "stopped")
    breaker_record_failure("openai")
    assert not breaker_is_open("openai"), "the stopped stream reset the count"


def test_bot_falls_back_to_extractive_and_labels_raise_while_open(llm: OpenAIStub, settings: Any) -> None:
    """Callers keep their own behaviour when the circuit is open: the bot's generation fails over (it catches any
    error), labeling raises (its task retries)."""
    from apps.ai.labels import labels_extract, prepare
    from apps.bot.services import _generated_answer

    for _ in range(5):
        breaker_record_failure("openai")
    assert _generated_answer("is 5G available abroad?", "en", []) == ""  # "": the extractive answer stands in
    with pytest.raises(LLMUnavailable):
        labels_extract([prepare("c1", [("user", "Ma box ne marche plus depuis hier.")])])
    assert _chat_requests(llm) == 0


def test_local_provider_is_not_affected(settings: Any) -> None:
    settings.LLM_PROVIDER = "local"
    for _ in range(6):
        breaker_record_failure("openai")
    try:
        assert get_chat_model("summary").invoke(MESSAGES).content
    finally:
        breaker_reset("openai")
