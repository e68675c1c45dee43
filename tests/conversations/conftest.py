"""Fixtures of the live-chat tests: widget sessions over the real API and sockets over the real Redis layer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.test import Client

from tests.conversations.widget_helpers import rate_limits_clear


@pytest.fixture(autouse=True)
def _no_rate_limit_history() -> Iterator[None]:
    rate_limits_clear()
    yield


@pytest.fixture
def session_create(transactional_db: Any) -> Callable[..., dict[str, Any]]:
    """POST /api/widget/sessions as a browser on the site would; returns the JSON body (asserts 201)."""

    def create(**body: Any) -> dict[str, Any]:
        response = Client().post("/api/widget/sessions", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    return create


@pytest.fixture
async def inbox_listener() -> Any:
    """A channel in the inbox group, as an agent's console would be; yields ``next_event(type)``."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("inbox.default", channel)

    async def next_event(event_type: str, timeout: float = 10) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await layer.receive(channel)
                if event["type"] == event_type:
                    return event

        return await asyncio.wait_for(wait(), timeout)

    listener: Callable[[str], Awaitable[dict[str, Any]]] = next_event
    yield listener
    await layer.group_discard("inbox.default", channel)


@pytest.fixture(autouse=True)
def _ticket_categories(ticket_categories_seeded: None) -> None:
    """Escalations and contact tickets need the seeded categories (tests/conftest.py)."""
