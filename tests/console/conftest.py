"""Console fixtures: agents, a customer who is not an agent, logged-in clients, conversations."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conversations.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.core.factories import UserFactory


@pytest.fixture
def other_agent(db: Any) -> Any:
    return UserFactory(groups=["agent"])


@pytest.fixture
def plain_user(db: Any) -> Any:
    """Logged in, but neither agent nor supervisor."""
    return UserFactory()


@pytest.fixture
def agent_client(agent_user: Any) -> Client:
    client = Client()
    client.force_login(agent_user)
    return client


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def conversation(db: Any) -> Any:
    """An escalated, unassigned web-widget conversation with one customer message."""
    conversation = ConversationFactory(
        status="escalated", channel="widget", contact=ContactFactory(name="Léa Martin", phone="+33612345678")
    )
    MessageFactory(conversation=conversation, text="Je voudrais retourner mon téléphone.")
    return conversation


@pytest.fixture
def make_conversation(db: Any) -> Any:
    def make(**kwargs: Any) -> Any:
        return ConversationFactory(**kwargs)

    return make
