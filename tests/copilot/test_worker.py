"""The copilot through the real stack: a Celery worker consuming the `copilot` queue (thread pool, as in runstack),
the Redis channel layer, the real generation seam with the local provider (a slow stand-in stream only where a
suggestion must still be in flight)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.conversations.events import inbox_group
from apps.conversations.models import Conversation
from apps.conversations.services import customer_message_receive
from apps.copilot import services
from apps.copilot.events import copilot_group
from apps.copilot.models import ConversationAnalytics, Suggestion
from tests.conversations.factories import ConversationFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

Events = list[dict[str, Any]]
COPILOT_WORKER = {"queues": "copilot", "pool": "threads", "concurrency": 4}


class GroupListener:
    """A test channel added to channel-layer groups; collects the events sent to them."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)
        self.events: Events = []

    def until(self, done: Callable[[Events], bool], timeout: float = 60) -> Events:
        async def collect() -> None:
            deadline = time.monotonic() + timeout
            while not done(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    self.events.append(await asyncio.wait_for(self.layer.receive(self.channel), remaining))
                except TimeoutError:
                    return

        async_to_sync(collect)()
        return self.events


def _types(events: Events, event_type: str) -> Events:
    return [e for e in events if e["type"] == event_type]


def _has(event_type: str, **match: Any) -> Callable[[Events], bool]:
    return lambda events: any(all(e.get(k) == v for k, v in match.items()) for e in _types(events, event_type))


def test_watched_conversation_gets_a_streamed_suggestion(worker_factory: Any, flush_redis: None) -> None:
    worker_factory("copilot", worker_options=COPILOT_WORKER)
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    services.copilot_viewer_add(conversation_id=conversation.pk, socket_id="specific.test!console")
    listener = GroupListener(copilot_group(conversation.pk))

    (message,) = customer_message_receive(conversation=conversation, text="Comment résilier mon abonnement ?")
    events = listener.until(lambda ev: bool(_types(ev, "suggestion.done") or _types(ev, "suggestion.unavailable")))

    kinds = [e["type"] for e in events if e["type"].startswith("suggestion.")]
    assert kinds[0] == "suggestion.start" and kinds[-1] == "suggestion.done", kinds
    assert kinds.count("suggestion.chunk") >= 2 and set(kinds[1:-1]) == {"suggestion.chunk"}
    start = _types(events, "suggestion.start")[0]
    assert start["trigger_message_id"] == message.pk
    suggestion = Suggestion.objects.get(pk=start["suggestion_id"])
    assert _types(events, "suggestion.done")[0]["suggestion_id"] == suggestion.pk
    assert suggestion.provider == "local" and suggestion.total_ms is not None and suggestion.first_token_ms is not None
    assert suggestion.payload["questions"], "the stored payload is the whole suggestion"


def test_no_viewer_no_suggestion(worker_factory: Any, flush_redis: None) -> None:
    worker_factory("copilot", worker_options=COPILOT_WORKER)
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    listener = GroupListener(copilot_group(conversation.pk))

    customer_message_receive(conversation=conversation, text="Ma box redémarre sans arrêt depuis hier")
    # The analysis of the same message is done by the same worker: once it is announced, the message was handled.
    events = listener.until(_has("analytics.updated", conversation_id=conversation.pk))

    assert _types(events, "analytics.updated"), "the worker handled the message"
    assert not _types(events, "suggestion.start")
    assert not Suggestion.objects.filter(conversation=conversation).exists()
    assert ConversationAnalytics.objects.get(conversation=conversation).intent


def test_second_message_cancels_the_suggestion_in_flight(worker_factory: Any, flush_redis: None) -> None:
    worker_factory(
        "copilot-slow", worker_options={**COPILOT_WORKER, "extra_args": ["--include", "tests.copilot.slow_stream"]}
    )
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    services.copilot_viewer_add(conversation_id=conversation.pk, socket_id="specific.test!console")
    listener = GroupListener(copilot_group(conversation.pk))

    (first,) = customer_message_receive(conversation=conversation, text="Ma facture est fausse")
    events = listener.until(lambda ev: len(_types(ev, "suggestion.chunk")) >= 2, timeout=60)
    first_id = _types(events, "suggestion.start")[0]["suggestion_id"]
    (second,) = customer_message_receive(conversation=conversation, text="Et en plus je suis prélevé deux fois")
    events = listener.until(lambda ev: len(_types(ev, "suggestion.done")) >= 1, timeout=60)

    starts = _types(events, "suggestion.start")
    assert [s["trigger_message_id"] for s in starts] == [first.pk, second.pk]
    second_id = starts[1]["suggestion_id"]
    assert [d["suggestion_id"] for d in _types(events, "suggestion.done")] == [second_id]
    first_chunks = [c for c in _types(events, "suggestion.chunk") if c["suggestion_id"] == first_id]
    assert len(first_chunks) < 25, "the first stream stopped (50 words at 10 per second)"
    assert not Suggestion.objects.filter(pk=first_id).exists(), "the cancelled suggestion left no row"
    assert Suggestion.objects.get(pk=second_id).trigger_message_id == second.pk


MESSAGE = "je veux résilier tout de suite, c'est inadmissible, trois pannes ce mois-ci !"


def test_churn_risk_tags_urgent_retention_once(
    worker_factory: Any, flush_redis: None, ticket_categories_seeded: None
) -> None:
    from apps.tickets.models import Ticket

    worker = worker_factory("copilot", worker_options=COPILOT_WORKER)
    conversation = ConversationFactory()  # open: the bot answers, escalates and opens the ticket
    listener = GroupListener(copilot_group(conversation.pk), inbox_group())

    customer_message_receive(conversation=conversation, text=MESSAGE)
    events = listener.until(_has("copilot.alert", conversation_id=conversation.pk))

    ticket = Ticket.objects.get(conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ESCALATED
    assert "URGENT_RETENTION" in conversation.tags
    assert "URGENT_RETENTION" in ticket.tags
    alert = _has("copilot.alert", conversation_id=conversation.pk, kind="urgent_retention")
    assert alert(events)
    assert ConversationAnalytics.objects.get(conversation=conversation).churn_risk > 80

    # Another angry message: analysed again (announced), but no second alert and no second tag.
    customer_message_receive(conversation=conversation, text="C'est vraiment inadmissible, je résilie !")
    events = listener.until(lambda ev: len(_types(ev, "analytics.updated")) >= 2)
    assert len(_types(events, "analytics.updated")) >= 2
    alerts = [e for e in _types(events, "copilot.alert") if e["conversation_id"] == conversation.pk]
    assert len(alerts) == 1
    conversation.refresh_from_db()
    ticket.refresh_from_db()
    assert conversation.tags.count("URGENT_RETENTION") == 1 and ticket.tags.count("URGENT_RETENTION") == 1

    log = worker.log_path.read_text(encoding="utf-8", errors="replace")
    critical = [line for line in log.splitlines() if "CRITICAL" in line]
    assert len(critical) == 1 and "churn risk above threshold" in critical[0]
    for secret in ("inadmissible", "résilier", "pannes"):
        assert secret not in log, "no message content in the worker's log"


def test_openai_provider_stores_usage_and_cost_and_an_outage_stores_nothing(
    worker_factory: Any, flush_redis: None, openai_stub: Any
) -> None:
    """The `openai` provider on the local OpenAI-compatible stub: the stored suggestion carries the call's tokens
    and the cost at LLM_PRICES; with the server down, `suggestion.unavailable` and no row."""
    import json
    from decimal import Decimal

    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge.services import knowledge_ingest_paths
    from tests.ai.test_copilot_openai import ANSWER

    assert knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR / "livraison.fr.md"]).count("failed") == 0
    openai_stub.reply = json.dumps(ANSWER, ensure_ascii=False)
    worker_factory(
        "copilot-openai",
        worker_options=COPILOT_WORKER,
        LLM_PROVIDER="openai",
        LLM_API_KEY="sk-test-stub",
        LLM_BASE_URL=openai_stub.url,
        LLM_MODEL="stub-model",
        LLM_PRICES='{"stub-model": [2.0, 8.0]}',
        LLM_MAX_RETRIES="1",
        LLM_TIMEOUT="5",
        EMBEDDINGS_PROVIDER="local",
        COPILOT_MIN_RETRIEVAL="-1",  # whatever the passages' similarity: the model is asked
    )
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    services.copilot_viewer_add(conversation_id=conversation.pk, socket_id="specific.test!console")
    listener = GroupListener(copilot_group(conversation.pk))

    customer_message_receive(conversation=conversation, text="Ma commande 4512 n'est toujours pas arrivée")
    events = listener.until(lambda ev: bool(_types(ev, "suggestion.done") or _types(ev, "suggestion.unavailable")))
    assert _types(events, "suggestion.done"), [e["type"] for e in events]
    suggestion = Suggestion.objects.get(pk=_types(events, "suggestion.done")[0]["suggestion_id"])
    assert suggestion.provider == "openai" and not suggestion.silent
    assert suggestion.prompt_tokens > 0 and suggestion.completion_tokens > 0
    expected = (Decimal(2) * suggestion.prompt_tokens + Decimal(8) * suggestion.completion_tokens) / 1_000_000
    assert suggestion.cost_usd == expected.quantize(Decimal("0.000001"))

    openai_stub.down = True
    customer_message_receive(conversation=conversation, text="Vous êtes là ? Toujours rien reçu")
    events = listener.until(lambda ev: bool(_types(ev, "suggestion.unavailable")))
    unavailable = _types(events, "suggestion.unavailable")
    assert unavailable and unavailable[0]["reason"] in ("error", "timeout")
    assert list(Suggestion.objects.filter(conversation=conversation).values_list("pk", flat=True)) == [suggestion.pk]
