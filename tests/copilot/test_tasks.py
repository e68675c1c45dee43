"""The copilot's tasks: routed to their own queue; analytics retried once, generation never."""

from __future__ import annotations

import pytest

from apps.copilot import tasks
from supportdesk.celery import app
from tests.conversations.factories import MessageFactory
from tests.copilot.conftest import FakeAI

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("task", [tasks.suggestion_generate, tasks.analytics_update])
def test_tasks_go_to_the_copilot_queue(task: object) -> None:
    route = app.amqp.router.route({}, task.name)  # type: ignore[attr-defined]
    assert route["queue"].name == "copilot"


def test_analytics_is_retried_once(fake_ai: FakeAI) -> None:
    message = MessageFactory(text="Ma box ne marche plus depuis trois jours")
    fake_ai.fail = "timeout"
    result = tasks.analytics_update.apply(args=(message.conversation_id,))
    assert result.failed()
    assert len(fake_ai.contexts) == 2, "the first run and one retry"


def test_generation_is_not_retried(fake_ai: FakeAI, flush_redis: None) -> None:
    from apps.copilot import services

    message = MessageFactory(text="Ma box ne marche plus depuis trois jours")
    services.copilot_trigger_set(conversation_id=message.conversation_id, message_id=message.pk)
    services.copilot_viewer_add(conversation_id=message.conversation_id, socket_id="specific.console")

    def broken(context: object) -> object:
        raise RuntimeError("bug")

    fake_ai.stream = broken  # type: ignore[assignment]
    result = tasks.suggestion_generate.apply(args=(message.conversation_id, message.pk))
    assert result.failed()
    assert len(fake_ai.contexts) == 1
