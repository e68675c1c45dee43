"""Copilot suggestions and per-conversation analytics (SPEC §7)."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Suggestion(BaseModel):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Edited"
        IGNORED = "ignored", "Ignored"

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="suggestions")
    trigger_message = models.ForeignKey("conversations.Message", null=True, blank=True, on_delete=models.SET_NULL)
    payload = models.JSONField(default=dict, help_text="OutputSuggestion as shown to the agent")
    confidence = models.FloatField(default=0)
    silent = models.BooleanField(default=False)
    provider = models.CharField(max_length=20, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0, help_text="0 with the local provider")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When the outcome was recorded")

    class Meta:
        indexes = [models.Index(fields=["conversation", "-created_at"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"suggestion #{self.pk} ({self.outcome})"


class ConversationAnalytics(BaseModel):
    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="analytics"
    )
    intent = models.CharField(max_length=80, blank=True)
    sentiment = models.CharField(max_length=10, blank=True)
    emotion = models.CharField(max_length=10, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    churn_risk = models.PositiveSmallIntegerField(default=0)
    next_action = models.CharField(max_length=200, blank=True)
    running_summary = models.TextField(blank=True, help_text="Folded memory of messages older than the last 50")
    folded_until = models.BigIntegerField(
        default=0, help_text="Id of the newest message folded into running_summary (0: none)"
    )

    class Meta:
        verbose_name_plural = "conversation analytics"
        constraints = [
            models.CheckConstraint(condition=models.Q(churn_risk__lte=100), name="analytics_churn_risk_0_100")
        ]

    def __str__(self) -> str:
        return f"analytics of conversation #{self.conversation_id}"
