"""Conversation writes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.conversations.models import Conversation
from apps.core.exceptions import ApplicationError


def conversation_close(*, conversation: Conversation, by: Any = None) -> Conversation:
    """Close a conversation and send it to the labeling pipeline (SPEC §5: native conversations when closed).

    Raises ApplicationError when it is already closed.
    """
    from apps.labels.models import LabelingJob
    from apps.labels.services import labeling_enqueue

    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.status == Conversation.Status.CLOSED:
            raise ApplicationError("This conversation is already closed.", code="already_closed")
        locked.status = Conversation.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        labeling_enqueue(conversation=locked, source=LabelingJob.Source.NATIVE)
    return locked
