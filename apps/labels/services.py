"""Labeling pipeline writes (SPEC §5): intake, the worker's job, label resolution, replacement, merges.

Imported conversations keep no raw text: their messages wait in Redis (TTL) between the webhook and the worker,
and are deleted once labeled. Logs carry ids and counts only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.ai.labels import ConversationText, batches, labels_extract, message_line, prepare
from apps.ai.providers import embeddings_model_name, get_embeddings
from apps.conversations.models import Channel, Conversation, Message
from apps.core.clients import redis_client, vector_literal
from apps.core.exceptions import ApplicationError
from apps.labels.models import CANONICAL_SQL, ConversationLabel, Label, LabelingJob, LabelMerge, LabelMonthlyCount

logger = logging.getLogger(__name__)

Msg = tuple[str, str]  # (role "user"|"support", text)
_REEMBED_BATCH = 32
_LABEL_CREATION_LOCK = 0x5D_1AB_E15  # pg_advisory_xact_lock key serialising the creation of new labels


class MessagesUnavailable(ApplicationError):
    """The worker cannot get the conversation's messages (expired in Redis, no Crisp credentials, ...)."""

    code = "messages_unavailable"


# --------------------------------------------------------------------------- compaction and hashing


def compact(messages: Sequence[Msg]) -> str:
    """Messages in order as `role: text` lines, whitespace collapsed (SPEC §5.2)."""
    return "\n".join(message_line(role, text) for role, text in messages)


def content_hash(conversation_id: str, compacted: str) -> str:
    """sha256(conversation_id + compacted text) (SPEC §5.3)."""
    return hashlib.sha256((conversation_id + compacted).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- pending messages (Redis, TTL)


def _pending_key(job_id: int) -> str:
    return f"supportdesk:labels:pending:{job_id}"


def pending_store(job_id: int, messages: Sequence[Msg]) -> None:
    payload = json.dumps([[r, t] for r, t in messages])
    redis_client().set(_pending_key(job_id), payload, ex=settings.LABELS_PENDING_TTL)


def pending_load(job_id: int) -> list[Msg] | None:
    raw = redis_client().get(_pending_key(job_id))
    if raw is None:
        return None
    return [(str(r), str(t)) for r, t in json.loads(raw)]


def pending_delete(job_ids: Iterable[int]) -> None:
    keys = [_pending_key(j) for j in job_ids]
    if keys:
        redis_client().delete(*keys)


# --------------------------------------------------------------------------- intake


@dataclass(frozen=True)
class IntakeResult:
    status: str  # "queued" | "duplicate"
    conversation: Conversation
    job: LabelingJob | None


_LIVE_STATUSES = (LabelingJob.Status.QUEUED, LabelingJob.Status.RUNNING, LabelingJob.Status.DONE)


def _enqueue_on_commit(job: LabelingJob) -> None:
    from apps.labels.tasks import conversation_label as conversation_label_task

    transaction.on_commit(lambda: conversation_label_task.apply_async(args=(job.pk,), task_id=job.task_id))


def _job_create(conversation: Conversation, *, source: str, content_hash: str = "") -> LabelingJob:
    return LabelingJob.objects.create(
        conversation=conversation, source=source, content_hash=content_hash, task_id=str(uuid.uuid4())
    )


def imported_conversation_intake(
    *, external_id: str, messages: Sequence[Msg] | None, website_id: str | None = None, channel: str = Channel.CRISP
) -> IntakeResult:
    """A conversation closed on an external platform: record it (no text) and queue its labeling.

    Known hash (queued, running or done) -> "duplicate", nothing queued. Without messages (Crisp's
    `session:set_state` event), the worker fetches them; a second event while one is pending is a duplicate.
    """
    digest = content_hash(external_id, compact(messages)) if messages else ""
    for _ in range(2):  # a concurrent first delivery may create the conversation between our get and create
        try:
            with transaction.atomic():
                conversation, _created = Conversation.objects.select_for_update().get_or_create(
                    channel=channel,
                    external_id=external_id,
                    defaults={
                        "imported": True,
                        "status": Conversation.Status.CLOSED,
                        "closed_at": timezone.now(),
                        "metadata": {"website_id": website_id} if website_id else {},
                    },
                )
                jobs = LabelingJob.objects.filter(conversation=conversation, status__in=_LIVE_STATUSES)
                duplicate = (
                    jobs.filter(content_hash=digest).exists()
                    if digest
                    else jobs.filter(
                        status__in=(LabelingJob.Status.QUEUED, LabelingJob.Status.RUNNING), content_hash=""
                    ).exists()
                )
                if duplicate:
                    return IntakeResult("duplicate", conversation, None)
                if digest:
                    conversation.content_hash = digest
                conversation.status = Conversation.Status.CLOSED
                conversation.closed_at = conversation.closed_at or timezone.now()
                conversation.save(update_fields=["content_hash", "status", "closed_at", "updated_at"])
                job = _job_create(conversation, source=LabelingJob.Source.WEBHOOK, content_hash=digest)
                if messages:
                    pending_store(job.pk, messages)
                _enqueue_on_commit(job)
            logger.info("labels: queued", extra={"job_id": job.pk, "conversation_id": conversation.pk})
            return IntakeResult("queued", conversation, job)
        except IntegrityError:
            continue
    raise ApplicationError("The conversation could not be recorded, please retry.", code="conflict")


def native_messages(conversation: Conversation) -> list[Msg]:
    """A SupportDesk conversation's messages for labeling: customer as "user", agents and bot as "support"."""
    rows = conversation.messages.filter(
        role__in=(Message.Role.CUSTOMER, Message.Role.AGENT, Message.Role.BOT)
    ).values_list("role", "text")
    return [("user" if role == Message.Role.CUSTOMER else "support", text) for role, text in rows if text.strip()]


def labeling_enqueue(*, conversation: Conversation, source: str) -> LabelingJob:
    """Queue (re)labeling of a conversation: native ones from their stored messages, imported ones by fetching
    them from the platform in the worker. Reprocessing always runs, even when the hash is unchanged."""
    with transaction.atomic():
        digest = ""
        if not conversation.imported:
            digest = content_hash(str(conversation.pk), compact(native_messages(conversation)))
            Conversation.objects.filter(pk=conversation.pk).update(content_hash=digest)
        job = _job_create(conversation, source=source, content_hash=digest)
        _enqueue_on_commit(job)
    return job


# --------------------------------------------------------------------------- the worker's job


def _job_messages(job: LabelingJob) -> list[Msg]:
    conversation = job.conversation
    if not conversation.imported:
        return native_messages(conversation)
    messages = pending_load(job.pk)
    if messages is not None:
        return messages
    return _crisp_fetch(conversation)


def _crisp_fetch(conversation: Conversation) -> list[Msg]:
    if not (settings.CRISP_IDENTIFIER and settings.CRISP_KEY):
        raise MessagesUnavailable("No messages in the webhook and no Crisp API credentials to fetch them.")
    from apps.integrations.crisp.client import CrispClient

    website_id = (conversation.metadata or {}).get("website_id") or settings.CRISP_WEBSITE_ID
    if not website_id:
        raise MessagesUnavailable("No Crisp website id for this conversation.")
    client = CrispClient(
        settings.CRISP_IDENTIFIER, settings.CRISP_KEY, tier=settings.CRISP_TIER, base_url=settings.CRISP_API_URL
    )
    return [(m.role, m.text) for m in client.conversation_messages(website_id, conversation.external_id)]


def _conversation_hash_id(conversation: Conversation) -> str:
    return conversation.external_id if conversation.imported else str(conversation.pk)


@dataclass
class _Work:
    job: LabelingJob
    text: ConversationText
    digest: str


def _prepare_job(job: LabelingJob) -> _Work | None:
    """Load messages and hash; mark duplicates. Returns None when there is nothing to do."""
    messages = _job_messages(job)
    if not messages:
        raise MessagesUnavailable("The conversation has no messages to label.")
    digest = content_hash(_conversation_hash_id(job.conversation), compact(messages))
    if job.source in (LabelingJob.Source.WEBHOOK, LabelingJob.Source.NATIVE):
        already = LabelingJob.objects.filter(
            conversation_id=job.conversation_id, content_hash=digest, status=LabelingJob.Status.DONE
        ).exclude(pk=job.pk)
        if already.exists():
            LabelingJob.objects.filter(pk=job.pk).update(
                status=LabelingJob.Status.DUPLICATE, content_hash=digest, finished_at=timezone.now()
            )
            pending_delete([job.pk])
            return None
    return _Work(job, prepare(str(job.pk), messages), digest)


class JobBusy(Exception):
    """The job is being labeled elsewhere (its lease is fresh); ``retry_in`` seconds until the lease ends."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"job busy for {retry_in:.0f} s")
        self.retry_in = retry_in


def _lease_left(job: LabelingJob) -> float:
    if job.status != LabelingJob.Status.RUNNING or job.started_at is None:
        return 0.0
    age = (timezone.now() - job.started_at).total_seconds()
    return max(0.0, settings.LABELS_RUNNING_LEASE - age)


def labeling_job_wait(job_id: int) -> float | None:
    """Before taking a rate-limit permit: None when the job is finished (or gone), else the seconds to wait
    because another worker holds it (0 when it can run now)."""
    job = LabelingJob.objects.filter(pk=job_id).only("status", "started_at").first()
    if job is None or job.status in (LabelingJob.Status.DONE, LabelingJob.Status.DUPLICATE, LabelingJob.Status.FAILED):
        return None
    return _lease_left(job)


def _claim(job_id: int) -> LabelingJob | None:
    """Mark a queued job as running, or a running one whose lease expired (its worker died). None when it is
    finished; JobBusy when another worker holds it (a batch companion, a concurrent redelivery)."""
    with transaction.atomic():
        job = (
            LabelingJob.objects.select_for_update(skip_locked=True)
            .select_related("conversation")
            .filter(pk=job_id)
            .first()
        )
        if job is None:
            locked = LabelingJob.objects.filter(pk=job_id).exists()
            if locked:
                raise JobBusy(5.0)
            return None
        if job.status in (LabelingJob.Status.DONE, LabelingJob.Status.DUPLICATE):
            return None
        lease = _lease_left(job)
        if lease > 0:
            raise JobBusy(lease)
        job.status = LabelingJob.Status.RUNNING
        job.attempts = F("attempts") + 1
        job.started_at = timezone.now()
        job.save(update_fields=["status", "attempts", "started_at"])
        job.refresh_from_db(fields=["attempts"])
        return job


def _claim_companions(first: _Work, try_permit: Any) -> list[_Work]:
    """Other queued jobs joining the first in one LLM call while the batch stays under the token limit."""
    companions: list[_Work] = []
    budget = settings.LABELS_MAX_TOKENS - first.text.tokens
    if settings.LABELS_BATCH_SIZE <= 1 or budget <= 0:
        return companions
    with transaction.atomic():
        candidates = list(
            LabelingJob.objects.select_for_update(skip_locked=True)
            .select_related("conversation")
            .filter(status=LabelingJob.Status.QUEUED)
            .exclude(pk=first.job.pk)
            .order_by("created_at")[: settings.LABELS_BATCH_SIZE * 2]
        )
        for job in candidates:
            if len(companions) + 1 >= settings.LABELS_BATCH_SIZE:
                break
            try:
                work = _prepare_job(job)
            except MessagesUnavailable:
                continue  # its own task will record the failure
            if work is None or work.text.tokens > budget:
                continue
            if not try_permit():
                break
            LabelingJob.objects.filter(pk=job.pk).update(
                status=LabelingJob.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
            )
            budget -= work.text.tokens
            companions.append(work)
    return companions


def labeling_job_run(job_id: int, *, try_permit: Any = lambda: True) -> str:
    """Label one job (and queued companions batched with it). Idempotent: a finished job is a no-op.

    Returns the job's final status. Raises JobBusy when another worker holds the job, and transport errors
    (for Celery's retry) after putting the jobs it claimed back to "queued"; nothing is half-written.
    """
    job = _claim(job_id)
    if job is None:
        return "skipped"
    try:
        first = _prepare_job(job)
    except MessagesUnavailable:
        _fail([job.pk], "MessagesUnavailable")
        raise
    if first is None:
        return LabelingJob.Status.DUPLICATE
    works = [first, *_claim_companions(first, try_permit)]
    try:
        results: dict[str, list[str]] = {}
        for batch in batches([w.text for w in works]):
            results.update(labels_extract(batch))
    except Exception:
        LabelingJob.objects.filter(pk__in=[w.job.pk for w in works[1:]]).update(status=LabelingJob.Status.QUEUED)
        LabelingJob.objects.filter(pk=job.pk).update(status=LabelingJob.Status.QUEUED)
        raise
    status = LabelingJob.Status.FAILED
    for work in works:
        names = results.get(work.text.key)
        if not names:
            _fail([work.job.pk], "InvalidModelOutput")
            continue
        _store(work, names)
        if work.job.pk == job.pk:
            status = LabelingJob.Status.DONE
    return status


def _fail(job_ids: list[int], error: str) -> None:
    LabelingJob.objects.filter(pk__in=job_ids).update(
        status=LabelingJob.Status.FAILED, error=error[:200], finished_at=timezone.now()
    )


def labeling_job_fail(job_id: int, error: BaseException) -> None:
    """Called by the task when retries are exhausted: the job is failed, visible in the admin."""
    _fail([job_id], type(error).__name__)


def _store(work: _Work, names: list[str]) -> None:
    embedder = get_embeddings()
    model_name = embeddings_model_name()
    # Resolved before the store transaction, each in its own: the label-creation lock is held only while a
    # label is created, not for the whole store. A label created for a store that then fails is harmless.
    labels = [label_resolve(name, embedder=embedder, model_name=model_name) for name in names]
    with transaction.atomic():
        # Serialise with any other writer of this conversation's labels (a redelivered task, a batch).
        Conversation.objects.select_for_update().filter(pk=work.job.conversation_id).first()
        if LabelingJob.objects.filter(pk=work.job.pk, status=LabelingJob.Status.DONE).exists():
            return
        conversation_labels_replace(conversation=work.job.conversation, labels=labels)
        Conversation.objects.filter(pk=work.job.conversation_id).update(content_hash=work.digest)
        LabelingJob.objects.filter(pk=work.job.pk).update(
            status=LabelingJob.Status.DONE,
            content_hash=work.digest,
            labels=[label.name for label in labels],
            tokens=work.text.tokens,
            dropped_messages=work.text.dropped,
            error="",
            finished_at=timezone.now(),
        )
        transaction.on_commit(lambda: pending_delete([work.job.pk]))
    logger.info("labels: stored", extra={"job_id": work.job.pk, "labels": len(labels), "dropped": work.text.dropped})


# --------------------------------------------------------------------------- resolution (SPEC §5.7)


def thresholds_for(model_name: str) -> tuple[float, float]:
    reuse, alias = settings.LABELS_THRESHOLDS.get(model_name) or settings.LABELS_THRESHOLDS["default"]
    return float(reuse), float(alias)


def canonical(label: Label) -> Label:
    """The approved label a label counts for: its target when it is an approved alias, else itself."""
    if label.alias_of_id and label.status == Label.Status.APPROVED and label.alias_of is not None:
        return label.alias_of
    return label


def _nearest(vector: list[float], model_name: str, *, pending_only: bool = False) -> tuple[int | None, float]:
    """(id, cosine similarity) of the nearest label: the HNSW index over indexed labels and an exact scan of the
    few labels still waiting to be indexed (created in the last LABELS_INDEX_DELAY s), in one statement — or,
    with ``pending_only``, the exact scan alone. Plain SQL: the same query as a bare pgvector lookup."""
    literal = vector_literal(vector)
    # Filtered by the partial index on pending rows (a handful), then scanned exactly: through the HNSW index
    # they would be post-filtered out of its first ef_search candidates, and missed.
    pending = (
        "SELECT id, embedding <=> %s::vector AS distance FROM labels_label "
        "WHERE NOT indexed AND embedding_model = %s AND embedding IS NOT NULL ORDER BY 2 LIMIT 1"
    )
    if pending_only:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, 1 - distance FROM ({pending}) p", [literal, model_name])  # noqa: S608
            row = cursor.fetchone()
    else:
        ef_search = settings.LABELS_HNSW_EF_SEARCH
        # Search breadth: recall against latency (docs/benchmarks.md measures both). Unset, the server's value
        # (pgvector's default is 40) applies and the query needs no transaction of its own.
        with transaction.atomic() if ef_search else contextlib.nullcontext(), connection.cursor() as cursor:
            if ef_search:
                cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            cursor.execute(
                "SELECT id, 1 - distance FROM ("  # noqa: S608  # constant SQL
                "(SELECT id, embedding <=> %s::vector AS distance FROM labels_label "
                "WHERE indexed AND embedding_model = %s ORDER BY embedding <=> %s::vector LIMIT 1) "
                f"UNION ALL ({pending})) n ORDER BY distance LIMIT 1",
                [literal, model_name, literal, literal, model_name],
            )
            row = cursor.fetchone()
    if row is None:
        return None, -1.0
    # Rounded: pgvector computes in float32, and a boundary value such as 0.85 must compare as 0.85.
    return int(row[0]), round(float(row[1]), 6)


def label_resolve(name: str, *, embedder: Any, model_name: str) -> Label:
    """The label to store for ``name``: an existing one (same name, or cosine >= reuse threshold), a new
    proposed alias of the nearest (alias <= cosine < reuse), or a new label. A label's embedding is computed
    once. Reusing takes no lock: it creates nothing. Race-safe creation: creations are serialised by a
    transaction-level advisory lock, and under it the labels not yet indexed (all those created in the last
    LABELS_INDEX_DELAY s, so also by another worker between our search and the lock) are compared again, so two
    workers creating the same (or a near-identical) new label end with one.

    A new label is not inserted into the HNSW index here (about 5 ms at 100,000 labels, docs/benchmarks.md):
    it waits, exactly scanned, until ``labels_index_pending`` moves it."""
    existing = Label.objects.select_related("alias_of").filter(name=name).first()
    if existing is not None:
        return existing
    vector = embedder.embed_query(name)
    reuse, _ = thresholds_for(model_name)
    nearest_id, similarity = _nearest(vector, model_name)
    if nearest_id is not None and similarity >= reuse:
        return Label.objects.select_related("alias_of").get(pk=nearest_id)
    try:
        return _label_create(name, vector, model_name, nearest_id, similarity)
    except IntegrityError:  # the same name, created meanwhile under another embedding model
        return Label.objects.select_related("alias_of").get(name=name)


def _label_create(name: str, vector: list[float], model_name: str, nearest_id: int | None, similarity: float) -> Label:
    """label_resolve's creation, under the creation lock. The same name created meanwhile by another worker is
    among the pending labels (identical vector), so the exact re-check below finds it."""
    reuse, alias = thresholds_for(model_name)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LABEL_CREATION_LOCK])
            # Not worth a disk flush: a label lost in a crash is simply created again at its next occurrence.
            cursor.execute("SET LOCAL synchronous_commit = off")
        recent_id, recent_similarity = _nearest(vector, model_name, pending_only=True)
        if recent_id is not None and recent_similarity > similarity:
            nearest_id, similarity = recent_id, recent_similarity
        if nearest_id is not None and similarity >= reuse:
            return Label.objects.select_related("alias_of").get(pk=nearest_id)
        fields: dict[str, Any] = {"name": name, "embedding": vector, "embedding_model": model_name}
        if nearest_id is not None and similarity >= alias:
            nearest = Label.objects.select_related("alias_of").get(pk=nearest_id)
            fields.update(alias_of=canonical(nearest), status=Label.Status.PROPOSED, similarity=round(similarity, 4))
        label = Label.objects.create(**fields)
        transaction.on_commit(labels_index_schedule)
        return label


_INDEX_SCHEDULED_KEY = "supportdesk:labels:index-scheduled"


def labels_index_schedule(*, again: bool = False) -> None:
    """Queue one ``labels_index_pending`` run for when the labels created now are old enough (at most one queued
    at a time, across workers; ``again``: the run itself queues the next one while labels remain pending)."""
    delay = float(settings.LABELS_INDEX_DELAY)
    try:
        if again:
            redis_client().delete(_INDEX_SCHEDULED_KEY)
        if not redis_client().set(_INDEX_SCHEDULED_KEY, 1, nx=True, ex=max(1, int(delay))):
            return
        from apps.labels.tasks import labels_index_pending

        labels_index_pending.apply_async(countdown=delay + 1)
    except Exception as exc:  # the buffer stays correct, only larger, until the next creation schedules a run
        logger.warning("labels: indexing not scheduled", extra={"error": type(exc).__name__})


def labels_index_pending(*, min_age_s: float | None = None, batch: int = 500) -> int:
    """Move the labels created more than LABELS_INDEX_DELAY s ago into the HNSW index (the index insert happens
    here, off the resolution path). The age keeps every label a concurrent ``label_resolve`` may need to
    re-check under its lock in the exactly scanned buffer. Returns the number indexed."""
    age = float(settings.LABELS_INDEX_DELAY if min_age_s is None else min_age_s)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                "UPDATE labels_label SET indexed = true WHERE id IN (SELECT id FROM labels_label WHERE NOT indexed "
                "AND created_at < %s ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                [timezone.now() - timedelta(seconds=age), batch],
            )
            moved = int(cursor.rowcount)
        total += moved
        if moved < batch:
            break
    # Labels created after this run was queued are still too young: come back for them, or they would wait for
    # the next creation to be indexed.
    if Label.objects.filter(indexed=False, embedding__isnull=False).exists():
        labels_index_schedule(again=True)
    return total


# --------------------------------------------------------------------------- replacement and rollup


def month_start(value: datetime | date) -> date:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.replace(day=1)


def _rollup_add(month: date, label_ids: Sequence[int], delta: int) -> None:
    """Add ``delta`` for each label, counted under its canonical label: the rollup is keyed by canonical label,
    so a month's top 10 is a scan of its (month, -count) index."""
    if not label_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT l.id, {CANONICAL_SQL} FROM labels_label l WHERE l.id = ANY(%s)", [list(set(label_ids))])  # noqa: S608
        canonical_of = dict(cursor.fetchall())
        per_canonical: dict[int, int] = {}
        for label_id in label_ids:
            cid = canonical_of[label_id]
            per_canonical[cid] = per_canonical.get(cid, 0) + delta
        table = LabelMonthlyCount._meta.db_table
        cursor.executemany(
            f"INSERT INTO {table} (month, label_id, count) VALUES (%s, %s, %s) "  # noqa: S608  # table name is ours
            f"ON CONFLICT (month, label_id) DO UPDATE SET count = {table}.count + EXCLUDED.count",
            # A fixed order: concurrent upserts cannot deadlock.
            [(month, cid, n) for cid, n in sorted(per_canonical.items())],
        )


def conversation_labels_replace(*, conversation: Conversation, labels: Sequence[Label]) -> None:
    """Replace the conversation's labels in one transaction (delete then insert), keeping the rollup exact.
    Re-processing replaces, never duplicates (SPEC §5.8)."""
    month = month_start(conversation.created_at)
    with transaction.atomic():
        old = list(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True))
        ConversationLabel.objects.filter(conversation=conversation).delete()
        new_ids = list(dict.fromkeys(label.pk for label in labels))
        ConversationLabel.objects.bulk_create(ConversationLabel(conversation=conversation, label_id=i) for i in new_ids)
        _rollup_add(month, old, -1)
        _rollup_add(month, new_ids, +1)


def label_rollup_rebuild(*, label_ids: Iterable[int] | None = None) -> int:
    """Recompute the rollup (keyed by canonical label) from conversation labels: all of it, or the rows of the
    given canonical labels (after a merge: the source and the target). Returns rows written."""
    ids = list(label_ids) if label_ids is not None else None
    table = LabelMonthlyCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if ids is None:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
            where, params = "", []
        else:
            cursor.execute(f"DELETE FROM {table} WHERE label_id = ANY(%s)", [ids])  # noqa: S608
            where, params = f"WHERE {CANONICAL_SQL} = ANY(%s)", [ids]
        cursor.execute(
            f"INSERT INTO {table} (month, label_id, count) "  # noqa: S608
            f"SELECT date_trunc('month', c.created_at AT TIME ZONE %s)::date, {CANONICAL_SQL}, count(*) "
            "FROM labels_conversationlabel cl JOIN conversations_conversation c ON c.id = cl.conversation_id "
            f"JOIN labels_label l ON l.id = cl.label_id {where} GROUP BY 1, 2",
            [settings.TIME_ZONE, *params],
        )
        return int(cursor.rowcount)


# --------------------------------------------------------------------------- supervisors' decisions


def label_merge(*, source: Label, target: Label, by: Any = None, action: str = "merge") -> int:
    """Merge ``source`` into ``target``: its conversations move to the target (no duplicates), it becomes an
    approved alias of the target (future occurrences count for the target), aliases pointing to it follow, and
    the merge is recorded. Returns the number of conversation labels moved."""
    if source.pk == target.pk:
        raise ApplicationError("A label cannot be merged into itself.")
    target = canonical(target)
    if source.pk == target.pk:
        raise ApplicationError("The target is an alias of this label; merge the other way round.")
    with transaction.atomic():
        both = ConversationLabel.objects.filter(label=target).values("conversation_id")
        ConversationLabel.objects.filter(label=source, conversation_id__in=both).delete()
        moved = ConversationLabel.objects.filter(label=source).update(label=target)
        Label.objects.filter(alias_of=source).update(alias_of=target)
        Label.objects.filter(pk=source.pk).update(alias_of=target, status=Label.Status.APPROVED)
        LabelMerge.objects.create(
            source_name=source.name, source=source, target=target, moved=moved, action=action, by=by
        )
        label_rollup_rebuild(label_ids=[source.pk, target.pk])
    return int(moved)


def label_alias_approve(*, label: Label, by: Any = None) -> int:
    if label.alias_of is None:
        raise ApplicationError(f"{label.name!r} is not an alias proposal.")
    return label_merge(source=label, target=label.alias_of, by=by, action="approve")


def label_alias_reject(*, label: Label, by: Any = None) -> None:
    """Keep the label as a label of its own."""
    with transaction.atomic():
        target = label.alias_of
        Label.objects.filter(pk=label.pk).update(status=Label.Status.REJECTED, alias_of=None)
        if target is not None:
            LabelMerge.objects.create(source_name=label.name, source=label, target=target, action="reject", by=by)


def label_rename(*, label: Label, name: str, by: Any = None) -> Label:
    from apps.ai.label_rules import normalise_label

    clean = normalise_label(name)
    if not clean:
        raise ApplicationError("A label is 1 to 3 lowercase words, without emoji or punctuation.")
    other = Label.objects.filter(name=clean).exclude(pk=label.pk).first()
    if other is not None:
        label_merge(source=label, target=other, by=by, action="rename")
        return other
    embedder = get_embeddings()
    Label.objects.filter(pk=label.pk).update(
        name=clean, embedding=embedder.embed_query(clean), embedding_model=embeddings_model_name()
    )
    label.refresh_from_db()
    return label


# --------------------------------------------------------------------------- maintenance


def labels_reembed(*, only_stale: bool = True, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Re-embed labels whose vectors were made by another model (or all). Returns the number re-embedded."""
    model = embeddings_model_name()
    qs = Label.objects.order_by("pk")
    if only_stale:
        qs = qs.exclude(embedding_model=model)
    labels = list(qs)
    embedder = get_embeddings()
    for start in range(0, len(labels), _REEMBED_BATCH):
        batch = labels[start : start + _REEMBED_BATCH]
        # As label_resolve does: a label name is embedded as a query (asymmetric models such as E5 prefix it so).
        for label, vector in zip(batch, [embedder.embed_query(lb.name) for lb in batch], strict=True):
            label.embedding, label.embedding_model = vector, model
        Label.objects.bulk_update(batch, ["embedding", "embedding_model"])
        if on_progress:
            on_progress(min(start + _REEMBED_BATCH, len(labels)), len(labels))
    return len(labels)
