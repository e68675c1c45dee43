"""Helpers of the live-chat tests (tests/conversations, tests/tickets): widget sockets on the real Redis layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings

SITE_ORIGIN = b"http://127.0.0.1"
CUSTOMER_IP = "198.51.100.7"


def rate_limits_clear() -> None:
    """Per-IP counters live in Redis across tests: each test starts with none."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("supportdesk:ratelimit:*"):
        client.delete(key)
    client.close()


def widget_communicator(
    token: str | None, *, origin: bytes | None = SITE_ORIGIN, client_ip: str = CUSTOMER_IP, headers: Any = ()
) -> WebsocketCommunicator:
    from supportdesk.asgi import application

    path = "/ws/widget/" + (f"?token={token}" if token is not None else "")
    all_headers = [*([(b"origin", origin)] if origin else []), *headers]
    communicator = WebsocketCommunicator(application, path, headers=all_headers)
    # The ASGI server's peer address (WebsocketCommunicator sets none); the app has not read the scope yet.
    communicator.scope["client"] = (client_ip, 50000)
    return communicator


async def receive_until(
    communicator: WebsocketCommunicator, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """Frames up to and including the first one matching ``predicate``."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if predicate(frame):
            return frames


async def connected(token: str, **kwargs: Any) -> tuple[WebsocketCommunicator, list[dict[str, Any]]]:
    """An accepted widget socket and what it sent on connect (history, then the status frame)."""
    communicator = widget_communicator(token, **kwargs)
    ok, code = await communicator.connect(timeout=10)
    assert ok, code
    return communicator, await receive_until(communicator, lambda f: f["type"] == "status")
