"""Conversation memory: the verbatim window, folding older messages once, entities, language, passages."""

from __future__ import annotations

from typing import Any

import pytest

from apps.conversations.models import Message
from apps.copilot.memory import ConversationBuffer, context_build, entities_extract
from apps.copilot.models import ConversationAnalytics
from apps.copilot.types import ContextMessage
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.copilot.conftest import FakeAI

pytestmark = pytest.mark.django_db


def _messages(conversation: Any, count: int, start: int = 0) -> list[Message]:
    roles = [Message.Role.CUSTOMER, Message.Role.AGENT, Message.Role.BOT]
    return [
        MessageFactory(conversation=conversation, role=roles[i % 3], text=f"message numéro {i}")
        for i in range(start, start + count)
    ]


def test_short_conversation_is_verbatim_with_speakers_and_no_notes(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, role=Message.Role.CUSTOMER, text="Bonjour, ma box ne marche plus")
    MessageFactory(conversation=conversation, role=Message.Role.NOTE, text="note interne")
    MessageFactory(conversation=conversation, role=Message.Role.SYSTEM, text="ticket créé")
    MessageFactory(conversation=conversation, role=Message.Role.BOT, text="Avez-vous redémarré la box ?")
    MessageFactory(conversation=conversation, role=Message.Role.AGENT, text="Je regarde votre ligne.")

    context = context_build(conversation)

    assert [(m.speaker, m.text) for m in context.messages] == [
        ("client", "Bonjour, ma box ne marche plus"),
        ("agent", "Avez-vous redémarré la box ?"),
        ("agent", "Je regarde votre ligne."),
    ]
    assert context.summary == ""
    assert context.language == "fr"
    assert fake_ai.folds == []


def test_older_than_fifty_are_folded_once_with_a_watermark(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    created = _messages(conversation, 53)

    context = context_build(conversation)
    assert [m.text for m in context.messages] == [m.text for m in created[3:]]
    assert len(fake_ai.folds) == 1
    previous, folded, _lang = fake_ai.folds[0]
    assert previous == "" and [m.text for m in folded] == [m.text for m in created[:3]]
    analytics = ConversationAnalytics.objects.get(conversation=conversation)
    assert analytics.folded_until == created[2].pk
    assert context.summary == analytics.running_summary == "3 folded"

    # Nothing new left the window: no second fold.
    context_build(conversation)
    assert len(fake_ai.folds) == 1

    # Two more messages push two more out: only those are folded, onto the previous summary.
    more = _messages(conversation, 2, start=53)
    context = context_build(conversation)
    assert len(fake_ai.folds) == 2
    previous, folded, _lang = fake_ai.folds[1]
    assert previous == "3 folded"
    assert [m.text for m in folded] == [m.text for m in created[3:5]]
    assert context.messages[-1].text == more[-1].text and len(context.messages) == 50
    assert context.summary == "3 folded | 2 folded"


def test_a_failed_fold_keeps_the_watermark_and_is_retried(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    _messages(conversation, 52)
    fake_ai.fail = "timeout"
    context = context_build(conversation)
    assert context.summary == ""
    assert ConversationAnalytics.objects.get(conversation=conversation).folded_until == 0
    fake_ai.fail = None
    assert context_build(conversation).summary == "2 folded"


def test_trigger_message_cuts_the_context(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    first = MessageFactory(conversation=conversation, text="Ma commande n'est pas arrivée")
    MessageFactory(conversation=conversation, text="Et je veux résilier")
    context = context_build(conversation, trigger_message=first)
    assert [m.text for m in context.messages] == ["Ma commande n'est pas arrivée"]


def test_entities_over_the_whole_conversation(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory(contact__name="Claire Martin")
    MessageFactory(conversation=conversation, text="Ma commande n° CMD-48213 du 12/03/2024 n'est pas arrivée.")
    _messages(conversation, 55)  # pushes the first message out of the verbatim window
    MessageFactory(conversation=conversation, text="On m'a prélevé 49,99 € le 3 avril, je m'appelle Paul Durand.")

    context = context_build(conversation)

    assert context.entities["names"] == ["Claire Martin", "Paul Durand"]
    assert "CMD-48213" in context.entities["order_numbers"]
    assert {"12/03/2024", "3 avril"} <= set(context.entities["dates"])
    assert context.entities["amounts"] == ["49,99 €"]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Order #A12345 was charged $120.50 on March 5, 2025", "order_numbers", ["A12345"]),
        ("Order #A12345 was charged $120.50 on March 5, 2025", "amounts", ["$120.50"]),
        ("Order #A12345 was charged $120.50 on March 5, 2025", "dates", ["March 5, 2025"]),
        ("Facture 2024-00017 de 1 200 euros", "amounts", ["1 200 euros"]),
        ("Mme Lefèvre a appelé le 2025-01-31", "names", ["Lefèvre"]),
        ("Mme Lefèvre a appelé le 2025-01-31", "dates", ["2025-01-31"]),
        ("je suis très en colère, rien à voir", "names", []),
        ("j'ai 3 box et 2 lignes", "amounts", []),
    ],
)
def test_entity_patterns(text: str, kind: str, expected: list[str]) -> None:
    assert entities_extract([text])[kind] == expected


def test_english_customer_gives_english_context(fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="Hello, how can I cancel my subscription please?")
    assert context_build(conversation).language == "en"


def test_buffer_appends_in_order_and_folds_each_message_once(fake_ai: FakeAI, settings: Any) -> None:
    settings.COPILOT_VERBATIM_MESSAGES = 3
    buffer = ConversationBuffer()
    contexts = []
    for i in range(6):
        buffer.append(ContextMessage(speaker="client" if i % 2 == 0 else "agent", text=f"question {i} sur ma box"))
        contexts.append(buffer.context())
    assert [m.text for m in contexts[1].messages] == ["question 0 sur ma box", "question 1 sur ma box"]
    assert [m.text for m in contexts[5].messages] == [f"question {i} sur ma box" for i in (3, 4, 5)]
    folded = [m.text for _prev, messages, _lang in fake_ai.folds for m in messages]
    assert folded == ["question 0 sur ma box", "question 1 sur ma box", "question 2 sur ma box"]
