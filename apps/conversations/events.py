"""The only module that sends to channel groups (CONVENTIONS, Zulip). Events are sent after commit.

Events carry ids, never text (docs/live-chat.md): each consumer loads what it shows, with its own permissions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

if TYPE_CHECKING:
    from apps.conversations.models import Conversation, Message
    from apps.tickets.models import Ticket

_GROUP_RE = re.compile(r"[^A-Za-z0-9._-]")

MESSAGE_NEW = "message.new"
CONVERSATION_UPDATED = "conversation.updated"
TYPING = "typing"
TICKET_CREATED = "ticket.created"
PRESENCE_CHANGED = "presence.changed"


def group_name(kind: str, key: object) -> str:
    """`conversation.<id>`, `inbox.<team>`: only [A-Za-z0-9._-], under 100 characters (Channels' rule)."""
    return _GROUP_RE.sub("-", f"{kind}.{key}")[:99]


def inbox_group(team: str = "default") -> str:
    return group_name("inbox", team)


def conversation_group(conversation_id: int) -> str:
    return group_name("conversation", conversation_id)


def send_event(group: str, event_type: str, payload: dict[str, Any]) -> None:
    """Send ``{"type": event_type, **payload}`` to ``group`` once the current transaction commits."""

    def _send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, {"type": event_type, **payload})

    transaction.on_commit(_send)


def message_new(message: Message) -> None:
    payload = {"conversation_id": message.conversation_id, "message_id": message.pk, "role": message.role}
    send_event(conversation_group(message.conversation_id), MESSAGE_NEW, payload)
    send_event(inbox_group(), MESSAGE_NEW, payload)


def conversation_updated(conversation: Conversation) -> None:
    payload = {
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
    }
    send_event(conversation_group(conversation.pk), CONVERSATION_UPDATED, payload)
    send_event(inbox_group(), CONVERSATION_UPDATED, payload)


def ticket_created(ticket: Ticket) -> None:
    send_event(inbox_group(), TICKET_CREATED, {"ticket_id": ticket.pk, "conversation_id": ticket.conversation_id})


async def typing_send(*, conversation_id: int, role: str) -> None:
    """Typing is not stored, so there is no transaction to wait for: sent at once (from consumers)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            conversation_group(conversation_id), {"type": TYPING, "conversation_id": conversation_id, "role": role}
        )


async def presence_send(*, user_id: int, online: bool) -> None:
    """An agent's console came online or went away (sent at once, from the console consumer)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(inbox_group(), {"type": PRESENCE_CHANGED, "user_id": user_id, "online": online})
