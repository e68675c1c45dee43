"""The console WebSocket over the real Redis channel layer: who may connect, and bad frames."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from supportdesk.asgi import application

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://127.0.0.1")


def _cookie_headers(user: Any) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]


def test_channel_layer_is_redis() -> None:
    assert type(get_channel_layer()).__name__ == "RedisChannelLayer"


async def test_anonymous_socket_is_refused() -> None:
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403


async def test_foreign_origin_is_refused(agent_user: Any) -> None:
    from channels.db import database_sync_to_async as sync_to_async

    headers = await sync_to_async(_cookie_headers)(agent_user)
    headers = [(b"origin", b"https://evil.example")] + [h for h in headers if h[0] != b"origin"]
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected


async def test_agent_connects_bad_frames_get_errors_and_socket_stays_usable(agent_user: Any) -> None:
    from channels.db import database_sync_to_async as sync_to_async

    headers = await sync_to_async(_cookie_headers)(agent_user)
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from()) == {
        "type": "error",
        "code": "bad_json",
        "detail": "The frame is not valid JSON.",
    }
    await communicator.send_to(text_data="[1, 2]")
    assert (await communicator.receive_json_from())["code"] == "bad_frame"
    await communicator.send_json_to({"type": "launch_missiles"})
    assert (await communicator.receive_json_from())["code"] == "unknown_type"
    await communicator.send_to(text_data="x" * 20_000)
    assert (await communicator.receive_json_from())["code"] == "bad_frame"

    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}

    # An event sent to the inbox group through Redis reaches the agent.
    layer = get_channel_layer()
    await layer.group_send("inbox.default", {"type": "inbox.event", "event": "conversation.new", "conversation_id": 7})
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "conversation.new",
        "event": "conversation.new",
        "conversation_id": 7,
    }
    await communicator.disconnect()
