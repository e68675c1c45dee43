"""Celery tasks of the labeling pipeline (queue `conversations`, routed in supportdesk/celery.py)."""

from __future__ import annotations

import logging
import random

from celery import Task, shared_task
from django.conf import settings

from apps.core import ratelimit
from apps.labels import services

logger = logging.getLogger(__name__)

RATE_LIMIT_NAME = "labels"


def _permit() -> float:
    return ratelimit.acquire(RATE_LIMIT_NAME, limit=settings.LABELS_RATE_LIMIT, window=60.0)


def _defer(task: Task, job_id: int, seconds: float) -> str:
    """Run the same task again later. Same task id (what the webhook answered); `retries` is kept so a deferral
    never counts as a retry."""
    countdown = seconds + random.uniform(0, 0.5)  # jitter, not crypto
    task.apply_async(  # type: ignore[call-arg]  # Celery accepts message options such as retries
        args=(job_id,), task_id=task.request.id, countdown=countdown, retries=task.request.retries
    )
    return "deferred"


@shared_task(bind=True, name="apps.labels.tasks.conversation_label", acks_late=True, reject_on_worker_lost=True)
def conversation_label(self: Task, job_id: int) -> str:
    """Label one job. Idempotent (a finished job is a no-op), so redelivery after a crash is safe.

    The global rate limit (LABELS_RATE_LIMIT jobs/min across all workers) defers the task without counting a
    retry. Transport errors retry LABELS_MAX_RETRIES times with exponential backoff from LABELS_RETRY_BACKOFF s;
    then the job is marked failed (admin) and the task fails (Flower).
    """
    held = services.labeling_job_wait(job_id)
    if held is None:
        return "skipped"  # finished, e.g. as another job's batch companion: no permit spent
    if held > 0:
        return _defer(self, job_id, held)  # another worker holds it; come back when its lease ends
    wait = _permit()
    if wait > 0:
        return _defer(self, job_id, wait)
    try:
        return str(services.labeling_job_run(job_id, try_permit=lambda: _permit() == 0))
    except services.JobBusy as busy:
        return _defer(self, job_id, busy.retry_in)
    except services.MessagesUnavailable:
        logger.warning("labels: messages unavailable", extra={"job_id": job_id})
        raise
    except Exception as exc:
        if self.request.retries >= settings.LABELS_MAX_RETRIES:
            services.labeling_job_fail(job_id, exc)
            logger.error("labels: job failed", extra={"job_id": job_id, "error": type(exc).__name__})
            raise
        countdown = settings.LABELS_RETRY_BACKOFF * (2**self.request.retries)
        logger.warning("labels: retrying", extra={"job_id": job_id, "error": type(exc).__name__, "in_s": countdown})
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.LABELS_MAX_RETRIES) from exc


@shared_task(name="apps.labels.tasks.labels_index_pending", acks_late=True, ignore_result=True)
def labels_index_pending() -> int:
    """Move labels created more than LABELS_INDEX_DELAY s ago into the HNSW index (scheduled by label_resolve)."""
    moved = services.labels_index_pending()
    if moved:
        logger.info("labels: indexed", extra={"labels": moved})
    return moved
