"""Console writes: an agent's reply or internal note, and presence (who has a console open).

Conversations and messages are written by apps.conversations.services (docs/live-chat.md); this module only
decides what the console asks of them.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from apps.console.selectors import PRESENCE_KEY, presence_members_live, snippets_expand
from apps.conversations.models import Conversation, Message
from apps.core.clients import redis_client
from apps.core.exceptions import ApplicationError


def console_reply(*, conversation: Conversation, agent: Any, text: str, note: bool = False) -> Message:
    """Post an agent's reply (sent to the customer) or an internal note (never sent to the customer).

    Snippet shortcuts (``/retour``) still in the text are expanded. message_post hands a replied conversation to
    its author when nobody has it (docs/live-chat.md); a note changes nothing.

    Raises ApplicationError for an empty text, a reply (not a note) to a closed conversation, or when the
    conversation services refuse (too long, ...).
    """
    from apps.conversations.services import message_post

    text = snippets_expand(text.strip())
    if not text:
        raise ApplicationError("Write something first.", code="empty")
    if not note and conversation.status == Conversation.Status.CLOSED:
        # The customer has the survey by now; a note for colleagues is still fine.
        raise ApplicationError(
            "This conversation is closed: add a note, or wait for the customer to write again.", code="closed"
        )
    role = Message.Role.NOTE if note else Message.Role.AGENT
    return message_post(conversation=conversation, role=role, text=text, author=agent)


# --------------------------------------------------------------------------- presence
# One sorted set: member "<user id>:<socket id>", score = the time it expires. A socket refreshes its member every
# CONSOLE_PRESENCE_TTL / 3 seconds; a crashed server's sockets simply expire.


def _member(user_id: int, socket_id: str) -> str:
    return f"{user_id}:{socket_id}"


def _live_sockets_of(user_id: int, now: float) -> list[str]:
    prefix = f"{user_id}:"
    return [m for m in presence_members_live(now) if m.startswith(prefix)]


def presence_connect(*, user_id: int, socket_id: str) -> bool:
    """Mark a console socket online. Returns True when the agent had no live socket before (came online)."""
    now = time.time()
    client = redis_client()
    client.zremrangebyscore(PRESENCE_KEY, "-inf", now)
    was_online = bool(_live_sockets_of(user_id, now))
    client.zadd(PRESENCE_KEY, {_member(user_id, socket_id): now + settings.CONSOLE_PRESENCE_TTL})
    return not was_online


def presence_refresh(*, user_id: int, socket_id: str) -> None:
    redis_client().zadd(PRESENCE_KEY, {_member(user_id, socket_id): time.time() + settings.CONSOLE_PRESENCE_TTL})


def presence_disconnect(*, user_id: int, socket_id: str) -> bool:
    """Forget a console socket. Returns True when it was the agent's last live socket (went offline)."""
    redis_client().zrem(PRESENCE_KEY, _member(user_id, socket_id))
    return not _live_sockets_of(user_id, time.time())
