"""The pipeline through real Celery workers and the real Redis broker: webhook to labels, a worker killed
mid-task, a model that always fails, and the global rate limit shared by two workers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from apps.labels.models import ConversationLabel, LabelingJob
from tests.labels.conftest import SEED
from tests.stubs.openai_stub import OpenAIStub

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_webhook_to_labels_through_the_worker(
    worker_factory: Any, post_webhook: Any, client: Client, agent_user: Any
) -> None:
    worker_factory("local")
    started = time.monotonic()
    response = post_webhook(SEED)
    assert response.status_code == 202
    conversation_id = response.json()["conversation_id"]
    client.force_login(agent_user)

    def labeled() -> bool:
        return bool(client.get(f"/api/conversations/{conversation_id}/labels").json())

    _wait(labeled, 30, "labels")
    names = {r["label"] for r in client.get(f"/api/conversations/{conversation_id}/labels").json()}
    assert {"paiement", "commande"} <= names
    assert time.monotonic() - started < 30
    assert post_webhook(SEED).json()["status"] == "duplicate"


def test_new_labels_are_indexed_by_the_worker_after_the_delay(worker_factory: Any, post_webhook: Any) -> None:
    from apps.core.clients import redis_client
    from apps.labels.models import Label
    from apps.labels.services import _INDEX_SCHEDULED_KEY

    redis_client().delete(_INDEX_SCHEDULED_KEY)
    worker_factory("indexer", LABELS_INDEX_DELAY="1")
    assert post_webhook({**SEED, "conversation_id": "index-delay"}).status_code == 202
    _wait(lambda: Label.objects.exists(), 30, "labels")
    # Created outside the HNSW index; the task the worker scheduled moves them in a little after the delay.
    _wait(lambda: not Label.objects.filter(indexed=False).exists(), 30, "labels indexed")
    assert Label.objects.filter(indexed=True).count() >= 2


def _openai_env(stub: OpenAIStub, **extra: str) -> dict[str, str]:
    return {
        "LLM_PROVIDER": "openai",
        "LLM_API_KEY": "sk-stub",
        "LLM_BASE_URL": stub.url,
        "EMBEDDINGS_PROVIDER": "local",
        **extra,
    }


def test_worker_killed_mid_task_labels_exactly_once(
    worker_factory: Any, openai_stub: OpenAIStub, post_webhook: Any
) -> None:
    env = _openai_env(
        openai_stub,
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
        LLM_TIMEOUT="60",
        LABELS_RUNNING_LEASE="2",
    )
    first = worker_factory("doomed", **env)
    openai_stub.response_delay = 30  # the model "thinks" while we pull the plug
    response = post_webhook(SEED | {"conversation_id": "killed-1"})
    job = LabelingJob.objects.get(task_id=response.json()["job_id"])
    _wait(lambda: len(openai_stub.requests) >= 1, 30, "the worker to call the model")
    first.kill()
    openai_stub.response_delay = 0
    job.refresh_from_db()
    assert (
        job.status == "running" and not ConversationLabel.objects.filter(conversation_id=job.conversation_id).exists()
    )

    worker_factory("rescuer", **env)
    _wait(lambda: LabelingJob.objects.get(pk=job.pk).status == "done", 60, "the redelivered task")
    job.refresh_from_db()
    rows = list(
        ConversationLabel.objects.filter(conversation_id=job.conversation_id).values_list("label__name", flat=True)
    )
    assert sorted(rows) == ["commande", "paiement"], "labeled exactly once"
    assert job.attempts == 2
    assert LabelingJob.objects.filter(conversation_id=job.conversation_id).count() == 1


def test_model_always_failing_marks_the_job_failed(
    worker_factory: Any, openai_stub: OpenAIStub, post_webhook: Any
) -> None:
    from celery.result import AsyncResult

    worker_factory("failing", **_openai_env(openai_stub, LABELS_RETRY_BACKOFF="0.1", LABELS_MAX_RETRIES="2"))
    openai_stub.fail_next(500, times=1000)
    response = post_webhook(SEED | {"conversation_id": "failing-1"})
    task_id = response.json()["job_id"]
    job = LabelingJob.objects.get(task_id=task_id)
    _wait(lambda: LabelingJob.objects.get(pk=job.pk).status == "failed", 90, "the job to fail")
    job.refresh_from_db()
    assert job.error.startswith("InternalServerError") or "Error" in job.error
    assert not ConversationLabel.objects.filter(conversation_id=job.conversation_id).exists(), "nothing half-written"
    _wait(lambda: AsyncResult(task_id).state == "FAILURE", 30, "the task state FAILURE (what Flower shows)")
    assert len(openai_stub.requests) == 3 * 3, "3 runs (first + 2 retries) of 3 attempts each"


def test_global_rate_limit_holds_across_two_workers(worker_factory: Any, post_webhook: Any, settings: Any) -> None:
    from apps.core import ratelimit

    ratelimit.reset("labels")
    env = {"LABELS_RATE_LIMIT": "4"}
    worker_factory("rl-a", **env)
    worker_factory("rl-b", **env)
    for i in range(8):
        body = {"conversation_id": f"rl-{i}", "messages": [{"role": "user", "text": f"Mon paiement {i} est refusé"}]}
        assert post_webhook(body).status_code == 202
    _wait(lambda: LabelingJob.objects.filter(status="done").count() >= 4, 30, "the first 4 jobs")
    time.sleep(5)
    assert LabelingJob.objects.filter(status="done").count() == 4, "at most 4 jobs per minute across both workers"
    ratelimit.reset("labels")
