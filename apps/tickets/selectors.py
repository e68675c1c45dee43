"""Ticket reads."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from apps.tickets.models import Ticket, TicketCategory


def ticket_sla_breached_q(now: datetime | None = None) -> Q:
    """Tickets whose acknowledgement or first contact came late, or is overdue and still missing."""
    now = now or timezone.now()
    return (
        Q(ack_due_at__lt=now, acknowledged_at__isnull=True)
        | Q(acknowledged_at__gt=F("ack_due_at"))
        | Q(first_contact_due_at__lt=now, first_contact_at__isnull=True)
        | Q(first_contact_at__gt=F("first_contact_due_at"))
    )


def ticket_is_sla_breached(ticket: Ticket, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    ack_late = ticket.ack_due_at is not None and ((ticket.acknowledged_at or now) > ticket.ack_due_at)
    contact_late = ticket.first_contact_due_at is not None and (
        (ticket.first_contact_at or now) > ticket.first_contact_due_at
    )
    return ack_late or contact_late


def tickets_list(
    *, conversation_id: int | None = None, contact_id: int | None = None, limit: int = 100
) -> QuerySet[Ticket]:
    qs = Ticket.objects.select_related("category", "assignee")
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    return qs.order_by("-created_at", "-id")[:limit]


def ticket_category_active(slug: str | None) -> bool:
    return bool(slug) and TicketCategory.objects.filter(slug=slug, active=True).exists()
