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
def _copilot_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """A worker of the `copilot` queue (a thread pool; docs/benchmarks.md, "Copilot", for the measurements):

    - loads the embeddings model before it takes tasks: otherwise the first suggestion after a start waits seconds
      for it;
    - keeps its threads' database connections COPILOT_WORKER_DB_CONN_MAX_AGE seconds (its pool threads live as long
      as the worker, unlike ASGI's, for which DB_CONN_MAX_AGE stays 0): a new connection per task cost ~12 ms on
      the first token's path;
    - switches threads every COPILOT_WORKER_SWITCH_INTERVAL seconds (Python's 5 ms default made a thread back from
      a query or the model queue behind the other streams for the GIL).
    """
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {}
    if "copilot" not in queues:
        return
    import sys

    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections

    from apps.ai.providers import embeddings_warm

    log = logging.getLogger(__name__)
    sys.setswitchinterval(settings.COPILOT_WORKER_SWITCH_INTERVAL)
    connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"] = settings.COPILOT_WORKER_DB_CONN_MAX_AGE
    try:
        seconds = embeddings_warm()
    except Exception as exc:  # a broken model is reported by the first task that needs it, with its own error
        log.warning("copilot worker: embeddings warm-up failed", extra={"error": type(exc).__name__})
        return
    log.info("copilot worker: embeddings loaded", extra={"seconds": round(seconds, 2)})
