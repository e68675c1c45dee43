"""The copilot's lean streaming client against the OpenAI-compatible stub: text pieces in order while the server
is still sending, the LLMCall record, retries, the circuit breaker, and an early stop."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from apps.ai.breaker import LLMUnavailable, breaker_is_open
from apps.ai.chat_stream import ChatStream, ChatStreamError
from apps.ai.models import LLMCall
from tests.stubs.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db

MESSAGES = [{"role": "system", "content": "Réponds en JSON."}, {"role": "user", "content": "client: bonjour"}]


@pytest.fixture
def stub(settings: Any, openai_provider: OpenAIStub) -> OpenAIStub:
    settings.LLM_MAX_RETRIES = 3
    settings.LLM_MODEL = "stub-model"
    return openai_provider


def test_pieces_arrive_while_the_server_is_still_sending(stub: OpenAIStub) -> None:
    stub.reply = "un deux trois quatre cinq"
    stub.token_delay = 0.1
    stream = ChatStream(purpose="copilot", messages=MESSAGES)
    pieces, times = [], []
    for piece in stream:
        pieces.append(piece)
        times.append(time.perf_counter())
    assert "".join(pieces) == stub.reply and len(pieces) == 5
    assert times[-1] - times[0] > 0.3, "read as sent, not after the whole answer"
    request = stub.requests[-1]
    assert request.body["stream"] is True and request.body["messages"] == MESSAGES
    assert request.body["model"] == "stub-model" and request.headers["authorization"] == "Bearer sk-test-stub"
    call = LLMCall.objects.get()
    assert (call.purpose, call.provider, call.model, call.outcome, call.streamed) == (
        "copilot",
        "openai",
        "stub-model",
        "ok",
        True,
    )
    assert call.completion_tokens == stub.usages[-1]["completion_tokens"] and not call.tokens_estimated
    assert call.first_token_ms is not None and call.first_token_ms < call.latency_ms
    assert stream.usage == (stub.usages[-1]["prompt_tokens"], stub.usages[-1]["completion_tokens"])


def test_an_early_stop_closes_the_request_and_is_recorded(stub: OpenAIStub) -> None:
    stub.reply = " ".join(f"mot{i}" for i in range(40))
    stub.token_delay = 0.02
    stream = ChatStream(purpose="copilot", messages=MESSAGES)
    for i, _piece in enumerate(stream):
        if i == 2:
            break
    stream.close()
    call = LLMCall.objects.get()
    assert (call.outcome, call.error_type, call.tokens_estimated) == ("ok", "stopped", True)
    assert call.completion_tokens > 0
    deadline = time.monotonic() + 5
    while stub.streams[-1].finished is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stub.streams[-1].aborted and stub.streams[-1].tokens_sent < 40, "the server stopped sending"


def test_server_errors_are_retried_then_raised_and_counted(stub: OpenAIStub) -> None:
    stub.fail_next(503, times=2)
    assert "".join(ChatStream(purpose="copilot", messages=MESSAGES)) == stub.reply  # the third attempt answers
    assert len(stub.requests) == 3

    stub.fail_next(500, times=3)
    with pytest.raises(ChatStreamError) as info:
        list(ChatStream(purpose="copilot", messages=MESSAGES))
    assert info.value.status_code == 500 and len(stub.requests) == 6
    failed = LLMCall.objects.filter(outcome="error").get()
    assert failed.error_type == "ChatStreamError/500" and failed.completion_tokens == 0


def test_a_rejected_request_is_not_retried_nor_held_against_the_provider(stub: OpenAIStub, settings: Any) -> None:
    settings.LLM_BREAKER_FAILURES = 1
    stub.fail_next(400)
    with pytest.raises(ChatStreamError):
        list(ChatStream(purpose="copilot", messages=MESSAGES))
    assert len(stub.requests) == 1 and not breaker_is_open("openai")


def test_failures_open_the_breaker_and_it_then_refuses_without_a_request(stub: OpenAIStub, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_TIMEOUT = 0.5
    stub.down = True  # each request read, then the connection closed with no answer
    for _ in range(settings.LLM_BREAKER_FAILURES):
        with pytest.raises((httpx.TransportError, ChatStreamError)):
            list(ChatStream(purpose="copilot", messages=MESSAGES))
    assert breaker_is_open("openai")
    sent = len(stub.requests)
    with pytest.raises(LLMUnavailable) as info:
        ChatStream(purpose="copilot", messages=MESSAGES)
    assert info.value.reason == "circuit_open" and len(stub.requests) == sent


def test_a_slow_first_token_times_out(stub: OpenAIStub, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_TIMEOUT = 0.3
    stub.first_token_delay = 1.0
    with pytest.raises(httpx.TimeoutException):
        list(ChatStream(purpose="copilot", messages=MESSAGES))
    assert LLMCall.objects.get().outcome == "timeout"
