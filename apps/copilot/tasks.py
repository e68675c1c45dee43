"""Celery tasks of the copilot, on the `copilot` queue (routed in supportdesk/celery.py; its own worker:
`-Q copilot -P threads -c 32` with COPILOT_WORKER_THREADS' default, since a task mostly waits on the model). Tasks
load ids and call the service of the same name (apps.copilot.services)."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from apps.copilot import services

logger = logging.getLogger(__name__)

ANALYTICS_RETRY_COUNTDOWN = 5.0  # seconds before the one retry of an analysis


# No retry and no late ack: a suggestion regenerated later, or redelivered after a worker died, would be stale.
@shared_task(name="apps.copilot.tasks.suggestion_generate", ignore_result=True, acks_late=False)
def suggestion_generate(conversation_id: int, message_id: int) -> None:
    """Stream the suggestion for one customer message (apps.copilot.services.suggestion_generate)."""
    services.suggestion_generate(conversation_id=conversation_id, message_id=message_id)


@shared_task(bind=True, name="apps.copilot.tasks.analytics_update", ignore_result=True, acks_late=True, max_retries=1)
def analytics_update(self: Task, conversation_id: int, message_id: int | None = None) -> None:
    """Update one conversation's analytics (for customer message ``message_id``: skipped if a newer one came); any
    failure (model unavailable included) is retried once."""
    try:
        services.analytics_update(conversation_id=conversation_id, message_id=message_id)
    except Exception as exc:
        if self.request.retries >= 1:
            logger.error(
                "copilot: analytics failed", extra={"conversation_id": conversation_id, "error": type(exc).__name__}
            )
            raise
        logger.warning(
            "copilot: analytics retrying", extra={"conversation_id": conversation_id, "error": type(exc).__name__}
        )
        raise self.retry(exc=exc, countdown=ANALYTICS_RETRY_COUNTDOWN) from exc
