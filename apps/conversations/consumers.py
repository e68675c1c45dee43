"""Agents' console socket. Thin: authenticate, join the inbox group, relay events as JSON frames."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.conversations.events import inbox_group
from apps.core.permissions import is_agent

MAX_FRAME_BYTES = 16_384


class ConsoleConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await database_sync_to_async(is_agent)(user):
            # 4403: application-defined "forbidden"; the socket is refused before accept.
            await self.close(code=4403)
            return
        self.inbox = inbox_group()
        await self.channel_layer.group_add(self.inbox, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.get_username()})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "inbox"):
            await self.channel_layer.group_discard(self.inbox, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data.encode()) > MAX_FRAME_BYTES:
            await self.send_error("bad_frame", f"Send JSON text frames of at most {MAX_FRAME_BYTES} bytes.")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("bad_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("bad_frame", 'A frame is a JSON object with a "type".')
            return
        if frame["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_error("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def inbox_event(self, event: dict[str, Any]) -> None:
        """Group events of type `inbox.event` are forwarded to the browser as they are."""
        await self.send_json({k: v for k, v in event.items() if k != "type"} | {"type": event.get("event", "inbox")})
