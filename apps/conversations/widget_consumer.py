"""The customer's socket, `/ws/widget/?token=<visitor token>` (SPEC §6): the public widget protocol.

Thin: read the token, call services and selectors, turn the conversation group's events into the public frames.
A bad token is refused before the handshake completes (4401: missing, changed or expired; 4403: it opens no
conversation). Internal notes never leave the server.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.conversations import events, selectors, services
from apps.conversations.models import Conversation, Message
from apps.core import ratelimit
from apps.core.clientip import scope_client_ip
from apps.core.exceptions import ApplicationError
from apps.core.frames import FrameError, parse_frame

logger = logging.getLogger(__name__)

TYPING_INTERVAL = 2.0  # seconds between two relayed typing frames of one socket
CLIENT_TYPES = ("message", "typing", "human", "csat")


def message_frame(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message.pk,
        "role": message.role,
        "text": message.text,
        "sources": [{"title": s.get("title", ""), "url": s.get("url", "")} for s in message.sources or []],
        "created_at": message.created_at.isoformat(),
    }


class WidgetConsumer(AsyncWebsocketConsumer):
    conversation_id: int
    group: str

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        token = (query.get("token") or [""])[0]
        if not token:
            await self.close(code=4401)
            return
        try:
            conversation = await database_sync_to_async(selectors.conversation_for_visitor_token)(token)
        except ApplicationError as exc:
            await self.close(code=4401 if exc.status_code == 401 else 4403)
            return
        self.conversation_id = conversation.pk
        self.client_ip = scope_client_ip(self.scope)
        self.sent_ids: set[int] = set()
        self.last_status: str | None = None
        self.last_typing = 0.0
        self.group = events.conversation_group(conversation.pk)
        # Join before reading the history, so nothing sent in between is lost (duplicates are filtered by id).
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        history, status = await database_sync_to_async(self._history)()
        for message in history:
            await self.send_message(message)
        await self.send_status(status, force=True)

    def _history(self) -> tuple[list[Message], str]:
        return selectors.messages_for_customer(self.conversation_id), selectors.conversation_status(
            self.conversation_id
        ) or Conversation.Status.CLOSED

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # ----------------------------------------------------------------------- client frames

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = parse_frame(text_data)
        except FrameError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        kind = frame["type"]
        if kind not in CLIENT_TYPES:
            await self.send_error(
                "unknown_type", f"Unknown frame type {kind[:40]!r}; use one of {', '.join(CLIENT_TYPES)}."
            )
            return
        if kind == "typing":
            await self.on_typing()
            return
        if kind == "message" and (not isinstance(frame.get("text"), str) or not frame["text"].strip()):
            await self.send_error("bad_frame", 'A message frame needs a non-empty "text".')
            return
        # Every frame that writes counts against the per-IP limit (SPEC §6: widget messages 20/minute).
        wait = await sync_to_async(ratelimit.acquire)(
            f"widget:{self.client_ip}", limit=settings.WIDGET_RATE_LIMIT, window=60.0
        )
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await self.send_error(
                "rate_limited", f"Too many messages; please wait {retry_after} s.", retry_after=retry_after
            )
            return
        try:
            if kind == "message":
                if self.last_status == Conversation.Status.OPEN:
                    # The bot answers in-process and may take a few seconds: say so to every open view.
                    await events.typing_send(conversation_id=self.conversation_id, role=Message.Role.BOT)
                # Off the shared ORM thread: the bot may wait seconds for a model, and other sockets must not.
                await database_sync_to_async(self._message, thread_sensitive=False)(frame["text"])
            elif kind == "human":
                await database_sync_to_async(self._human)()
            else:
                await database_sync_to_async(self._csat)(frame.get("rating"), frame.get("comment", ""))
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.detail)

    def _conversation(self) -> Conversation:
        return Conversation.objects.get(pk=self.conversation_id)

    def _message(self, text: str) -> None:
        services.customer_message_receive(conversation=self._conversation(), text=text)

    def _human(self) -> None:
        services.conversation_escalate(conversation=self._conversation(), reason="human_request")

    def _csat(self, rating: Any, comment: Any) -> None:
        services.csat_record(conversation=self._conversation(), rating=rating, comment=comment)

    async def on_typing(self) -> None:
        now = time.monotonic()
        if now - self.last_typing < TYPING_INTERVAL:
            return  # throttled quietly: typing is a hint, not a message
        self.last_typing = now
        await events.typing_send(conversation_id=self.conversation_id, role=Message.Role.CUSTOMER)

    # ----------------------------------------------------------------------- group events (docs/live-chat.md)

    async def message_new(self, event: dict[str, Any]) -> None:
        if event.get("role") == Message.Role.NOTE or event.get("message_id") in self.sent_ids:
            return
        message = await database_sync_to_async(selectors.message_for_customer)(event["message_id"])
        if message is not None and message.conversation_id == self.conversation_id:
            await self.send_message(message)

    async def conversation_updated(self, event: dict[str, Any]) -> None:
        await self.send_status(str(event.get("status")))

    async def typing(self, event: dict[str, Any]) -> None:
        role = event.get("role")
        if role and role != Message.Role.CUSTOMER:
            await self.send_json({"type": "typing", "role": role})

    async def ticket_created(self, event: dict[str, Any]) -> None:
        """Inbox-only event; tolerated if ever sent to a conversation group (tickets are not shown to customers)."""

    async def presence_changed(self, event: dict[str, Any]) -> None:
        """Inbox-only event; tolerated, never relayed."""

    # ----------------------------------------------------------------------- output

    async def send_message(self, message: Message) -> None:
        if message.pk in self.sent_ids:
            return
        if len(self.sent_ids) > 5000:
            self.sent_ids.clear()  # bounded; the widget de-duplicates by id as well
        self.sent_ids.add(message.pk)
        await self.send_json(message_frame(message))

    async def send_status(self, status: str, *, force: bool = False) -> None:
        if status not in Conversation.Status.values or (status == self.last_status and not force):
            return
        self.last_status = status
        await self.send_json({"type": "status", "status": status})

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def send_error(self, code: str, detail: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})
