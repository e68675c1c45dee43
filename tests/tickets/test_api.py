"""GET /api/tickets/?conversation=<id>: agents only, session or token auth."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.tickets.services import ticket_create
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_lists_a_conversations_tickets_for_agents(agent_user: Any) -> None:
    conversation, other = ConversationFactory(), ConversationFactory()
    mine = ticket_create(subject="Remboursement", conversation=conversation, priority="HIGH", category="billing")
    ticket_create(subject="Autre", conversation=other)

    client = Client()
    client.force_login(agent_user)
    response = client.get(f"/api/tickets/?conversation={conversation.pk}")
    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [mine.pk]
    row = rows[0]
    assert (row["subject"], row["priority"], row["category"], row["status"], row["sla_breached"]) == (
        "Remboursement",
        "HIGH",
        "billing",
        "OPEN",
        False,
    )
    assert row["contact_id"] == conversation.contact_id and row["ack_due_at"] and row["first_contact_due_at"]

    token = Token.objects.create(user=agent_user)
    by_token = Client().get(f"/api/tickets/?contact={conversation.contact_id}", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert [row["id"] for row in by_token.json()] == [mine.pk]


def test_refused_to_others_and_bad_queries_are_400(agent_user: Any) -> None:
    from tests.core.factories import UserFactory

    assert Client().get("/api/tickets/?conversation=1").status_code in (401, 403)
    customer = Client()
    customer.force_login(UserFactory())
    assert customer.get("/api/tickets/?conversation=1").status_code == 403

    agent = Client()
    agent.force_login(agent_user)
    for query in ("", "?conversation=abc", "?conversation=0", "?contact=1&limit=1000"):
        response = agent.get(f"/api/tickets/{query}")
        assert response.status_code == 400, query
        assert "error" in response.json()
