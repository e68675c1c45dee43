"""Conversation reads."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db.models import QuerySet

from apps.conversations.models import Channel, Conversation, Message
from apps.conversations.tokens import visitor_token_read
from apps.core.exceptions import PermissionDenied


def conversation_for_visitor_token(token: str) -> Conversation:
    """The widget conversation a visitor token opens.

    Raises InvalidToken (401) for a missing, changed or expired token and PermissionDenied (403) when the
    signature is good but the conversation is gone or does not carry the token's nonce any more.
    """
    claim = visitor_token_read(token)
    conversation = (
        Conversation.objects.select_related("contact").filter(pk=claim.conversation_id, channel=Channel.WIDGET).first()
    )
    nonce = str((conversation.metadata or {}).get("visitor_nonce", "")) if conversation else ""
    if conversation is None or not nonce or not secrets.compare_digest(nonce, claim.nonce):
        raise PermissionDenied("This visitor token does not open any conversation.", code="unknown_conversation")
    return conversation


def messages_for_customer(conversation_id: int, limit: int | None = None) -> list[Message]:
    """What the customer may see of a conversation, oldest first: every message except internal notes."""
    limit = limit or settings.WIDGET_HISTORY_LIMIT
    recent = (
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(role=Message.Role.NOTE)
        .order_by("-created_at", "-id")[:limit]
    )
    return list(reversed(list(recent)))


def message_for_customer(message_id: int) -> Message | None:
    return Message.objects.filter(pk=message_id).exclude(role=Message.Role.NOTE).first()


def conversation_status(conversation_id: int) -> str | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True).first()


def messages_recent(conversation_id: int, limit: int = 20) -> QuerySet[Message]:
    return Message.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-id")[:limit]
