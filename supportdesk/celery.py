"""The Celery application: queues `default`, `conversations` (labeling) and `copilot` (suggestions and analytics, its
own thread-pool worker), configured from Django settings."""

import logging
import os
import signal
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_ready
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
      as the worker, unlike ASGI's, for which DB_CONN_MAX_AGE stays 0): a new connection per task cost 7-12 ms on
      the first token's path, and a PostgreSQL backend started per task. Celery's Django fix-up closes every
      connection before and after each task whatever CONN_MAX_AGE says, so its two handlers give way here to
      Django's own rule (`close_old_connections`: a connection is closed when it is older than CONN_MAX_AGE or
      unusable, as after a request);
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
    if not settings.DB_POOL:  # with a pool, a closed connection goes back to it
        connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"] = settings.COPILOT_WORKER_DB_CONN_MAX_AGE
        if settings.COPILOT_WORKER_DB_CONN_MAX_AGE:
            _connections_kept_between_tasks(getattr(sender, "app", app))
    try:
        seconds = embeddings_warm()
    except Exception as exc:  # a broken model is reported by the first task that needs it, with its own error
        log.warning("copilot worker: embeddings warm-up failed", extra={"error": type(exc).__name__})
        return
    log.info("copilot worker: embeddings loaded", extra={"seconds": round(seconds, 2)})


def _before_task(**kwargs: Any) -> None:
    from django.db import close_old_connections

    close_old_connections()


def _after_task(**kwargs: Any) -> None:
    """As the fix-up's handler, the caches' connections too."""
    from django.core.cache import close_caches
    from django.db import close_old_connections

    close_old_connections()
    close_caches()


KEPT_CONNECTIONS_UIDS = ("supportdesk.kept-connections.prerun", "supportdesk.kept-connections.postrun")


def _connections_kept_between_tasks(celery_app: Celery) -> None:
    """Replace the Django fix-up's per-task closing of every database connection by `close_old_connections`."""
    from celery import signals

    for fixup in getattr(celery_app, "_fixups", None) or []:
        worker_fixup = getattr(fixup, "_worker_fixup", None)
        if worker_fixup is None:
            continue
        signals.task_prerun.disconnect(worker_fixup.on_task_prerun)
        signals.task_postrun.disconnect(worker_fixup.on_task_postrun)
    signals.task_prerun.connect(_before_task, weak=False, dispatch_uid=KEPT_CONNECTIONS_UIDS[0])
    signals.task_postrun.connect(_after_task, weak=False, dispatch_uid=KEPT_CONNECTIONS_UIDS[1])


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@beat_init.connect
def _beat_stops_once(sender: Any = None, **kwargs: Any) -> None:
    """Celery beat's SIGTERM / SIGINT handler saves the schedule, then exits. A second signal while it runs re-enters
    it and deadlocks on the lock the first one holds (`Event.set` in `Service.sync`): a beat killed twice never
    exited (seen when `tests/test_stack.py` killed runstack). Its handlers now ignore the signals after the first."""
    stop_signals_handled_once()


def stop_signals_handled_once() -> None:
    """Wrap this process's SIGTERM and SIGINT handlers so that the first of those signals runs its handler and the
    next ones are ignored (main thread only, like every signal handler)."""
    originals = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def once(signum: int, frame: Any) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        handler = originals[signal.Signals(signum)]
        if callable(handler):
            handler(signum, frame)

    for s, handler in originals.items():
        if callable(handler):
            signal.signal(s, once)
