"""Labels with pgvector embeddings, aliases, and the labels of each conversation (SPEC §5)."""

from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.core.models import BaseModel

# SQL for the approved label a label `l` counts for: its target when it is an approved alias, else itself.
CANONICAL_SQL = "COALESCE(CASE WHEN l.status = 'approved' THEN l.alias_of_id END, l.id)"


class Label(BaseModel):
    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        PROPOSED = "proposed", "Proposed alias"
        REJECTED = "rejected", "Rejected alias"

    name = models.CharField(max_length=64, unique=True)
    embedding = VectorField(dimensions=settings.EMBEDDING_DIM, null=True, blank=True)
    embedding_model = models.CharField(max_length=120, blank=True)
    alias_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="aliases")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.APPROVED, db_index=True)
    similarity = models.FloatField(null=True, blank=True, help_text="Cosine similarity to alias_of when proposed")
    indexed = models.BooleanField(
        default=False,
        help_text="In the HNSW index. A new label waits a minute in a small buffer that is scanned exactly, so "
        "creating one does not pay for the index insert (labels_index_pending moves it).",
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            HnswIndex(
                name="label_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
                condition=models.Q(indexed=True),
            ),
            models.Index(fields=["created_at"], name="label_pending", condition=models.Q(indexed=False)),
        ]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="conversation_labels"
    )
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="conversation_labels")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "label"], name="conversation_label_unique")]

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.label_id}"


class LabelingJob(models.Model):
    """One request to (re)label a conversation. Holds no conversation text (SPEC §5.9)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DUPLICATE = "duplicate", "Duplicate (already labeled)"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Crisp webhook"
        NATIVE = "native", "Closed in SupportDesk"
        REPROCESS = "reprocess", "Reprocessed from the admin"
        BACKFILL = "backfill", "Backfill command"

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="labeling_jobs"
    )
    source = models.CharField(max_length=12, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="Empty until the worker fetched the messages")
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, help_text="Error class only, never content")
    labels = models.JSONField(default=list, blank=True, help_text="Names of the labels stored")
    tokens = models.PositiveIntegerField(default=0, help_text="Conversation tokens sent to the model")
    dropped_messages = models.PositiveIntegerField(default=0, help_text="Oldest messages dropped for the token limit")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"labeling job #{self.pk} ({self.status})"


class LabelMonthlyCount(models.Model):
    """Rollup: conversations per label per month, kept up to date incrementally (SPEC §5 statistics)."""

    month = models.DateField(help_text="First day of the month")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="monthly_counts")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "label"], name="label_monthly_count_unique")]
        indexes = [models.Index(fields=["month", "-count"], name="label_monthly_count_top")]

    def __str__(self) -> str:
        return f"{self.label_id} {self.month:%Y-%m}: {self.count}"


class LabelMerge(models.Model):
    """History of merges and alias decisions: who moved what into which label, when."""

    source_name = models.CharField(max_length=64)
    source = models.ForeignKey(Label, null=True, on_delete=models.SET_NULL, related_name="merges_out")
    target = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="merges_in")
    moved = models.PositiveIntegerField(default=0, help_text="Conversation labels moved")
    action = models.CharField(max_length=20, default="merge")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_name} → {self.target_id}"
