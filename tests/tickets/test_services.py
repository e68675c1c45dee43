"""Tickets: SLA due dates by priority (SPEC §8), the real-time notice, SLA stamps from the conversation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.utils import timezone

from apps.conversations import services as conversation_services
from apps.core.exceptions import ApplicationError
from apps.tickets.models import Ticket
from apps.tickets.selectors import ticket_is_sla_breached
from apps.tickets.services import ticket_create
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db

# SPEC §8: acknowledge within 15 min; first contact URGENT 1 h, HIGH 4 h, MEDIUM 24 h, LOW 48 h.
SLA = {"URGENT": 1, "HIGH": 4, "MEDIUM": 24, "LOW": 48}


@pytest.mark.parametrize(("priority", "hours"), SLA.items())
def test_sla_due_dates_follow_the_priority(priority: str, hours: int) -> None:
    ticket = ticket_create(subject="Facture en double", priority=priority, category="billing", source="api")
    ticket.refresh_from_db()
    assert ticket.ack_due_at - ticket.created_at == timedelta(minutes=15)
    assert ticket.first_contact_due_at - ticket.created_at == timedelta(hours=hours)
    assert ticket.category.slug == "billing"


def test_sla_hours_are_settings(settings: Any) -> None:
    settings.TICKETS_SLA_ACK_MINUTES = 5
    settings.TICKETS_SLA_FIRST_CONTACT_HOURS = {**settings.TICKETS_SLA_FIRST_CONTACT_HOURS, "HIGH": 2}
    ticket = ticket_create(subject="x", priority="HIGH")
    assert ticket.ack_due_at - ticket.created_at == timedelta(minutes=5)
    assert ticket.first_contact_due_at - ticket.created_at == timedelta(hours=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": "   "},
        {"subject": "x", "priority": "CRITICAL"},
        {"subject": "x", "category": "no-such-category"},
        {"subject": "x", "source": "fax"},
    ],
)
def test_bad_tickets_are_refused_and_not_written(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ApplicationError):
        ticket_create(**kwargs)
    assert not Ticket.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_ticket_created_reaches_the_inbox() -> None:
    # Closes its connection afterwards, so no test leaves one open in asgiref's shared thread.
    from channels.db import database_sync_to_async as sync_to_async

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("inbox.default", channel)
    ticket = await sync_to_async(ticket_create)(subject="Rappel demandé", source="agent")
    import asyncio

    event = await asyncio.wait_for(layer.receive(channel), 10)
    assert event == {"type": "ticket.created", "ticket_id": ticket.pk, "conversation_id": None}
    await layer.group_discard("inbox.default", channel)


def test_agent_work_stamps_the_sla(agent_user: Any) -> None:
    conversation = ConversationFactory()
    ticket = conversation_services.conversation_escalate(conversation=conversation, reason="refund")
    assert (ticket.category.slug, ticket.priority, ticket.tags) == ("billing", "HIGH", ["refund"])
    assert ticket.acknowledged_at is None and ticket.first_contact_at is None

    conversation_services.conversation_assign(conversation=conversation, agent=agent_user, by=agent_user)
    ticket.refresh_from_db()
    assert ticket.acknowledged_at is not None and ticket.first_contact_at is None

    conversation_services.message_post(conversation=conversation, role="agent", text="Bonjour", author=agent_user)
    ticket.refresh_from_db()
    assert ticket.first_contact_at is not None and ticket.status == "IN_PROGRESS"
    assert not ticket_is_sla_breached(ticket)


def test_sla_breach_is_seen() -> None:
    ticket = ticket_create(subject="Lent", priority="URGENT")
    later = timezone.now() + timedelta(minutes=16)
    assert ticket_is_sla_breached(ticket, later)  # not acknowledged within 15 minutes
    assert not ticket_is_sla_breached(ticket, timezone.now())


def test_bot_category_unknown_falls_back_and_priority_kept() -> None:
    conversation = ConversationFactory()
    ticket = conversation_services.conversation_escalate(
        conversation=conversation, reason="complaint", category="made-up", priority="URGENT"
    )
    assert (ticket.category.slug, ticket.priority) == ("complaint", "URGENT")
    assert ticket.first_contact_due_at - ticket.created_at == timedelta(hours=1)
    conversation.refresh_from_db()
    assert conversation.status == "escalated"
    assert list(conversation.messages.values_list("role", flat=True)) == ["system"]


def test_a_ticket_opened_after_the_churn_alert_carries_urgent_retention() -> None:
    """The copilot tags the conversation and its tickets when the churn risk crosses the threshold; a ticket created
    or linked later must carry the tag too (and a conversation's other tags stay on the conversation)."""
    from apps.tickets.services import ticket_conversation_link

    conversation = ConversationFactory(tags=["URGENT_RETENTION", "vip"])
    ticket = ticket_create(subject="Résiliation", conversation=conversation, tags=["billing"])
    ticket.refresh_from_db()
    assert ticket.tags == ["billing", "URGENT_RETENTION"]
    other = ticket_create(subject="Formulaire de contact", tags=[])
    ticket_conversation_link(ticket=other, conversation=conversation)
    other.refresh_from_db()
    assert other.tags == ["URGENT_RETENTION"]
    calm = ticket_create(subject="Question", conversation=ConversationFactory())
    assert calm.tags == []
