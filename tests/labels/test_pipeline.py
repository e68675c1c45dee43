"""The labeling pipeline in-process (real PostgreSQL/pgvector and Redis; the worker's job called directly)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from apps.conversations.models import Conversation
from apps.labels import services
from apps.labels.models import ConversationLabel, Label, LabelingJob
from apps.labels.selectors import label_top_for_month, label_top_for_month_raw
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.labels.conftest import SEED

pytestmark = pytest.mark.django_db


def _intake(messages: Sequence[tuple[str, str]], external_id: str | None = None) -> LabelingJob:
    from django.db import transaction

    with transaction.atomic():
        result = services.imported_conversation_intake(external_id=external_id or uuid.uuid4().hex, messages=messages)
    assert result.job is not None
    return result.job


SEED_MESSAGES = [(m["role"], m["text"]) for m in SEED["messages"]]


def test_seed_example_gets_payment_and_order_labels(
    client: Client, agent_user: Any, pending_keys: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = _intake(SEED_MESSAGES, "crisp-seed-1")
    with django_capture_on_commit_callbacks(execute=True):  # the Redis copy is deleted once the labels commit
        assert services.labeling_job_run(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == "done" and job.attempts == 1
    assert {"paiement", "commande"} <= set(job.labels)

    client.force_login(agent_user)
    rows = client.get(f"/api/conversations/{job.conversation_id}/labels").json()
    assert {r["label"] for r in rows} >= {"paiement", "commande"}
    assert all(r["status"] in ("approved", "proposed") and r["canonical"] for r in rows)
    assert pending_keys() == set(), "the messages are deleted from Redis once labeled"


def test_no_conversation_text_anywhere_in_the_database(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = _intake(SEED_MESSAGES)
    services.labeling_job_run(job.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cursor.fetchall()]
        for table in tables:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE %s OR t::text ILIKE %s',  # noqa: S608
                ["%payer ma%", "%refusé à chaque%"],
            )
            assert cursor.fetchone()[0] == 0, f"conversation text found in {table}"


def test_job_is_idempotent_and_reprocessing_replaces(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        job = _intake(SEED_MESSAGES)
    services.labeling_job_run(job.pk)
    first = set(
        ConversationLabel.objects.filter(conversation_id=job.conversation_id).values_list("label_id", flat=True)
    )
    assert services.labeling_job_run(job.pk) == "skipped", "a finished job is a no-op"
    conversation = Conversation.objects.get(pk=job.conversation_id)
    with django_capture_on_commit_callbacks(execute=False):
        again = services.labeling_enqueue(conversation=conversation, source=LabelingJob.Source.REPROCESS)
    services.pending_store(again.pk, SEED_MESSAGES)  # an imported conversation's messages come back from Crisp
    services.labeling_job_run(again.pk)
    second = list(
        ConversationLabel.objects.filter(conversation_id=job.conversation_id).values_list("label_id", flat=True)
    )
    assert set(second) == first and len(second) == len(set(second)), "replaced, never duplicated"
    month = conversation.created_at.date()
    assert label_top_for_month(month) == label_top_for_month_raw(month), "the rollup matches the raw count"


def test_native_close_labels_through_the_pipeline(
    client: Client, agent_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="Bonjour, je veux résilier mon abonnement, c'est trop cher.")
    MessageFactory(conversation=conversation, role="agent", text="Je comprends, je regarde votre forfait.")
    client.force_login(agent_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/api/conversations/{conversation.pk}/close")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    # One labeling task on commit (the others are the real-time events telling the widget and the consoles).
    assert [c.__qualname__ for c in callbacks].count("_enqueue_on_commit.<locals>.<lambda>") == 1
    job = LabelingJob.objects.get(conversation=conversation)
    assert job.source == "native" and len(job.content_hash) == 64
    services.labeling_job_run(job.pk)
    names = set(ConversationLabel.objects.filter(conversation=conversation).values_list("label__name", flat=True))
    assert "résiliation" in names or "abonnement" in names
    assert client.post(f"/api/conversations/{conversation.pk}/close").status_code == 400, "already closed"


def test_token_limit_drops_oldest_messages(django_capture_on_commit_callbacks: Any, settings: Any) -> None:
    settings.LABELS_MAX_TOKENS = 200
    old = [("user", f"Message ancien numéro {i} au sujet de la livraison de mon colis en retard.") for i in range(2000)]
    recent = [("user", "Finalement le vrai souci : mon paiement est refusé.")]
    with django_capture_on_commit_callbacks(execute=False):
        job = _intake(old + recent)
    services.labeling_job_run(job.pk)
    job.refresh_from_db()
    assert job.status == "done"
    assert job.dropped_messages > 0 and job.tokens <= 200
    assert "paiement" in job.labels, "the newest message is always kept"


# --------------------------------------------------------------------------- resolution thresholds


class ControlledEmbeddings:
    """Vectors with exact, chosen cosine similarities to the base label: [c, sqrt(1-c²), 0, ...]."""

    model_name = "controlled"

    def __init__(self, dim: int, cosines: dict[str, float]) -> None:
        self.dim, self.cosines = dim, cosines

    def embed_query(self, text: str) -> list[float]:
        c = self.cosines[text]
        vec = [0.0] * self.dim
        vec[0], vec[1 + (hash(text) % (self.dim - 2)) if c < 1 else 1] = c, math.sqrt(max(0.0, 1 - c * c))
        return vec

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


@pytest.mark.parametrize(
    ("cosine", "expected"),
    [(1.0, "reuse"), (0.85, "reuse"), (0.849, "alias"), (0.70, "alias"), (0.699, "new"), (0.2, "new")],
)
def test_similarity_boundaries(settings: Any, cosine: float, expected: str) -> None:
    emb = ControlledEmbeddings(settings.EMBEDDING_DIM, {"base": 1.0, "candidate": cosine})
    base = services.label_resolve("base", embedder=emb, model_name="controlled")
    got = services.label_resolve("candidate", embedder=emb, model_name="controlled")
    if expected == "reuse":
        assert got.pk == base.pk
    elif expected == "alias":
        assert got.pk != base.pk and got.status == "proposed" and got.alias_of_id == base.pk
        assert got.similarity == pytest.approx(cosine, abs=1e-4)
    else:
        assert got.pk != base.pk and got.status == "approved" and got.alias_of_id is None


def test_thresholds_are_settings_per_model(settings: Any) -> None:
    settings.LABELS_THRESHOLDS = {"default": [0.85, 0.70], "controlled": [0.95, 0.90]}
    emb = ControlledEmbeddings(settings.EMBEDDING_DIM, {"base": 1.0, "candidate": 0.92})
    base = services.label_resolve("base", embedder=emb, model_name="controlled")
    got = services.label_resolve("candidate", embedder=emb, model_name="controlled")
    assert got.status == "proposed" and got.alias_of_id == base.pk


def test_default_embedder_reuses_plural_forms() -> None:
    from apps.ai.providers import embeddings_model_name, get_embeddings

    emb, model = get_embeddings(), embeddings_model_name()
    first = services.label_resolve("paiement", embedder=emb, model_name=model)
    assert services.label_resolve("paiements", embedder=emb, model_name=model).pk == first.pk
    assert Label.objects.filter(embedding__isnull=False).count() == 1


def _axis_vector(dim: int, cos: float, axis: int) -> list[float]:
    """A unit vector at cosine ``cos`` from the first axis."""
    vec = [0.0] * dim
    vec[0], vec[axis] = cos, math.sqrt(1 - cos * cos)
    return vec


def test_pending_labels_are_found_exactly_until_indexed(settings: Any) -> None:
    """New labels wait outside the HNSW index: the search scans them exactly (here 2,000 indexed labels are
    closer than the pending one, more than ef_search 40 would return), and labels_index_pending moves only
    those older than LABELS_INDEX_DELAY."""
    from datetime import timedelta

    from django.utils import timezone

    dim = settings.EMBEDDING_DIM
    target = [1.0] + [0.0] * (dim - 1)  # the first axis: cosine 0.5 to every old label, 0.4 to the pending one
    old = Label.objects.bulk_create(
        Label(name=f"ancien {i}", embedding=_axis_vector(dim, 0.5, 2 + i % (dim - 2)), embedding_model="controlled",
              indexed=True)
        for i in range(2000)
    )  # fmt: skip
    Label.objects.filter(pk__in=[label.pk for label in old]).update(created_at=timezone.now() - timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE labels_label")
    pending = Label.objects.create(name="tout neuf", embedding=_axis_vector(dim, 0.4, 1), embedding_model="controlled")
    assert pending.indexed is False
    assert services._nearest(target, "controlled", pending_only=True) == (pending.pk, pytest.approx(0.4, abs=1e-5))
    # The combined search (HNSW + the exact scan of pending labels) returns it for its own vector.
    near_pending = _axis_vector(dim, 0.4, 1)
    assert services._nearest(near_pending, "controlled")[0] == pending.pk
    # Too young to be indexed; once old enough it moves, and the HNSW side finds it.
    assert services.labels_index_pending() == 0
    Label.objects.filter(pk=pending.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.LABELS_INDEX_DELAY + 1)
    )
    assert services.labels_index_pending() == 1
    pending.refresh_from_db()
    assert pending.indexed is True
    assert services._nearest(near_pending, "controlled", pending_only=True) == (None, -1.0)
    # 2,000 equidistant vectors give HNSW's greedy search nothing to follow: search (almost) all of it.
    settings.LABELS_HNSW_EF_SEARCH = 1000
    assert services._nearest(near_pending, "controlled")[0] == pending.pk


def test_hnsw_index_covers_only_indexed_labels_and_is_used(settings: Any) -> None:
    vec = "[" + ",".join(["0.1"] * settings.EMBEDDING_DIM) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> '{vec}' LIMIT 1"  # noqa: S608
        )
        plan = "\n".join(r[0] for r in cursor.fetchall())
        cursor.execute("SELECT pg_get_indexdef('label_embedding_hnsw'::regclass)")
        (indexdef,) = cursor.fetchone()
    assert "label_embedding_hnsw" in plan
    assert "WHERE indexed" in indexdef


def test_creating_a_label_schedules_its_indexing(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    from unittest import mock

    from apps.core.clients import redis_client

    redis_client().delete(services._INDEX_SCHEDULED_KEY)
    emb = ControlledEmbeddings(settings.EMBEDDING_DIM, {"un": 1.0, "deux": 0.1, "trois": 0.2})
    with mock.patch("apps.labels.tasks.labels_index_pending.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            services.label_resolve("un", embedder=emb, model_name="controlled")
        with django_capture_on_commit_callbacks(execute=True):
            services.label_resolve("deux", embedder=emb, model_name="controlled")
        assert queued.call_count == 1, "one run queued for a burst of creations"
        assert queued.call_args.kwargs["countdown"] > settings.LABELS_INDEX_DELAY
        redis_client().delete(services._INDEX_SCHEDULED_KEY)
        with django_capture_on_commit_callbacks(execute=True):
            services.label_resolve("trois", embedder=emb, model_name="controlled")
        assert queued.call_count == 2


def test_an_indexing_run_queues_the_next_while_young_labels_remain(settings: Any) -> None:
    """A label created after the run was queued is too young for it; the run comes back for it instead of leaving
    it until the next creation."""
    from unittest import mock

    from apps.core.clients import redis_client

    dim = settings.EMBEDDING_DIM
    Label.objects.create(name="toute jeune", embedding=_axis_vector(dim, 1.0, 1), embedding_model="controlled")
    redis_client().set(services._INDEX_SCHEDULED_KEY, 1)  # as if this run's own key were still there
    with mock.patch("apps.labels.tasks.labels_index_pending.apply_async") as queued:
        assert services.labels_index_pending() == 0
        assert queued.call_count == 1
        Label.objects.update(indexed=True)
        redis_client().delete(services._INDEX_SCHEDULED_KEY)
        services.labels_index_pending()
        assert queued.call_count == 1, "nothing pending: no further run"
    redis_client().delete(services._INDEX_SCHEDULED_KEY)


@pytest.mark.django_db(transaction=True)
def test_two_workers_creating_the_same_label_end_with_one(settings: Any) -> None:
    from apps.ai.providers import embeddings_model_name, get_embeddings

    emb, model = get_embeddings(), embeddings_model_name()
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait()
            results.append(services.label_resolve(name, embedder=emb, model_name=model).pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(n,))
        for n in ("remboursement", "remboursement", "remboursements", "remboursement")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1, "one label for the same (or a near-identical) new name"
    assert Label.objects.count() == 1


def test_merge_moves_conversations_and_counts_follow(
    django_capture_on_commit_callbacks: Any, supervisor_user: Any
) -> None:
    from apps.ai.providers import embeddings_model_name, get_embeddings

    emb, model = get_embeddings(), embeddings_model_name()
    a = services.label_resolve("facture", embedder=emb, model_name=model)
    b = services.label_resolve("facturation", embedder=emb, model_name=model)
    if b.pk == a.pk:  # the embedder already merged them: make a distinct one for the test
        b = Label.objects.create(name="facturation")
    c1, c2, c3 = ConversationFactory(), ConversationFactory(), ConversationFactory()
    services.conversation_labels_replace(conversation=c1, labels=[a])
    services.conversation_labels_replace(conversation=c2, labels=[b])
    services.conversation_labels_replace(conversation=c3, labels=[a, b])
    month = c1.created_at.date()
    moved = services.label_merge(source=b, target=a, by=supervisor_user)
    assert moved == 1  # c3 already had the target: its duplicate row is dropped
    assert ConversationLabel.objects.filter(label=a).count() == 3
    assert dict(label_top_for_month(month)) == {"facture": 3}
    assert label_top_for_month(month) == label_top_for_month_raw(month)
    b.refresh_from_db()
    assert b.alias_of_id == a.pk and b.status == "approved"


def test_a_running_job_is_not_taken_twice_until_its_lease_ends(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=False):
        job = _intake(SEED_MESSAGES)
    LabelingJob.objects.filter(pk=job.pk).update(status="running", started_at=timezone.now())
    assert services.labeling_job_wait(job.pk) == pytest.approx(settings.LABELS_RUNNING_LEASE, abs=2)
    with pytest.raises(services.JobBusy):
        services.labeling_job_run(job.pk)
    # Its worker died: once the lease is over, another worker takes the job over and labels it once.
    LabelingJob.objects.filter(pk=job.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.LABELS_RUNNING_LEASE + 1)
    )
    assert services.labeling_job_wait(job.pk) == 0
    assert services.labeling_job_run(job.pk) == "done"
    assert services.labeling_job_wait(job.pk) is None, "finished: its task returns at once, without a permit"
