"""The Celery application: queues `default`, `conversations` (labeling) and `copilot` (suggestions and analytics, its
own thread-pool worker), configured from Django settings."""

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings.dev")

app = Celery("supportdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    Queue("default", routing_key="default"),
    Queue("conversations", routing_key="conversations"),
    Queue("copilot", routing_key="copilot"),
)
app.conf.task_routes = {
    "apps.labels.tasks.*": {"queue": "conversations", "routing_key": "conversations"},
    "apps.copilot.tasks.*": {"queue": "copilot", "routing_key": "copilot"},
}
app.autodiscover_tasks()


@worker_ready.connect
def _copilot_worker_warm(sender: Any = None, **kwargs: Any) -> None:
    """A worker of the `copilot` queue loads the embeddings model before it takes tasks: otherwise the first
    suggestion after a start waits seconds for it (and threads loading at once would each load a copy)."""
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {}
    if "copilot" not in queues:
        return
    from apps.ai.providers import embeddings_warm

    try:
        seconds = embeddings_warm()
    except Exception as exc:  # a broken model is reported by the first task that needs it, with its own error
        logging.getLogger(__name__).warning(
            "copilot worker: embeddings warm-up failed", extra={"error": type(exc).__name__}
        )
        return
    logging.getLogger(__name__).info("copilot worker: embeddings loaded", extra={"seconds": round(seconds, 2)})
