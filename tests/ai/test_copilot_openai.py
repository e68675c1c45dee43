"""The copilot with the `openai` provider (apps/ai/copilot.py; SPEC §4, §7) against the local OpenAI-compatible HTTP
stub, streaming included: incremental deltas from a streamed JSON answer, citations mapped back from passage
numbers, PII redaction, the early stop of a low confidence, validation, and LLMUnavailable for errors, timeouts and
an open circuit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from apps.ai.breaker import breaker_record_failure, breaker_reset
from apps.ai.copilot import LLMUnavailable, analytics_infer, suggestion_stream, summary_fold
from apps.ai.models import LLMCall
from apps.copilot.types import (
    REPLY_MAX_CHARS,
    Citation,
    ContextMessage,
    CopilotContext,
    Delta,
    Done,
    FieldDelta,
    Passage,
    ReplyDelta,
)
from tests.stubs.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db

PASSAGES = [
    Passage(1, "Livraison", "https://help.example/livraison", "Les commandes sont expédiées sous 24 heures.", 0.6),
    Passage(2, "Colis perdu", "https://help.example/perdu", "Après 7 jours, nous ouvrons une enquête.", 0.55),
]
EMAIL, PHONE = "jeanne.martin@example.com", "06 12 34 56 78"
CONVERSATION = [
    ContextMessage("client", f"Bonjour, ma commande 4512 n'est pas arrivée. Écrivez-moi à {EMAIL} ou au {PHONE}."),
    ContextMessage("agent", "Bonjour, je regarde votre commande."),
    ContextMessage("client", "Elle a été expédiée il y a 9 jours, c'est long !"),
]
ANSWER: dict[str, Any] = {
    "confidence": 0.86,
    "replies": [
        {
            "text": "Votre commande 4512 a été expédiée il y a plus de 7 jours : j'ouvre une enquête auprès du "
            "transporteur dès maintenant et je reviens vers vous sous 48 heures.",
            "sources": [2],
        },
        {"text": "Je suis désolé pour ce retard. Nous lançons une enquête sur votre colis [2].", "sources": []},
        {"text": "Les commandes partent sous 24 heures [1] ; passé 7 jours, nous enquêtons [2].", "sources": [1, 2]},
    ],
    "questions": ["Avez-vous reçu un e-mail de suivi ?", "Le colis a-t-il pu être livré chez un voisin ?"],
    "signals_detected": ["Impatience"],
    "recommended_direction": "Rassurer et ouvrir l'enquête transporteur.",
    "priority": "high",
    "next_best_actions": ["Ouvrir une enquête transporteur", "Rappeler sous 48 h"],
    "sentiment_trend": "declining",
}


@pytest.fixture
def llm(settings: Any, openai_stub: OpenAIStub) -> Iterator[OpenAIStub]:
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY = "sk-test-stub"
    settings.LLM_BASE_URL = openai_stub.url
    settings.COPILOT_MIN_RETRIEVAL = {"default": 0.3}
    breaker_reset("openai")
    openai_stub.reply = json.dumps(ANSWER, ensure_ascii=False)
    yield openai_stub
    breaker_reset("openai")


def context(**kwargs: Any) -> CopilotContext:
    defaults: dict[str, Any] = {
        "messages": CONVERSATION,
        "passages": PASSAGES,
        "language": "fr",
        "entities": {"order_numbers": ["4512"]},
    }
    return CopilotContext(**(defaults | kwargs))


def _chat(stub: OpenAIStub) -> list[Any]:
    return [r for r in stub.requests if r.path.endswith("/chat/completions")]


def test_replies_stream_while_the_server_is_still_sending(llm: OpenAIStub) -> None:
    llm.token_delay = 0.01
    seen: list[tuple[float, Delta, bool]] = []  # (time, delta, stub still sending)
    for delta in suggestion_stream(context()):
        seen.append((time.perf_counter(), delta, llm.streams[-1].finished is None))
    first_reply_at, _, sending = next(item for item in seen if isinstance(item[1], ReplyDelta))
    assert sending, "the first reply piece reached the caller while the stub was still streaming the answer"
    finished = llm.streams[-1].finished
    assert finished is not None and first_reply_at < finished
    assert sum(isinstance(d, ReplyDelta) and d.index == 0 for _, d, _ in seen) >= 3, "reply 0 grows in steps"

    deltas = [d for _, d, _ in seen]
    done = deltas[-1]
    assert isinstance(done, Done) and done.provider == ""
    suggestion = done.suggestion
    assert not suggestion.silent
    assert deltas[0] == FieldDelta("confidence", 0.86), "confidence comes first"
    assert [r.text.split(" [")[0][:30] for r in suggestion.replies] == [
        r["text"].split(" [")[0][:30] for r in ANSWER["replies"]
    ]
    for index, reply in enumerate(suggestion.replies):
        streamed = "".join(d.text for d in deltas if isinstance(d, ReplyDelta) and d.index == index)
        assert streamed == reply.text, "the streamed pieces add up to the validated text (markers removed)"
    # Citations: passage numbers mapped back, from "sources" and from inline [n] markers.
    lost = Citation("Colis perdu", "https://help.example/perdu", 2)
    assert suggestion.replies[0].citations == [lost]
    assert suggestion.replies[1].citations == [lost]
    assert [c.chunk_id for c in suggestion.replies[2].citations] == [1, 2]
    assert "[2]" not in suggestion.replies[1].text
    assert (suggestion.priority, suggestion.sentiment_trend, suggestion.confidence) == ("high", "declining", 0.86)
    assert suggestion.questions == ANSWER["questions"]
    fields = {d.name for d in deltas if isinstance(d, FieldDelta)}
    assert {"questions", "signals_detected", "priority", "next_best_actions", "sentiment_trend"} <= fields
    # Usage of the call, for the Suggestion row, equal to what the server reported.
    assert done.usage is not None and done.usage.completion_tokens == llm.usages[-1]["completion_tokens"]
    assert done.usage.cost_usd > 0
    call = LLMCall.objects.get(purpose="copilot")
    assert (call.provider, call.streamed, call.outcome) == ("openai", True, "ok")


def test_what_reaches_the_model_is_redacted_and_grounded(llm: OpenAIStub) -> None:
    list(suggestion_stream(context()))
    [request] = _chat(llm)
    assert request.body["stream"] is True
    sent = json.dumps(request.body["messages"], ensure_ascii=False)
    assert EMAIL not in sent and "12 34 56 78" not in sent
    assert "[EMAIL]" in sent and "[PHONE]" in sent
    system = request.body["messages"][0]["content"]
    assert "[1] Livraison" in system and "[2] Colis perdu" in system  # numbered passages in the French prompt
    assert '"confidence"' in system and "JSON" in system
    assert "4512" in request.body["messages"][1]["content"]  # the conversation and its entities


def test_low_confidence_stops_the_stream_before_any_reply(llm: OpenAIStub, settings: Any) -> None:
    llm.reply = json.dumps({**ANSWER, "confidence": 0.2}, ensure_ascii=False)
    llm.token_delay = 0.01
    deltas = list(suggestion_stream(context()))
    done = deltas[-1]
    assert isinstance(done, Done)
    assert done.suggestion.silent and done.suggestion.replies == []
    assert done.suggestion.confidence == 0.2
    assert not any(isinstance(d, ReplyDelta) for d in deltas)
    assert len(done.suggestion.questions) >= 2, "the other fields still help the agent"
    deadline = time.monotonic() + 5
    while llm.streams[-1].finished is None and time.monotonic() < deadline:
        time.sleep(0.02)
    total = len(llm.reply.split())
    assert llm.streams[-1].tokens_sent < total, "the stream was stopped early: the rest was never sent"
    call = LLMCall.objects.get(purpose="copilot")
    assert (call.outcome, call.error_type) == ("ok", "stopped")


def test_weak_retrieval_makes_no_call(llm: OpenAIStub) -> None:
    weak = [Passage(**{**p.__dict__, "similarity": 0.1}) for p in PASSAGES]
    done = list(suggestion_stream(context(passages=weak)))[-1]
    assert isinstance(done, Done) and done.suggestion.silent and done.suggestion.replies == []
    assert done.provider == "local"
    assert _chat(llm) == []


def test_server_errors_raise_llm_unavailable_error(llm: OpenAIStub) -> None:
    llm.fail_next(500, times=3)
    with pytest.raises(LLMUnavailable) as failed:
        list(suggestion_stream(context()))
    assert failed.value.reason == "error"
    assert len(_chat(llm)) == 3  # the client's retries, then the failure


def test_server_down_raises_llm_unavailable_error(llm: OpenAIStub, settings: Any) -> None:
    settings.LLM_MAX_RETRIES = 1
    llm.down = True
    with pytest.raises(LLMUnavailable) as failed:
        list(suggestion_stream(context()))
    assert failed.value.reason == "error"


def test_slow_server_raises_llm_unavailable_timeout(llm: OpenAIStub, settings: Any) -> None:
    settings.LLM_TIMEOUT = 0.3
    settings.LLM_MAX_RETRIES = 1
    llm.response_delay = 1.5
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable) as failed:
        list(suggestion_stream(context()))
    assert failed.value.reason == "timeout"
    assert time.perf_counter() - started < 1.4


def test_slow_first_token_times_out_too(llm: OpenAIStub, settings: Any) -> None:
    settings.LLM_TIMEOUT = 0.3
    settings.LLM_MAX_RETRIES = 1
    llm.first_token_delay = 1.5
    with pytest.raises(LLMUnavailable) as failed:
        list(suggestion_stream(context()))
    assert failed.value.reason == "timeout"


def test_open_circuit_raises_at_once_without_a_request(llm: OpenAIStub, settings: Any) -> None:
    for _ in range(settings.LLM_BREAKER_FAILURES):
        breaker_record_failure("openai")
    with pytest.raises(LLMUnavailable) as failed:
        list(suggestion_stream(context()))
    assert failed.value.reason == "circuit_open"
    assert _chat(llm) == []


def test_invalid_answer_gives_the_local_suggestion_flagged(llm: OpenAIStub) -> None:
    llm.reply = "Bien sûr ! Voici quelques idées de réponses pour le client."
    deltas = list(suggestion_stream(context()))
    done = deltas[-1]
    assert isinstance(done, Done) and done.provider == "openai+local"
    # The local stand-in still obeys the rules and cites the given passages.
    suggestion = done.suggestion
    assert suggestion.silent or 2 <= len(suggestion.replies) <= 3
    for reply in suggestion.replies:
        assert {c.chunk_id for c in reply.citations} <= {1, 2}


def test_out_of_rules_answer_is_normalised(llm: OpenAIStub) -> None:
    long = "Nous ouvrons une enquête. " * 40
    llm.reply = json.dumps(
        {
            "confidence": 3,
            "replies": [{"text": long, "sources": [7]}, {"text": "Variante deux.", "sources": [1]}, "Trois", "Quatre"],
            "questions": ["Une seule question ?"],
            "priority": "URGENT",
            "sentiment_trend": "up",
        }
    )
    deltas = list(suggestion_stream(context()))
    suggestion = deltas[-1].suggestion  # type: ignore[union-attr]
    assert suggestion.confidence == 1.0
    assert len(suggestion.replies) == 3 and all(len(r.text) <= REPLY_MAX_CHARS for r in suggestion.replies)
    assert suggestion.replies[0].citations == []  # [7] is no passage
    assert suggestion.priority == "critical" and suggestion.sentiment_trend == "stable"
    assert len(suggestion.questions) >= 2, "topped up with the local questions"
    for index in range(3):
        streamed = "".join(d.text for d in deltas if isinstance(d, ReplyDelta) and d.index == index)
        assert suggestion.replies[index].text.startswith(streamed[: len(suggestion.replies[index].text) - 1])


# ----------------------------------------------------------------------------------------------- analytics, summary


def test_analytics_from_the_model(llm: OpenAIStub) -> None:
    llm.reply = (
        "```json\n"
        + json.dumps(
            {
                "intent": "livraison",
                "sentiment": "negative",
                "emotion": "anger",
                "summary": "Commande 4512 expédiée il y a 9 jours, non reçue ; le client s'impatiente.",
                "churn_risk": 135,
                "next_action": "Ouvrir une enquête transporteur",
            },
            ensure_ascii=False,
        )
        + "\n```"
    )
    analytics = analytics_infer(context())
    assert (analytics.intent, analytics.sentiment, analytics.emotion) == ("livraison", "negative", "anger")
    assert analytics.churn_risk == 100
    assert "4512" in analytics.summary
    [request] = _chat(llm)
    assert EMAIL not in json.dumps(request.body, ensure_ascii=False)
    assert "churn_risk" in request.body["messages"][0]["content"]
    assert LLMCall.objects.get().purpose == "copilot_analytics"


def test_invalid_analytics_answer_gives_the_local_analytics(llm: OpenAIStub) -> None:
    llm.reply = "Je ne peux pas répondre."
    analytics = analytics_infer(
        context(messages=[ContextMessage("client", "je veux résilier, c'est scandaleux, 3 pannes ce mois-ci")])
    )
    assert analytics.intent == "cancellation" and analytics.churn_risk > 80


def test_analytics_raise_when_the_model_fails(llm: OpenAIStub) -> None:
    llm.fail_next(503, times=3)
    with pytest.raises(LLMUnavailable) as failed:
        analytics_infer(context())
    assert failed.value.reason == "error"


def test_summary_fold_uses_the_summary_prompt_redacted(llm: OpenAIStub) -> None:
    llm.reply = "Le client attend sa commande 4512, expédiée il y a 9 jours."
    folded = summary_fold("Le client a contacté le service.", CONVERSATION, "fr")
    assert folded == llm.reply
    [request] = _chat(llm)
    sent = json.dumps(request.body["messages"], ensure_ascii=False)
    assert EMAIL not in sent and "[EMAIL]" in sent
    assert "Le client a contacté le service." in sent
    assert LLMCall.objects.get().purpose == "summary"


def test_summary_fold_raises_when_the_model_fails(llm: OpenAIStub) -> None:
    for _ in range(5):
        breaker_record_failure("openai")
    with pytest.raises(LLMUnavailable):
        summary_fold("", CONVERSATION, "fr")


# --------------------------------------------------------------------------- the REST batch (apps.copilot.services)


def _batch(count: int) -> list[ContextMessage]:
    return [ContextMessage("client", f"Ma commande {4500 + i} n'est toujours pas arrivée.") for i in range(count)]


def _most_at_once(streams: list[Any]) -> int:
    moments = sorted([(s.received, 1) for s in streams] + [(s.finished, -1) for s in streams])
    now = most = 0
    for _moment, step in moments:
        now += step
        most = max(most, now)
    return most


@pytest.mark.django_db(transaction=True)  # the batch's threads write LLMCall rows on their own connections
def test_a_batch_asks_the_model_for_several_suggestions_at_once_in_order(
    llm: OpenAIStub, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.copilot import memory, services

    monkeypatch.setattr(memory, "passages_for", lambda query: list(PASSAGES))
    settings.COPILOT_BATCH_CONCURRENCY = 3
    llm.first_token_delay = 0.3
    started = time.perf_counter()
    out = services.suggestions_for_messages(messages=_batch(6), languages=["fr"] * 6)
    elapsed = time.perf_counter() - started
    assert [len(s.replies) for s in out] == [3] * 6
    assert _most_at_once(llm.streams) == 3 and len(llm.streams) == 6
    assert elapsed < 6 * 0.3  # one after the other would take longer than this
    # Message i's request holds the conversation up to message i, and every message was asked about once.
    lasts = sorted(r.body["messages"][-1]["content"].count("Ma commande") for r in llm.requests if "chat" in r.path)
    assert lasts == [1, 2, 3, 4, 5, 6]
    assert LLMCall.objects.filter(purpose="copilot").count() == 6


@pytest.mark.django_db(transaction=True)
def test_a_batch_fails_as_a_whole_when_the_model_is_unavailable(
    llm: OpenAIStub, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.copilot import memory, services

    monkeypatch.setattr(memory, "passages_for", lambda query: list(PASSAGES))
    settings.COPILOT_BATCH_CONCURRENCY = 4
    llm.down = True
    with pytest.raises(services.CopilotUnavailable):
        services.suggestions_for_messages(messages=_batch(8), languages=["fr"] * 8)


def test_the_local_provider_computes_a_batch_one_at_a_time(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.copilot import services

    settings.LLM_PROVIDER = "local"
    monkeypatch.setattr(services, "ThreadPoolExecutor", None)  # any use would fail
    out = services.suggestions_for_messages(messages=_batch(3), languages=["fr"] * 3)
    assert len(out) == 3
