"""Ticket writes (SPEC §8). SLA due dates come from settings when the ticket is created."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.conversations import events
from apps.core.exceptions import ApplicationError
from apps.tickets.models import Ticket, TicketCategory

if TYPE_CHECKING:
    from apps.conversations.models import Contact, Conversation

logger = logging.getLogger(__name__)

SOURCES = ("contact_form", "escalation", "agent", "mastodon", "api")
# SPEC §8's categories (also seeded by migration 0002); supervisors edit them in the admin.
DEFAULT_CATEGORIES = {
    "billing": "Billing",
    "technical": "Technical",
    "plan": "Plan",
    "cancellation": "Cancellation",
    "complaint": "Complaint",
    "activation": "Activation",
    "assistance": "Assistance",
    "general": "General",
}
SUBJECT_MAX = 300


def ticket_categories_ensure() -> None:
    """Create the default categories that do not exist (by slug); existing ones, even deactivated, are left alone."""
    for slug, name in DEFAULT_CATEGORIES.items():
        TicketCategory.objects.get_or_create(slug=slug, defaults={"name": name})


def ticket_sla_due(*, priority: str, start: datetime) -> tuple[datetime, datetime]:
    """(acknowledge by, first contact by) for a ticket of ``priority`` opened at ``start``."""
    hours = settings.TICKETS_SLA_FIRST_CONTACT_HOURS[priority]
    return start + timedelta(minutes=settings.TICKETS_SLA_ACK_MINUTES), start + timedelta(hours=hours)


# Conversation tags a ticket of that conversation carries too, whenever it is created or linked (the copilot's
# churn alert tags the conversation and its tickets; a ticket opened after the alert must not miss it).
TAGS_CARRIED_TO_TICKETS = ("URGENT_RETENTION",)


def _carried_tags(conversation_id: int | None, tags: list[str]) -> list[str]:
    from apps.conversations.models import Conversation

    if conversation_id is None:
        return tags
    stored = Conversation.objects.filter(pk=conversation_id).values_list("tags", flat=True).first() or []
    return [*tags, *(t for t in TAGS_CARRIED_TO_TICKETS if t in stored and t not in tags)]


def ticket_create(
    *,
    subject: str,
    description: str = "",
    contact: Contact | None = None,
    conversation: Conversation | None = None,
    category: str | None = None,
    priority: str = Ticket.Priority.MEDIUM,
    source: str = "agent",
    tags: list[str] | None = None,
    assignee: Any = None,
) -> Ticket:
    """Create a ticket with its SLA due dates and tell online agents (``ticket.created``, after commit).

    ``category`` is an active category's slug (None: no category). Raises ApplicationError for an empty subject,
    an unknown priority, source or category.
    """
    subject = " ".join((subject or "").split())[:SUBJECT_MAX]
    if not subject:
        raise ApplicationError("A ticket needs a subject.", code="subject")
    if priority not in Ticket.Priority.values:
        raise ApplicationError(f"Unknown priority {priority!r}.", code="priority")
    if source not in SOURCES:
        raise ApplicationError(f"Unknown ticket source {source!r}.", code="source")
    category_obj = None
    if category:
        category_obj = TicketCategory.objects.filter(slug=category, active=True).first()
        if category_obj is None:
            raise ApplicationError(f"Unknown ticket category {category!r}.", code="category")
    if contact is None and conversation is not None:
        contact = conversation.contact
    with transaction.atomic():
        ticket = Ticket.objects.create(
            subject=subject,
            description=description or "",
            contact=contact,
            conversation=conversation,
            category=category_obj,
            priority=priority,
            source=source,
            tags=_carried_tags(conversation.pk if conversation is not None else None, list(tags or [])),
            assignee=assignee,
        )
        # Counted from the stored creation time, so the SLA reads exactly "created + N" in every screen.
        ticket.ack_due_at, ticket.first_contact_due_at = ticket_sla_due(priority=priority, start=ticket.created_at)
        ticket.save(update_fields=["ack_due_at", "first_contact_due_at"])
        events.ticket_created(ticket)
    logger.info(
        "ticket created",
        extra={
            "ticket_id": ticket.pk,
            "source": source,
            "priority": priority,
            "conversation_id": ticket.conversation_id,
        },
    )
    return ticket


def _open_tickets(conversation_id: int) -> Any:
    return Ticket.objects.filter(
        conversation_id=conversation_id, status__in=(Ticket.Status.OPEN, Ticket.Status.IN_PROGRESS)
    )


def tickets_for_conversation_acknowledge(*, conversation_id: int, at: datetime | None = None) -> int:
    """An agent took the conversation: its open tickets are acknowledged (SLA). Returns how many changed."""
    return (
        _open_tickets(conversation_id)
        .filter(acknowledged_at__isnull=True)
        .update(acknowledged_at=at or timezone.now(), updated_at=timezone.now())
    )


def tickets_for_conversation_first_contact(*, conversation_id: int, at: datetime | None = None) -> int:
    """An agent wrote to the customer: first contact (and acknowledgement, if not yet) of its open tickets."""
    at = at or timezone.now()
    tickets = _open_tickets(conversation_id)
    tickets.filter(acknowledged_at__isnull=True).update(acknowledged_at=at)
    tickets.filter(status=Ticket.Status.OPEN).update(status=Ticket.Status.IN_PROGRESS)
    return tickets.filter(Q(first_contact_at__isnull=True)).update(first_contact_at=at, updated_at=timezone.now())


def tickets_for_conversation_tag(*, conversation_id: int, tag: str) -> int:
    """Add ``tag`` to the conversation's open tickets (OPEN, IN_PROGRESS) that lack it. Returns how many changed."""
    changed = 0
    with transaction.atomic():
        for ticket in _open_tickets(conversation_id).select_for_update():
            if tag not in (ticket.tags or []):
                ticket.tags = [*(ticket.tags or []), tag]
                ticket.save(update_fields=["tags", "updated_at"])
                changed += 1
    return changed


def ticket_conversation_link(*, ticket: Ticket, conversation: Conversation) -> Ticket:
    """Attach the chat that continues a ticket (the /contact/ form's ticket) to it; the conversation's carried tags
    (TAGS_CARRIED_TO_TICKETS) are added to the ticket's."""
    tags = _carried_tags(conversation.pk, list(ticket.tags or []))
    Ticket.objects.filter(pk=ticket.pk).update(conversation=conversation, tags=tags, updated_at=timezone.now())
    ticket.conversation, ticket.tags = conversation, tags
    return ticket


def ticket_status_set(*, ticket: Ticket, status: str, by: Any = None) -> Ticket:
    """Move a ticket to ``status``, stamping resolved_at / closed_at. Raises ApplicationError for an unknown one."""
    if status not in Ticket.Status.values:
        raise ApplicationError(f"Unknown ticket status {status!r}.", code="status")
    now = timezone.now()
    ticket.status = status
    fields = ["status", "updated_at"]
    if status == Ticket.Status.RESOLVED and ticket.resolved_at is None:
        ticket.resolved_at = now
        fields.append("resolved_at")
    if status == Ticket.Status.CLOSED and ticket.closed_at is None:
        ticket.closed_at = now
        fields.append("closed_at")
    ticket.save(update_fields=fields)
    return ticket
