"""Labels with pgvector embeddings, aliases, and the labels of each conversation (SPEC §5)."""

from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.core.models import BaseModel


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

    class Meta:
        ordering = ["name"]
        indexes = [
            HnswIndex(
                name="label_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
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
