"""The copilot's real-time events (docs/copilot.md). Like `apps.conversations.events`, the only module of this app that
sends to channel groups.

Suggestion events go to ``copilot.<conversation_id>``, a group only agents' console sockets join (after their
permission check), never the customer's widget: they carry generated suggestion text, never customer text.
Generation runs outside any transaction, so these are sent at once; `suggestion_done` and `analytics_updated` are
sent after the rows they announce are committed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

from apps.conversations.events import group_name, inbox_group

SUGGESTION_START = "suggestion.start"
SUGGESTION_CHUNK = "suggestion.chunk"
SUGGESTION_DONE = "suggestion.done"
SUGGESTION_UNAVAILABLE = "suggestion.unavailable"
ANALYTICS_UPDATED = "analytics.updated"
COPILOT_ALERT = "copilot.alert"


def copilot_group(conversation_id: int) -> str:
    return group_name("copilot", conversation_id)


class _SenderLoop:
    """One event loop on its own thread that sends every event of this process, in order.

    `async_to_sync` from a worker thread runs each call on a new event loop, and the Redis channel layer keeps its
    connections per loop: every chunk of a streamed suggestion then paid for a new loop and a new Redis connection
    (measured as the worker's largest cost with 20 concurrent suggestions, docs/benchmarks.md). Each call waits for
    its send, so one thread's events keep their order."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or self.pid != os.getpid() or not self.loop.is_running():
                loop = asyncio.new_event_loop()
                started = threading.Event()
                loop.call_soon(started.set)
                threading.Thread(target=loop.run_forever, name="copilot-events", daemon=True).start()
                started.wait(5)
                self.loop, self.pid = loop, os.getpid()
            return self.loop

    def send(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._running())
        future.result(timeout=SEND_TIMEOUT)


SEND_TIMEOUT = 10.0
_sender = _SenderLoop()


def _send_now(group: str, event_type: str, payload: dict[str, Any]) -> None:
    _sender.send(group, {"type": event_type, **payload})


def _send_on_commit(group: str, event_type: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send_now(group, event_type, payload))


def suggestion_start(*, conversation_id: int, suggestion_id: int, trigger_message_id: int | None) -> None:
    """A suggestion for ``trigger_message_id`` begins: the panel is reset (it replaces any earlier one)."""
    _send_now(
        copilot_group(conversation_id),
        SUGGESTION_START,
        {"conversation_id": conversation_id, "suggestion_id": suggestion_id, "trigger_message_id": trigger_message_id},
    )


def suggestion_chunk(
    *, conversation_id: int, suggestion_id: int, field: str, text: str = "", value: Any = None, index: int | None = None
) -> None:
    """``field == "reply"``: ``text`` is appended to reply ``index``. Otherwise the whole ``value`` of ``field``
    (an OutputSuggestion field name, or "citations" with ``index``). Values are JSON-serialisable."""
    payload: dict[str, Any] = {"conversation_id": conversation_id, "suggestion_id": suggestion_id, "field": field}
    if field == "reply":
        payload |= {"index": index, "text": text}
    else:
        payload |= {"index": index, "value": value}
    _send_now(copilot_group(conversation_id), SUGGESTION_CHUNK, payload)


def suggestion_done(*, conversation_id: int, suggestion_id: int) -> None:
    """The stored Suggestion row is final: consoles render the whole panel from it (authoritative)."""
    _send_on_commit(
        copilot_group(conversation_id),
        SUGGESTION_DONE,
        {"conversation_id": conversation_id, "suggestion_id": suggestion_id},
    )


def suggestion_unavailable(*, conversation_id: int, reason: str) -> None:
    """The copilot could not answer (LLM error, timeout, circuit open): ``reason`` is a short code, never text."""
    _send_now(
        copilot_group(conversation_id), SUGGESTION_UNAVAILABLE, {"conversation_id": conversation_id, "reason": reason}
    )


def analytics_updated(*, conversation_id: int) -> None:
    _send_on_commit(copilot_group(conversation_id), ANALYTICS_UPDATED, {"conversation_id": conversation_id})


def copilot_alert(*, conversation_id: int, kind: str, churn_risk: int) -> None:
    """An alert for every console (``kind`` "urgent_retention"): ids and numbers only."""
    _send_on_commit(
        inbox_group(), COPILOT_ALERT, {"conversation_id": conversation_id, "kind": kind, "churn_risk": churn_risk}
    )
