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


@shared_task(bind=True, name="apps.labels.tasks.conversation_label", acks_late=True, reject_on_worker_lost=True)
def conversation_label(self: Task, job_id: int) -> str:
    """Label one job. Idempotent (a finished job is a no-op), so redelivery after a crash is safe.

    The global rate limit (LABELS_RATE_LIMIT jobs/min across all workers) defers the task without counting a
    retry. Transport errors retry LABELS_MAX_RETRIES times with exponential backoff from LABELS_RETRY_BACKOFF s;
    then the job is marked failed (admin) and the task fails (Flower).
    """
    wait = _permit()
    if wait > 0:
        countdown = wait + random.uniform(0, 0.5)  # jitter, not crypto
        # Same task id (what the webhook answered); `retries` is kept so a deferral never counts as a retry.
        self.apply_async(  # type: ignore[call-arg]  # Celery accepts message options such as retries
            args=(job_id,), task_id=self.request.id, countdown=countdown, retries=self.request.retries
        )
        return "deferred"
    try:
        return str(services.labeling_job_run(job_id, try_permit=lambda: _permit() == 0))
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
