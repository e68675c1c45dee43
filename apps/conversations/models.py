"""Contacts, conversations and messages (SPEC §6, §9 of the labeling pipeline)."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Channel(models.TextChoices):
    WIDGET = "widget", "Web widget"
    WHATSAPP = "whatsapp", "WhatsApp"
    MASTODON = "mastodon", "Mastodon"
    CRISP = "crisp", "Crisp"
    API = "api", "API"


class Contact(BaseModel):
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WIDGET)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="Id on the channel (WhatsApp number, Mastodon account, Crisp session)"
    )
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "external_id"])]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"contact #{self.pk}"


class Conversation(BaseModel):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated"
        CLOSED = "closed", "Closed"

    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WIDGET, db_index=True)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="Id on the source platform (e.g. Crisp session id)"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    subject = models.CharField(max_length=300, blank=True)
    imported = models.BooleanField(default=False, help_text="Imported conversations keep no raw text (SPEC §5.9)")
    content_hash = models.CharField(max_length=64, blank=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    csat_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True, help_text='e.g. "URGENT_RETENTION" (set by the copilot)')

    class Meta:
        ordering = ["-last_message_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~models.Q(external_id=""),
                name="conversation_unique_external_id_per_channel",
            ),
            models.CheckConstraint(
                condition=models.Q(csat_rating__isnull=True) | models.Q(csat_rating__gte=1, csat_rating__lte=5),
                name="conversation_csat_rating_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_channel_display()} ({self.status})"


class Message(BaseModel):
    class Role(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"
        NOTE = "note", "Internal note"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    external_id = models.CharField(max_length=200, blank=True, help_text="Platform message id (e.g. WhatsApp wamid)")
    sources = models.JSONField(default=list, blank=True, help_text="Knowledge citations [{title, url}]")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~models.Q(external_id=""), name="message_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        # Never the text: __str__ ends up in logs and admin history.
        return f"message #{self.pk} ({self.role}) in conversation #{self.conversation_id}"
