"""The conversation core tells the copilot about every committed customer message, and never breaks for it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from apps.conversations.models import Conversation, Message
from apps.conversations.services import customer_message_receive
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from apps.copilot import services

    calls: list[dict[str, Any]] = []

    def record(*, conversation_id: int, message_id: int) -> None:
        calls.append(
            {
                "conversation_id": conversation_id,
                "message_id": message_id,
                "roles": list(Message.objects.filter(conversation_id=conversation_id).values_list("role", flat=True)),
            }
        )

    monkeypatch.setattr(services, "copilot_message_received", record)
    return calls


def test_human_handled_conversation_notifies_after_commit(
    notified: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (message,) = customer_message_receive(conversation=conversation, text="Toujours en panne")
    assert notified == [], "not before commit"
    for callback in callbacks:
        callback()
    assert notified == [{"conversation_id": conversation.pk, "message_id": message.pk, "roles": ["customer"]}]


def test_bot_handled_conversation_notifies_once_after_the_reply(
    notified: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        created = customer_message_receive(conversation=conversation, text="Bonjour, ma box ne marche plus")
    assert len(created) >= 2
    assert len(notified) == 1
    assert notified[0]["message_id"] == created[0].pk
    assert notified[0]["roles"][:2] == ["customer", "bot"], "the bot's reply is there when the copilot looks"


def test_copilot_failure_never_breaks_the_message(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from apps.copilot import services

    def broken(**kwargs: Any) -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(services, "copilot_message_received", broken)
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        (message,) = customer_message_receive(conversation=conversation, text="Secret 4242")
    assert Message.objects.filter(pk=message.pk).exists()
    errors = [r for r in caplog.records if r.getMessage() == "copilot notification failed"]
    assert len(errors) == 1 and errors[0].error == "ConnectionError"  # type: ignore[attr-defined]
    assert all("Secret 4242" not in r.getMessage() for r in caplog.records)


def test_close_updates_analytics(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any) -> None:
    from apps.conversations.services import conversation_close
    from apps.copilot import services

    closed: list[int] = []
    monkeypatch.setattr(
        services, "copilot_conversation_closed", lambda *, conversation_id: closed.append(conversation_id)
    )
    conversation = ConversationFactory(status=Conversation.Status.ESCALATED)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation=conversation)
    assert closed == [conversation.pk]
