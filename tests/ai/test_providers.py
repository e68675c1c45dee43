"""The AI seam: the `openai` provider against a local OpenAI-compatible server (streaming included), the
offline `local` provider with no network, embeddings, and LLMCall accounting."""

from __future__ import annotations

import asyncio
import math
import socket
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from apps.ai.models import LLMCall
from apps.ai.providers import get_chat_model, get_embeddings
from tests.stubs.openai_stub import OpenAIStub

MESSAGES = [
    SystemMessage("Tu es l'assistant d'un service client."),
    HumanMessage("Bonjour, je n'arrive pas à payer ma commande 4512, la carte est refusée."),
]


def _expected_cost(prompt: int, completion: int) -> Decimal:
    # gpt-4o-mini list price: $0.15 / 1M prompt tokens, $0.60 / 1M completion tokens.
    return (Decimal("0.15") * prompt + Decimal("0.60") * completion) / Decimal(1_000_000)


@pytest.mark.django_db
def test_openai_provider_streams_tokens_from_the_server_and_records_usage(openai_provider: OpenAIStub) -> None:
    model = get_chat_model("summary", streaming=True)
    chunks = [c.content for c in model.stream(MESSAGES) if c.content]

    assert len(chunks) >= 5, "the answer arrives in several chunks, not at once"
    assert "".join(chunks) == openai_provider.reply
    request = openai_provider.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body["stream"] is True
    assert request.body["model"] == "gpt-4o-mini"
    assert request.headers["authorization"] == "Bearer sk-test-stub"

    call = LLMCall.objects.get()
    usage = openai_provider.usages[-1]
    assert (call.prompt_tokens, call.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert call.tokens_estimated is False
    assert call.streamed is True
    assert call.first_token_ms is not None and call.first_token_ms <= call.latency_ms
    assert (call.provider, call.model, call.purpose, call.outcome) == ("openai", "gpt-4o-mini", "summary", "ok")
    assert call.cost_usd == _expected_cost(call.prompt_tokens, call.completion_tokens).quantize(Decimal("0.000001"))


@pytest.mark.django_db
def test_openai_provider_invoke_without_streaming(openai_provider: OpenAIStub) -> None:
    answer = get_chat_model("summary").invoke(MESSAGES)
    assert answer.content == openai_provider.reply
    assert openai_provider.requests[-1].body.get("stream") in (None, False)
    call = LLMCall.objects.get()
    assert call.completion_tokens == openai_provider.usages[-1]["completion_tokens"]
    assert call.streamed is False


@pytest.mark.django_db
def test_streaming_is_incremental(openai_provider: OpenAIStub) -> None:
    """The first chunk reaches the caller while the server is still sending the rest."""
    import time

    openai_provider.token_delay = 0.05
    started = time.perf_counter()
    stream = get_chat_model("summary", streaming=True).stream(MESSAGES)
    first = next(c for c in stream if c.content)
    first_at = time.perf_counter() - started
    rest = "".join(c.content for c in stream)
    total = time.perf_counter() - started
    assert first.content + rest == openai_provider.reply
    n_tokens = len(openai_provider.reply.split())
    assert total >= 0.05 * n_tokens
    assert first_at < total / 2


@pytest.mark.django_db
def test_openai_provider_retries_429_then_succeeds(openai_provider: OpenAIStub) -> None:
    openai_provider.fail_next(429, times=2)
    answer = get_chat_model("summary").invoke(MESSAGES)
    assert answer.content == openai_provider.reply
    assert len(openai_provider.requests) == 3  # 3 attempts in all (SPEC §4)
    assert LLMCall.objects.get().outcome == "ok"


@pytest.mark.django_db
def test_openai_provider_gives_up_after_three_attempts_and_records_the_error(openai_provider: OpenAIStub) -> None:
    import openai

    openai_provider.fail_next(503, times=5)
    with pytest.raises(openai.InternalServerError):
        get_chat_model("summary").invoke(MESSAGES)
    assert len(openai_provider.requests) == 3
    call = LLMCall.objects.get()
    assert (call.outcome, call.error_type, call.completion_tokens) == ("error", "InternalServerError/503", 0)


@pytest.mark.django_db(transaction=True)
def test_async_streaming_records_the_call(openai_provider: OpenAIStub) -> None:
    async def run() -> str:
        model = get_chat_model("copilot", streaming=True)
        return "".join([str(c.content) async for c in model.astream(MESSAGES)])

    # Other tests' chat calls made from LangChain's worker threads commit on their own connections, so count
    # only this test's purpose.
    LLMCall.objects.filter(purpose="copilot").delete()
    assert asyncio.run(run()) == openai_provider.reply
    call = LLMCall.objects.get(purpose="copilot")
    assert call.streamed and call.provider == "openai"


@pytest.mark.django_db
def test_openai_embeddings_use_configured_dimensions(openai_provider: OpenAIStub, settings: Any) -> None:
    vectors = get_embeddings().embed_documents(["paiement refusé", "livraison"])
    assert len(vectors) == 2
    assert all(len(v) == settings.EMBEDDING_DIM for v in vectors)
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-6)
    body = openai_provider.requests[-1].body
    assert body["dimensions"] == settings.EMBEDDING_DIM
    assert body["model"] == "text-embedding-3-small"
    call = LLMCall.objects.get()
    assert call.purpose == "embedding" and call.prompt_tokens > 0


class _NetworkBlocked(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, openai_stub: OpenAIStub, settings: Any) -> OpenAIStub:
    """Any TCP connection is refused except the database; the stub is configured but must never be called."""
    real_connect = socket.socket.connect
    from django.db import connection

    allowed_hosts = {connection.settings_dict["HOST"]}

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in allowed_hosts:
            raise _NetworkBlocked(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    settings.LLM_BASE_URL = openai_stub.url
    return openai_stub


@pytest.mark.django_db
def test_local_provider_works_with_no_network(no_network: OpenAIStub) -> None:
    model = get_chat_model("summary")
    chunks = [c.content for c in model.stream(MESSAGES) if c.content]
    answer = "".join(chunks)
    assert len(chunks) > 3, "the local provider streams too"
    assert "payer ma commande 4512" in answer, "extractive: the key sentence of the customer is kept"
    assert no_network.requests == []
    call = LLMCall.objects.get()
    assert (call.provider, call.outcome, call.streamed) == ("local", "ok", True)
    assert call.prompt_tokens > 10 and call.completion_tokens > 5
    assert call.cost_usd == 0


@pytest.mark.django_db
def test_local_embeddings_work_with_no_network_and_are_semantic(no_network: OpenAIStub, settings: Any) -> None:
    embedder = get_embeddings()
    a, b, c = embedder.embed_documents(["paiement", "paiements", "livraison"])
    assert len(a) == settings.EMBEDDING_DIM

    def cos(x: list[float], y: list[float]) -> float:
        return sum(i * j for i, j in zip(x, y, strict=True))

    assert cos(a, b) > 0.85 > cos(a, c)
    assert "use-multilingual" in embedder.model_name  # type: ignore[attr-defined]


def test_hashing_embeddings_are_lexical_and_normalised(settings: Any) -> None:
    from apps.ai.embeddings import HashingEmbeddings

    emb = HashingEmbeddings(settings.EMBEDDING_DIM)
    a, b, c = emb.embed_documents(["paiement", "paiements", "livraison"])
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-9)
    assert sum(i * j for i, j in zip(a, b, strict=True)) > sum(i * j for i, j in zip(a, c, strict=True))
    assert emb.embed_query("Paiement") == emb.embed_query("paiement")


def test_token_counting_is_offline_and_plausible() -> None:
    from apps.ai.tokens import count_tokens, truncate_to_tokens

    assert count_tokens("") == 0
    assert 3 <= count_tokens("Je n'arrive pas à payer") <= 12
    long = "mot " * 3000
    assert count_tokens(truncate_to_tokens(long, 2000)) <= 2000


def test_prompts_are_files_in_both_languages() -> None:
    from apps.ai.prompts import load_prompt

    assert "conversation" in load_prompt("summary", "fr")
    assert "conversation" in load_prompt("summary", "en")
