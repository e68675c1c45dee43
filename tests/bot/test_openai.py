"""The `openai` provider for knowledge answers: a grounded prompt (apps/ai/prompts/bot.<lang>.txt) through the AI
seam, the customer's text PII-redacted, against the local OpenAI-compatible stub. Embeddings stay local (the
knowledge base was ingested with them)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.ai.models import LLMCall
from apps.bot.services import bot_respond
from tests.stubs.openai_stub import OpenAIStub

QUESTION = "will I get 5G when I'm roaming in Italy? my e-mail is jane.doe@example.com, call me on +33 6 12 34 56 78"


@pytest.fixture
def openai_llm(settings: Any, openai_stub: OpenAIStub) -> OpenAIStub:
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY = "sk-test-stub"
    settings.LLM_BASE_URL = openai_stub.url
    return openai_stub


def _chat_requests(stub: OpenAIStub) -> list[Any]:
    return [r for r in stub.requests if r.path.endswith("/chat/completions")]


def test_grounded_answer_with_redacted_question(kb: dict[str, str], openai_llm: OpenAIStub) -> None:
    openai_llm.reply = "Yes: 5G works in Italy with an Alizé plan that includes 5G roaming."
    reply = bot_respond(conversation=None, text=QUESTION)
    assert (reply.kind, reply.confident, reply.text) == ("knowledge", True, openai_llm.reply)
    assert reply.sources[0]["title"] == kb["network-5g.en.md"]
    [request] = _chat_requests(openai_llm)
    sent = " ".join(str(m["content"]) for m in request.body["messages"])
    assert "jane.doe" not in sent and "12 34 56 78" not in sent and "[EMAIL]" in sent and "[PHONE]" in sent
    system = request.body["messages"][0]["content"]
    assert "NO_ANSWER" in system and "5G" in system  # the English prompt file with the retrieved excerpts
    assert LLMCall.objects.filter(purpose="bot", provider="openai").count() == 1


def test_model_saying_no_answer_gives_the_honest_reply(kb: Any, openai_llm: OpenAIStub) -> None:
    openai_llm.reply = "NO_ANSWER"
    reply = bot_respond(conversation=None, text="will I get 5G when I'm roaming in Italy?")
    assert (reply.kind, reply.confident) == ("no_answer", False)


def test_model_failure_falls_back_to_the_extractive_answer(kb: dict[str, str], openai_llm: OpenAIStub) -> None:
    openai_llm.fail_next(500, times=10)
    reply = bot_respond(conversation=None, text="will I get 5G when I'm roaming in Italy?")
    assert (reply.kind, reply.confident) == ("knowledge", True)
    assert reply.sources[0]["title"] == kb["network-5g.en.md"]
    assert len(_chat_requests(openai_llm)) == 3  # LLM_MAX_RETRIES attempts, then the fallback


def test_smart_replies_and_off_topic_questions_do_not_call_the_model(kb: Any, openai_llm: OpenAIStub) -> None:
    assert bot_respond(conversation=None, text="bonjour").kind == "smart"
    assert bot_respond(conversation=None, text="how tall is the Eiffel Tower?").kind == "no_answer"
    assert _chat_requests(openai_llm) == []
