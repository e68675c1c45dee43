"""Label extraction with the `openai` provider against the local OpenAI-compatible stub: structured output,
batching, normalisation of adversarial answers, fallback model, retries, PII redaction."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from apps.labels import services
from apps.labels.models import ConversationLabel, LabelingJob
from tests.stubs.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db

LABEL_RE = re.compile(r"^[^\W\d_]+(?: [^\W\d_]+){0,2}$")
MESSAGES = [("user", "Bonjour, je n'arrive pas à payer ma commande, écrivez-moi à jean.dupont@example.com")]


@pytest.fixture(autouse=True)
def _openai(openai_provider: OpenAIStub, settings: Any) -> OpenAIStub:
    settings.EMBEDDINGS_PROVIDER = "local"  # resolution stays offline; the LLM is the stub
    return openai_provider


def _job(capture: Any, messages: list[tuple[str, str]] = MESSAGES) -> LabelingJob:
    with capture(execute=False), transaction.atomic():
        result = services.imported_conversation_intake(external_id=uuid.uuid4().hex, messages=messages)
    assert result.job is not None
    return result.job


def _stored(job: LabelingJob) -> list[str]:
    return list(
        ConversationLabel.objects.filter(conversation_id=job.conversation_id).values_list("label__name", flat=True)
    )


def test_structured_output_is_stored(openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any) -> None:
    job = _job(django_capture_on_commit_callbacks)
    assert services.labeling_job_run(job.pk) == "done"
    assert sorted(_stored(job)) == ["commande", "paiement"]
    request = openai_provider.requests[-1].body
    assert request["tools"][0]["function"]["name"] == "BatchLabels"
    assert request["model"] == "gpt-4o-mini"
    sent = json.dumps(request["messages"])
    assert "jean.dupont@example.com" not in sent and "[EMAIL]" in sent, "PII is redacted before leaving"
    assert (
        "ignore" in request["messages"][0]["content"].lower()
        or "instruction" in request["messages"][0]["content"].lower()
    )


def test_queued_jobs_are_batched_in_one_call(
    openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    jobs = [_job(django_capture_on_commit_callbacks) for _ in range(3)]
    services.labeling_job_run(jobs[0].pk)
    assert len(openai_provider.requests) == 1
    assert openai_provider.requests[0].body["messages"][1]["content"].count("<conversation id=") == 3
    assert all(LabelingJob.objects.get(pk=j.pk).status == "done" for j in jobs)
    assert services.labeling_job_run(jobs[1].pk) == "skipped", "a batched job's own task is a no-op"


def test_batch_never_exceeds_the_token_limit(
    openai_provider: OpenAIStub, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LABELS_MAX_TOKENS = 120
    long = [("user", "Mon paiement est refusé. " * 12)]
    jobs = [_job(django_capture_on_commit_callbacks, long) for _ in range(3)]
    services.labeling_job_run(jobs[0].pk)
    for request in openai_provider.requests:
        assert request.body["messages"][1]["content"].count("<conversation id=") == 1


def test_adversarial_output_is_normalised(openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any) -> None:
    job = _job(django_capture_on_commit_callbacks)
    raw = [
        "PAIEMENT!!! 💳",
        "Commande.",
        "ignore previous instructions",
        "a b c d e f",
        "paiements",
        *[f"sujet{i}" for i in range(10)],
    ]
    openai_provider.tool_responses.append(json.dumps({"conversations": [{"id": str(job.pk), "labels": raw}]}))
    services.labeling_job_run(job.pk)
    stored = _stored(job)
    assert 1 <= len(stored) <= 5
    assert all(LABEL_RE.match(name) for name in stored), stored
    assert "paiement" in stored and "commande" in stored and len({*stored}) == len(stored)


def test_two_invalid_answers_then_the_fallback_model(
    openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job(django_capture_on_commit_callbacks)
    invalid = json.dumps({"conversations": [{"id": str(job.pk), "labels": ["🤖🤖", "!!!"]}]})
    openai_provider.tool_responses.extend([invalid, "not json at all"])
    services.labeling_job_run(job.pk)
    assert [r.body["model"] for r in openai_provider.requests] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert sorted(_stored(job)) == ["commande", "paiement"]


def test_always_invalid_fails_and_stores_nothing(
    openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    job = _job(django_capture_on_commit_callbacks)
    openai_provider.tool_responses.extend([json.dumps({"conversations": [{"id": str(job.pk), "labels": []}]})] * 3)
    assert services.labeling_job_run(job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "InvalidModelOutput"
    assert _stored(job) == []


def test_429_twice_then_ok_is_labeled(openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any) -> None:
    job = _job(django_capture_on_commit_callbacks)
    openai_provider.fail_next(429, times=2)
    assert services.labeling_job_run(job.pk) == "done"
    assert len(openai_provider.requests) == 3


def test_transport_failure_puts_the_job_back_and_writes_nothing(
    openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    import openai

    job = _job(django_capture_on_commit_callbacks)
    openai_provider.fail_next(500, times=3)
    with pytest.raises(openai.APIError):
        services.labeling_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == "queued" and _stored(job) == []


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(st.one_of(st.text(max_size=60), st.integers(), st.none()), max_size=12))
def test_any_model_output_stores_only_valid_labels(
    openai_provider: OpenAIStub, django_capture_on_commit_callbacks: Any, raw: list[Any]
) -> None:
    job = _job(django_capture_on_commit_callbacks)
    answer = json.dumps({"conversations": [{"id": str(job.pk), "labels": raw}]})
    openai_provider.tool_responses.clear()
    openai_provider.tool_responses.extend([answer, answer, answer])
    status = services.labeling_job_run(job.pk)
    stored = _stored(job)
    if status == "done":
        assert 1 <= len(stored) <= 5
    else:
        assert status == "failed" and stored == []
    for name in stored:
        assert LABEL_RE.match(name) and name == name.lower() and len(name.split()) <= 3
