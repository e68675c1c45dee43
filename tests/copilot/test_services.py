"""Orchestration services against the real database and Redis, with the generation seam faked."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from apps.conversations.models import Conversation, Message
from apps.copilot import services
from apps.copilot.models import ConversationAnalytics, Suggestion
from apps.copilot.types import Analytics, CopilotContext, Delta, Done, ReplyDelta
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.copilot.conftest import FakeAI, SentEvents, sample_stream, sample_suggestion

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- trivial messages


@pytest.mark.parametrize(
    "text",
    ["ok", "OK !", "merci", "Merci beaucoup !!", "thanks", "Thank you", "👍", "d'accord", "D’accord, merci", "ok merci",
     "   ", "...", "🙏🙏", "parfait, merci bien", "super"],
)  # fmt: skip
def test_trivial_messages(text: str) -> None:
    assert services.message_is_trivial(text)


@pytest.mark.parametrize(
    "text",
    ["non", "ok mais ça ne marche toujours pas", "merci de résilier mon abonnement", "je veux résilier",
     "thanks but I want a refund", "12345", "pourquoi ?"],
)  # fmt: skip
def test_non_trivial_messages(text: str) -> None:
    assert not services.message_is_trivial(text)


# --------------------------------------------------------------------------- viewers and triggers


def test_viewer_registry(flush_redis: None, settings: Any) -> None:
    assert not services.copilot_has_viewers(conversation_id=7)
    services.copilot_viewer_add(conversation_id=7, socket_id="specific.a")
    services.copilot_viewer_add(conversation_id=7, socket_id="specific.b")
    assert services.copilot_has_viewers(conversation_id=7)
    assert not services.copilot_has_viewers(conversation_id=8)
    services.copilot_viewer_remove(conversation_id=7, socket_id="specific.a")
    assert services.copilot_has_viewers(conversation_id=7)
    services.copilot_viewer_remove(conversation_id=7, socket_id="specific.b")
    assert not services.copilot_has_viewers(conversation_id=7)


def test_viewer_expires_without_refresh(flush_redis: None, settings: Any) -> None:
    settings.COPILOT_VIEWER_TTL = 1
    services.copilot_viewer_add(conversation_id=9, socket_id="specific.a")
    assert services.copilot_has_viewers(conversation_id=9)
    time.sleep(1.1)
    assert not services.copilot_has_viewers(conversation_id=9)
    services.copilot_viewer_refresh(conversation_id=9, socket_id="specific.a")
    assert services.copilot_has_viewers(conversation_id=9)


def test_trigger_never_moves_backwards(flush_redis: None) -> None:
    services.copilot_trigger_set(conversation_id=3, message_id=10)
    services.copilot_trigger_set(conversation_id=3, message_id=9)
    assert services.copilot_trigger_latest(conversation_id=3) == 10
    services.copilot_trigger_set(conversation_id=3, message_id=11)
    assert services.copilot_trigger_latest(conversation_id=3) == 11


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    from apps.copilot import tasks

    calls: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(tasks.suggestion_generate, "delay", lambda *a: calls.append(("suggestion_generate", a)))
    monkeypatch.setattr(
        tasks.analytics_update, "apply_async", lambda args, countdown: calls.append(("analytics_update", args))
    )
    return calls


@pytest.mark.parametrize(
    ("watched", "text", "expected"),
    [
        (True, "Je veux résilier", ["suggestion_generate", "analytics_update"]),
        (True, "merci !", ["suggestion_generate"]),
        (False, "Je veux résilier", ["analytics_update"]),
        (False, "ok", []),
    ],
)
def test_message_received_enqueues(
    flush_redis: None, enqueued: list[Any], watched: bool, text: str, expected: list[str]
) -> None:
    message = MessageFactory(text=text)
    if watched:
        services.copilot_viewer_add(conversation_id=message.conversation_id, socket_id="specific.x")
    services.copilot_message_received(conversation_id=message.conversation_id, message_id=message.pk)
    assert [name for name, _args in enqueued] == expected
    for _name, args in enqueued:
        assert args == (message.conversation_id, message.pk)
    assert services.copilot_trigger_latest(conversation_id=message.conversation_id) == message.pk


# --------------------------------------------------------------------------- suggestion_generate


@pytest.fixture
def generate(django_capture_on_commit_callbacks: Any) -> Any:
    """suggestion_generate, with the after-commit events (suggestion.done) sent as in a worker."""

    def run(message: Message) -> Suggestion | None:
        with django_capture_on_commit_callbacks(execute=True):
            return services.suggestion_generate(conversation_id=message.conversation_id, message_id=message.pk)

    return run


def _watched_message(text: str = "Je veux résilier mon abonnement") -> Message:
    message = MessageFactory(text=text)
    services.copilot_trigger_set(conversation_id=message.conversation_id, message_id=message.pk)
    services.copilot_viewer_add(conversation_id=message.conversation_id, socket_id="specific.console")
    return message


def test_generate_streams_and_stores(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    message = _watched_message()
    suggestion = generate(message)

    assert suggestion is not None
    stored = Suggestion.objects.get(pk=suggestion.pk)
    expected = sample_suggestion()
    assert stored.payload == expected.as_dict()
    assert stored.trigger_message_id == message.pk and stored.outcome == "pending"
    assert stored.confidence == pytest.approx(0.8) and not stored.silent
    assert stored.provider == "local" and stored.cost_usd == Decimal(0)
    assert stored.first_token_ms is not None and stored.total_ms is not None
    assert stored.first_token_ms <= stored.total_ms

    types = sent_events.types
    assert types[0] == "suggestion.start" and types[-1] == "suggestion.done"
    assert set(types[1:-1]) == {"suggestion.chunk"} and len(types) >= 4
    assert all(e["group"] == f"copilot.{message.conversation_id}" for _k, e in sent_events.events)
    chunks = sent_events.of("suggestion.chunk")
    first_delta = sample_stream()[0]
    assert isinstance(first_delta, ReplyDelta)
    assert chunks[0]["field"] == "reply" and chunks[0]["text"] == first_delta.text, "the first delta alone, at once"
    replies: dict[int, str] = {}
    for chunk in chunks:
        if chunk["field"] == "reply":
            replies[chunk["index"]] = replies.get(chunk["index"], "") + chunk["text"]
    assert replies == {i: r.text for i, r in enumerate(expected.replies)}
    citations = [c for c in chunks if c["field"] == "citations"]
    assert citations[0]["index"] == 0 and citations[0]["value"] == [{"title": "Résiliation", "url": "/help/1/",
                                                                     "chunk_id": 1}]  # fmt: skip
    assert sent_events.of("suggestion.done")[0]["suggestion_id"] == stored.pk
    assert fake_ai.contexts[0].messages[-1].text == message.text


def test_chunks_are_coalesced_but_never_held_while_the_model_is_silent(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    resumed: list[float] = []
    sent_at: list[tuple[float, dict[str, Any]]] = []
    from apps.copilot import events

    monkeypatch.setattr(
        events,
        "_send_now",
        lambda group, kind, payload: sent_at.append((time.perf_counter(), {"kind": kind, **payload})),
    )

    def stream(context: CopilotContext) -> Iterator[Delta]:
        yield ReplyDelta(index=0, text="Bonjour")
        for word in " vous pouvez résilier en ligne".split(" ")[1:]:
            yield ReplyDelta(index=0, text=" " + word)
        time.sleep(0.5)  # the model pauses: what arrived before must not wait for what comes after
        resumed.append(time.perf_counter())
        yield ReplyDelta(index=0, text=".")
        yield Done(suggestion=sample_suggestion("Bonjour vous pouvez résilier en ligne."))

    fake_ai.stream = stream
    message = _watched_message()
    generate(message)

    chunks = [(at, e) for at, e in sent_at if e["kind"] == "suggestion.chunk"]
    assert chunks[0][1]["text"] == "Bonjour"
    before_pause = [e["text"] for at, e in chunks if at < resumed[0]]
    assert "".join(before_pause) == "Bonjour vous pouvez résilier en ligne", "sent during the pause"
    assert len(before_pause) < 6, "the five quick deltas after the first were coalesced"


def test_newer_message_cancels_the_stream(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    message = _watched_message()
    newer = MessageFactory(conversation=message.conversation, text="Et aussi ma facture")
    yielded: list[int] = []

    def stream(context: CopilotContext) -> Iterator[Delta]:
        for i in range(40):
            if i == 3:  # the customer writes again while this suggestion streams
                services.copilot_trigger_set(conversation_id=message.conversation_id, message_id=newer.pk)
            yielded.append(i)
            yield ReplyDelta(index=0, text=f" mot{i}")
            time.sleep(0.02)
        yield Done(suggestion=sample_suggestion())

    fake_ai.stream = stream
    result = generate(message)

    assert result is None
    assert not Suggestion.objects.filter(conversation=message.conversation).exists(), "no half-written row"
    assert "suggestion.done" not in sent_events.types
    assert len(yielded) < 40, "the stream stopped being read"


def test_a_superseded_message_is_not_generated(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    message = _watched_message()
    services.copilot_trigger_set(conversation_id=message.conversation_id, message_id=message.pk + 1)
    assert generate(message) is None
    assert sent_events.events == [] and fake_ai.contexts == []


def test_a_conversation_no_longer_watched_is_not_generated(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    message = _watched_message()
    services.copilot_viewer_remove(conversation_id=message.conversation_id, socket_id="specific.console")
    assert generate(message) is None
    assert sent_events.events == [] and fake_ai.contexts == []


@pytest.mark.parametrize("reason", ["error", "timeout", "circuit_open"])
def test_unavailable_model_sends_unavailable_and_leaves_no_row(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents, reason: str
) -> None:
    fake_ai.fail = reason
    message = _watched_message()
    assert generate(message) is None
    assert sent_events.types == ["suggestion.start", "suggestion.unavailable"]
    assert sent_events.of("suggestion.unavailable")[0]["reason"] == reason
    assert not Suggestion.objects.exists()


def test_failure_mid_stream_leaves_no_row(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    def stream(context: CopilotContext) -> Iterator[Delta]:
        yield ReplyDelta(index=0, text="Bonjour")
        yield ReplyDelta(index=0, text=" vous")
        raise fake_ai.LLMUnavailable("timeout")

    fake_ai.stream = stream
    message = _watched_message()
    assert generate(message) is None
    assert sent_events.types[-1] == "suggestion.unavailable"
    assert "suggestion.chunk" in sent_events.types
    assert not Suggestion.objects.exists()


def test_usage_from_the_stream_is_stored(
    flush_redis: None, generate: Any, fake_ai: FakeAI, sent_events: SentEvents
) -> None:
    from apps.copilot.types import Usage

    fake_ai.stream = lambda context: iter(
        [Done(suggestion=sample_suggestion(), usage=Usage(prompt_tokens=900, completion_tokens=120, cost_usd=0.000207),
              provider="openai")]
    )  # fmt: skip
    message = _watched_message()
    suggestion = generate(message)
    assert suggestion is not None
    suggestion.refresh_from_db()
    assert (suggestion.prompt_tokens, suggestion.completion_tokens) == (900, 120)
    assert suggestion.cost_usd == Decimal("0.000207") and suggestion.provider == "openai"


# --------------------------------------------------------------------------- outcomes


def _stored_suggestion(**fields: Any) -> Suggestion:
    defaults: dict[str, Any] = {"payload": sample_suggestion().as_dict(), "first_token_ms": 10, "total_ms": 50}
    return Suggestion.objects.create(conversation=ConversationFactory(), **(defaults | fields))


@pytest.mark.parametrize(
    ("sent", "outcome"),
    [
        ("Vous pouvez résilier depuis votre espace client.", "accepted"),
        ("  vous pouvez résilier depuis  votre espace client. ", "accepted"),
        ("Je peux vous aider à résilier maintenant.", "accepted"),
        ("Bonjour, vous pouvez résilier depuis votre espace client !", "edited"),
        ("Je vous transfère au service commercial, un instant.", "ignored"),
        (None, "ignored"),
    ],
)
def test_outcome_rules(agent_user: Any, sent: str | None, outcome: str) -> None:
    suggestion = _stored_suggestion()
    recorded = services.suggestion_outcome_record(suggestion_id=suggestion.pk, agent=agent_user, sent_text=sent)
    assert recorded is not None and recorded.outcome == outcome
    assert recorded.agent_id == agent_user.pk and recorded.decided_at is not None


def test_outcome_edited_threshold_is_difflib_ratio() -> None:
    import difflib

    variant = sample_suggestion().replies[0].text.casefold()
    close = "Vous pouvez résilier depuis l'application."
    far = "Vous pouvez nous appeler au 3000."
    assert difflib.SequenceMatcher(None, close.casefold(), variant).ratio() >= 0.6
    assert difflib.SequenceMatcher(None, far.casefold(), variant).ratio() < 0.6
    payload = sample_suggestion().as_dict()
    assert services.suggestion_outcome_of(payload, close) == "edited"
    assert services.suggestion_outcome_of(payload, far) == "ignored"


def test_outcome_is_recorded_once(agent_user: Any) -> None:
    suggestion = _stored_suggestion()
    services.suggestion_outcome_record(suggestion_id=suggestion.pk, agent=agent_user, sent_text=None)
    again = services.suggestion_outcome_record(
        suggestion_id=suggestion.pk, agent=agent_user, sent_text=sample_suggestion().replies[0].text
    )
    assert again is not None and again.outcome == "ignored"


def test_outcome_of_unknown_suggestion_is_none(agent_user: Any) -> None:
    assert services.suggestion_outcome_record(suggestion_id=999_999, agent=agent_user, sent_text="x") is None


def test_silent_suggestion_sent_text_is_ignored(agent_user: Any) -> None:
    suggestion = _stored_suggestion(payload={"replies": [], "silent": True})
    recorded = services.suggestion_outcome_record(suggestion_id=suggestion.pk, agent=agent_user, sent_text="Bonjour")
    assert recorded is not None and recorded.outcome == "ignored"


# --------------------------------------------------------------------------- analytics


SECRET = "je veux résilier tout de suite, c'est inadmissible, trois pannes ce mois-ci !"


def test_analytics_stored_and_announced(
    fake_ai: FakeAI, sent_events: SentEvents, django_capture_on_commit_callbacks: Any
) -> None:
    message = MessageFactory(text="Ma box ne marche plus")
    fake_ai.analytics = Analytics(intent="technical", sentiment="negative", emotion="anger", summary="Box en panne",
                                  churn_risk=40, next_action="Proposer un technicien")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        row = services.analytics_update(conversation_id=message.conversation_id)
    assert row is not None
    stored = ConversationAnalytics.objects.get(conversation_id=message.conversation_id)
    assert (stored.intent, stored.sentiment, stored.emotion, stored.churn_risk) == (
        "technical",
        "negative",
        "anger",
        40,
    )
    assert sent_events.types == ["analytics.updated"]
    assert Conversation.objects.get(pk=message.conversation_id).tags == []


def test_churn_above_threshold_tags_alerts_and_logs_once(
    fake_ai: FakeAI, sent_events: SentEvents, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any,
    ticket_categories_seeded: None,
) -> None:  # fmt: skip
    from apps.tickets.models import Ticket
    from apps.tickets.services import ticket_create

    message = MessageFactory(text=SECRET)
    conversation = message.conversation
    ticket = ticket_create(subject="Résiliation", conversation=conversation, tags=["vip"])
    closed = ticket_create(subject="Ancien", conversation=conversation)
    Ticket.objects.filter(pk=closed.pk).update(status=Ticket.Status.CLOSED)
    fake_ai.analytics = Analytics(sentiment="negative", emotion="anger", churn_risk=95)

    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        services.analytics_update(conversation_id=conversation.pk)
        services.analytics_update(conversation_id=conversation.pk)

    conversation.refresh_from_db()
    assert conversation.tags == ["URGENT_RETENTION"]
    assert Ticket.objects.get(pk=ticket.pk).tags == ["vip", "URGENT_RETENTION"]
    assert Ticket.objects.get(pk=closed.pk).tags == [], "closed tickets are left alone"
    alerts = sent_events.of("copilot.alert")
    assert len(alerts) == 1
    assert alerts[0] == {"group": "inbox.default", "conversation_id": conversation.pk, "kind": "urgent_retention",
                         "churn_risk": 95}  # fmt: skip
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and critical[0].conversation_id == conversation.pk  # type: ignore[attr-defined]
    for record in caplog.records:
        rendered = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        assert "résilier" not in rendered and "inadmissible" not in rendered


def test_churn_at_threshold_does_not_alert(fake_ai: FakeAI, sent_events: SentEvents, settings: Any) -> None:
    message = MessageFactory(text=SECRET)
    fake_ai.analytics = Analytics(churn_risk=settings.COPILOT_CHURN_ALERT)
    services.analytics_update(conversation_id=message.conversation_id)
    assert Conversation.objects.get(pk=message.conversation_id).tags == []


def test_analytics_unavailable_raises_for_the_task_retry(fake_ai: FakeAI) -> None:
    message = MessageFactory(text=SECRET)
    fake_ai.fail = "timeout"
    with pytest.raises(fake_ai.LLMUnavailable):
        services.analytics_update(conversation_id=message.conversation_id)
