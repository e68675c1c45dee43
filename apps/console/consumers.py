"""The agents' console socket (/ws/console/).

Thin: authenticate, keep what this page shows (inbox filters and rows, the open conversation), turn the contract's
events (docs/live-chat.md) into HTML fragments with hx-swap-oob, rendered from templates. Events carry ids only;
what is shown is loaded here. JSON frames (hello, ack, pong, error) are for the page's script and for tests.

Client frames: {"type": "ping"}; {"type": "inbox", "tab", "channel", "status", "label", "rows": "1,2,3"} (what
the inbox list shows); {"type": "open", "conversation_id": N | null}; {"type": "typing"} (the agent types in the
open conversation).

The copilot (SPEC §7, docs/copilot.md): opening a conversation also joins its copilot group and registers the socket
as a viewer (a suggestion is only generated while someone looks); suggestion.* and analytics.updated events of the
open conversation become the side panel's fragments, copilot.alert a notification.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from apps.console import selectors, services
from apps.console.selectors import COPILOT_FIELDS, COPILOT_REPLY_SLOTS, InboxFilters
from apps.conversations.events import conversation_group, inbox_group, presence_send, typing_send
from apps.copilot import events as copilot_events
from apps.copilot.events import copilot_group
from apps.core.exceptions import ApplicationError
from apps.core.frames import FrameError, parse_frame
from apps.core.permissions import is_agent

logger = logging.getLogger(__name__)

MAX_ROWS_TRACKED = 500
SEEN_MESSAGES = 1_000
TYPING_EVERY = 2.0  # seconds between two typing events this socket relays
# Group event types handled below (docs/live-chat.md); `inbox.event` is the generic JSON relay.
GROUP_EVENTS = frozenset(
    {
        "message.new",
        "conversation.updated",
        "ticket.created",
        "presence.changed",
        "typing",
        "inbox.event",
        # the copilot's (apps/copilot/events.py)
        copilot_events.SUGGESTION_START,
        copilot_events.SUGGESTION_CHUNK,
        copilot_events.SUGGESTION_DONE,
        copilot_events.SUGGESTION_UNAVAILABLE,
        copilot_events.ANALYTICS_UPDATED,
        copilot_events.COPILOT_ALERT,
    }
)


class _FanoutMemo:
    """One daphne process holds many console sockets, and a group event reaches each of them. What their fragments
    show is the same for all (the row, the message, whether a list with given filters holds the conversation), so
    it is read once per event and process, not once per socket (docs/benchmarks.md, live chat). Entries live a
    couple of seconds: long enough for one fan-out, too short to show stale data for the next event. The renders
    run on Channels' single database thread; the lock only guards against other callers."""

    def __init__(self, ttl: float = 2.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self.entries: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Any) -> Any:
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = compute()
        with self.lock:
            self.entries[key] = (now, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_memo = _FanoutMemo()


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one event's fan-out (its type and ids; events carry no text)."""
    return tuple(sorted((k, v) for k, v in event.items() if isinstance(v, (int, str, type(None)))))


def _full_event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    """The whole event, values included (a suggestion chunk's field value may be a list)."""
    return ("event", json.dumps(event, sort_keys=True, default=str))


class ConsoleConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []

    # ------------------------------------------------------------------ connection

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await database_sync_to_async(is_agent)(user):
            # 4403: application-defined "forbidden"; the socket is refused before accept.
            await self.close(code=4403)
            return
        self.user = user
        self.inbox = inbox_group()
        self.filters = InboxFilters()
        self.inbox_ids: set[int] = set()
        self.conversation_id: int | None = None
        self.seen_messages: OrderedDict[int, None] = OrderedDict()
        self.last_event: dict[str, Any] | None = None
        self.notified_escalations: set[int] = set()
        self.last_typing = 0.0
        await self.channel_layer.group_add(self.inbox, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.get_username()})
        came_online = await database_sync_to_async(services.presence_connect)(
            user_id=user.pk, socket_id=self.channel_name
        )
        if came_online:
            await presence_send(user_id=user.pk, online=True)
        self.heartbeat = asyncio.create_task(self._presence_heartbeat())

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "inbox"):
            return
        self.heartbeat.cancel()
        await self.channel_layer.group_discard(self.inbox, self.channel_name)
        await self._leave_conversation()
        went_offline = await database_sync_to_async(services.presence_disconnect)(
            user_id=self.user.pk, socket_id=self.channel_name
        )
        if went_offline:
            await presence_send(user_id=self.user.pk, online=False)

    async def _presence_heartbeat(self) -> None:
        """Refresh this socket's presence; a user who is no longer an agent is disconnected (4403)."""
        every = max(settings.CONSOLE_PRESENCE_TTL / 3, 1)
        while True:
            await asyncio.sleep(every)
            try:
                if not await database_sync_to_async(is_agent)(self.user):
                    await self.close(code=4403)
                    return
                await database_sync_to_async(services.presence_refresh)(
                    user_id=self.user.pk, socket_id=self.channel_name
                )
                if self.conversation_id is not None:
                    await database_sync_to_async(_copilot_viewer)("refresh", self.conversation_id, self.channel_name)
            except Exception:  # a database or Redis hiccup: the next beat retries; the socket itself is fine.
                logger.warning("console presence refresh failed", extra={"user_id": self.user.pk})

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Group events this console has no use for (another part's, a newer core's) are ignored instead of
        closing the socket, which is what Channels does with a message type that has no handler."""
        event_type = str(message.get("type", ""))
        if not event_type.startswith("websocket.") and event_type not in GROUP_EVENTS:
            logger.debug("console ignores event", extra={"event_type": event_type[:40]})
            return
        await super().dispatch(message)

    # ------------------------------------------------------------------ client frames

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = parse_frame(text_data)
        except FrameError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        kind = frame["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "inbox":
            await self.receive_inbox(frame)
        elif kind == "open":
            await self.receive_open(frame)
        elif kind == "typing":
            await self.receive_typing()
        else:
            await self.send_error("unknown_type", f"Unknown frame type {kind[:40]!r}.")

    async def receive_inbox(self, frame: dict[str, Any]) -> None:
        self.filters = InboxFilters.from_mapping(frame)
        rows = frame.get("rows", "")
        ids = rows.split(",") if isinstance(rows, str) else rows if isinstance(rows, list) else []
        self.inbox_ids = {int(i) for i in ids[:MAX_ROWS_TRACKED] if str(i).strip().isdigit()}
        await self.send_json({"type": "ack", "of": "inbox", "filters": self.filters.as_query()})

    async def receive_open(self, frame: dict[str, Any]) -> None:
        raw = frame.get("conversation_id")
        if raw is None:
            await self._leave_conversation()
            await self.send_json({"type": "ack", "of": "open", "conversation_id": None})
            return
        if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())):
            await self.send_error("bad_frame", '"conversation_id" is a conversation id or null.')
            return
        conversation_id = int(raw)
        try:
            await database_sync_to_async(self._check_open)(conversation_id)
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.detail)
            return
        if conversation_id != self.conversation_id:
            await self._leave_conversation()
            await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)
            await self.channel_layer.group_add(copilot_group(conversation_id), self.channel_name)
            self.conversation_id = conversation_id
            await self._copilot_viewer("add", conversation_id)
        await self.send_json({"type": "ack", "of": "open", "conversation_id": conversation_id})

    def _check_open(self, conversation_id: int) -> None:
        """Still an agent (roles can change while a socket is open), and a conversation the agent may see."""
        from apps.core.exceptions import PermissionDenied

        if not is_agent(self.user):
            raise PermissionDenied("The console is for agents and supervisors.")
        selectors.conversation_for_agent(user=self.user, conversation_id=conversation_id)

    async def _leave_conversation(self) -> None:
        if self.conversation_id is not None:
            conversation_id, self.conversation_id = self.conversation_id, None
            await self.channel_layer.group_discard(conversation_group(conversation_id), self.channel_name)
            await self.channel_layer.group_discard(copilot_group(conversation_id), self.channel_name)
            await self._copilot_viewer("remove", conversation_id)

    async def _copilot_viewer(self, action: str, conversation_id: int) -> None:
        """Register, or forget, this socket as a viewer of the conversation's copilot. A failure (Redis) costs the
        suggestions, not the conversation: it is logged and the socket goes on."""
        try:
            await database_sync_to_async(_copilot_viewer)(action, conversation_id, self.channel_name)
        except Exception:
            logger.warning("copilot viewer %s failed", action, extra={"conversation_id": conversation_id})

    async def receive_typing(self) -> None:
        if self.conversation_id is None:
            await self.send_error("no_conversation", "Open a conversation first.")
            return
        now = time.monotonic()
        if now - self.last_typing >= TYPING_EVERY:
            self.last_typing = now
            await typing_send(conversation_id=self.conversation_id, role="agent")

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def send_html(self, html: str) -> None:
        html = html.strip()
        if html:
            await self.send(text_data=html)

    # ------------------------------------------------------------------ group events (docs/live-chat.md)

    def _duplicate(self, event: dict[str, Any]) -> bool:
        """Events for the open conversation come twice (its group and the inbox group), one after the other."""
        duplicate = event == self.last_event
        self.last_event = dict(event)
        return duplicate

    async def message_new(self, event: dict[str, Any]) -> None:
        message_id = event.get("message_id")
        if not isinstance(message_id, int) or message_id in self.seen_messages:
            return
        self.seen_messages[message_id] = None
        while len(self.seen_messages) > SEEN_MESSAGES:
            self.seen_messages.popitem(last=False)
        self.last_event = dict(event)
        await self.send_html(await database_sync_to_async(self._render_message_new)(event))

    async def conversation_updated(self, event: dict[str, Any]) -> None:
        if self._duplicate(event):
            return
        await self.send_html(await database_sync_to_async(self._render_conversation_updated)(event))

    async def ticket_created(self, event: dict[str, Any]) -> None:
        if self._duplicate(event):
            return
        await self.send_html(await database_sync_to_async(self._render_ticket_created)(event))

    async def presence_changed(self, event: dict[str, Any]) -> None:
        if event.get("user_id") == self.user.pk:
            return  # this agent is shown online on their own page from the start
        await self.send_html(await database_sync_to_async(self._render_presence)(event))

    async def typing(self, event: dict[str, Any]) -> None:
        if event.get("role") != "customer" or event.get("conversation_id") != self.conversation_id:
            return
        await self.send_html(render_to_string("console/ws/typing.html", {"conversation_id": self.conversation_id}))

    async def inbox_event(self, event: dict[str, Any]) -> None:
        """Group events of type `inbox.event` are forwarded to the browser as JSON, as they are."""
        await self.send_json({k: v for k, v in event.items() if k != "type"} | {"type": event.get("event", "inbox")})

    # ------------------------------------------------------------------ copilot events (docs/copilot.md)
    # The panel of a suggestion is the same for every agent: each fragment is rendered once per event and process
    # (_memo), whichever socket comes first. Only sockets that have the conversation open receive these events
    # (copilot.<id> group), and an event for a conversation the socket has since left is dropped.

    def _is_open(self, event: dict[str, Any]) -> bool:
        return self.conversation_id is not None and event.get("conversation_id") == self.conversation_id

    async def suggestion_start(self, event: dict[str, Any]) -> None:
        if self._is_open(event):
            await self.send_html(_memo.get(_full_event_key(event), lambda: _render_suggestion_start(event)))

    async def suggestion_chunk(self, event: dict[str, Any]) -> None:
        if self._is_open(event):
            await self.send_html(_memo.get(_full_event_key(event), lambda: _render_suggestion_chunk(event)))

    async def suggestion_done(self, event: dict[str, Any]) -> None:
        if self._is_open(event):
            key = _full_event_key(event)
            await self.send_html(await database_sync_to_async(_memo.get)(key, lambda: _render_suggestion_done(event)))

    async def suggestion_unavailable(self, event: dict[str, Any]) -> None:
        if self._is_open(event):
            await self.send_html(_memo.get(("copilot-unavailable",), _render_suggestion_unavailable))

    async def analytics_updated(self, event: dict[str, Any]) -> None:
        if self._is_open(event):
            key = _full_event_key(event)
            await self.send_html(await database_sync_to_async(_memo.get)(key, lambda: _render_analytics(event)))

    async def copilot_alert(self, event: dict[str, Any]) -> None:
        await self.send_html(_memo.get(_full_event_key(event), lambda: _render_copilot_alert(event)))

    # ------------------------------------------------------------------ rendering (worker thread)

    def _render_row(self, conversation_id: int, *, event_key: tuple[Any, ...], bump: bool, unread: bool = False) -> str:
        """The inbox row as this socket's list needs it: inserted at the top (bump: new activity), replaced in
        place, or removed when the conversation left the list's filters. The reads are shared by every socket of
        this process handling the same event (``event_key``)."""
        present = conversation_id in self.inbox_ids
        # Only the "mine" tab depends on who is asking.
        whose = self.user.pk if self.filters.tab == "mine" else None
        matches = _memo.get(
            ("match", self.filters, whose, conversation_id, event_key),
            lambda: selectors.inbox_matches(user=self.user, filters=self.filters, conversation_id=conversation_id),
        )
        if not matches:
            if not present:
                return ""
            self.inbox_ids.discard(conversation_id)
            return render_to_string("console/ws/inbox_row.html", {"mode": "remove", "conversation_id": conversation_id})
        row = _memo.get(
            ("row", conversation_id, event_key), lambda: selectors.inbox_row(conversation_id=conversation_id)
        )
        if row is None:
            return ""
        mode = "insert" if bump or not present else "replace"
        if len(self.inbox_ids) < MAX_ROWS_TRACKED:
            self.inbox_ids.add(conversation_id)
        context = {"mode": mode, "present": present, "row": row, "conversation_id": conversation_id, "unread": unread}
        # The fragment depends on nothing but that context: rendered once per event and variant, not per socket.
        return str(
            _memo.get(
                ("row-html", conversation_id, event_key, mode, present, unread),
                lambda: render_to_string("console/ws/inbox_row.html", context),
            )
        )

    def _render_message_new(self, event: dict[str, Any]) -> str:
        conversation_id = event.get("conversation_id")
        if not isinstance(conversation_id, int):
            return ""
        # A customer's message in a conversation this page does not show is marked unread until opened.
        unread = event.get("role") == "customer" and conversation_id != self.conversation_id
        key = _event_key(event)
        parts = [self._render_row(conversation_id, bump=True, unread=unread, event_key=key)]
        if conversation_id == self.conversation_id:
            message_id = event["message_id"]
            message = _memo.get(("message", message_id), lambda: selectors.message_for_console(message_id=message_id))
            if message is not None and message.conversation_id == conversation_id:
                parts.append(render_to_string("console/ws/message.html", {"message": message}))
        return "".join(parts)

    def _render_conversation_updated(self, event: dict[str, Any]) -> str:
        conversation_id = event.get("conversation_id")
        if not isinstance(conversation_id, int):
            return ""
        parts = [self._render_row(conversation_id, bump=False, event_key=_event_key(event))]
        status, assignee_id = event.get("status"), event.get("assignee_id")
        conversation = None
        if conversation_id == self.conversation_id:
            try:
                conversation = selectors.conversation_for_agent(user=self.user, conversation_id=conversation_id)
            except ApplicationError:  # deleted meanwhile: nothing to redraw
                return "".join(parts)
            context = {
                "conversation": conversation,
                "agents": [a for a in selectors.agents_all() if a.pk != conversation.assignee_id],
                "user": self.user,
            }
            parts.append(render_to_string("console/ws/conversation_header.html", context))
        if status == "escalated" and assignee_id is None:
            if conversation_id not in self.notified_escalations:
                self.notified_escalations.add(conversation_id)
                if conversation is None:
                    row = selectors.inbox_row(conversation_id=conversation_id)
                    conversation = row.conversation if row is not None else None
                if conversation is not None:
                    context = {"kind": "escalated", "conversation": conversation, "ticket": None}
                    parts.append(render_to_string("console/ws/toast.html", context))
        else:
            self.notified_escalations.discard(conversation_id)
        return "".join(parts)

    def _render_ticket_created(self, event: dict[str, Any]) -> str:
        ticket_id = event.get("ticket_id")
        if not isinstance(ticket_id, int):
            return ""
        ticket = selectors.ticket_for_console(ticket_id=ticket_id)
        if ticket is None:
            return ""
        parts = []
        conversation = ticket.conversation
        if conversation is not None:
            parts.append(self._render_row(conversation.pk, bump=False, event_key=_event_key(event)))
            if conversation.pk == self.conversation_id:
                context = {
                    "conversation": conversation,
                    "customer": selectors.customer_context(conversation=conversation),
                }
                parts.append(render_to_string("console/ws/customer_panel.html", context))
        # One notification per escalation, whichever of conversation.updated and ticket.created comes first.
        kind = "ticket"
        if conversation is not None and conversation.status == "escalated" and conversation.assignee_id is None:
            kind = "escalated"
            self.notified_escalations.add(conversation.pk)
        context = {"kind": kind, "ticket": ticket, "conversation": conversation}
        parts.append(render_to_string("console/ws/toast.html", context))
        return "".join(parts)

    def _render_presence(self, event: dict[str, Any]) -> str:
        # One read per presence change for the whole process: each agent coming online reaches every console.
        online = _memo.get(("presence", _event_key(event)), selectors.presence_online_agents)
        return render_to_string("console/ws/presence.html", {"online_agents": online})


# ---------------------------------------------------------------------- copilot: viewers and fragments


def _copilot_viewer(action: str, conversation_id: int, socket_id: str) -> None:
    from apps.copilot import services as copilot_services

    operation = {
        "add": copilot_services.copilot_viewer_add,
        "refresh": copilot_services.copilot_viewer_refresh,
        "remove": copilot_services.copilot_viewer_remove,
    }[action]
    operation(conversation_id=conversation_id, socket_id=socket_id)


def _suggestion_id(event: dict[str, Any]) -> int | None:
    value = event.get("suggestion_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _render_suggestion_start(event: dict[str, Any]) -> str:
    panel = selectors.copilot_panel_streaming(suggestion_id=_suggestion_id(event))
    return render_to_string("console/ws/suggestion_panel.html", {"panel": panel})


def _render_suggestion_chunk(event: dict[str, Any]) -> str:
    """A reply's text is appended to its variant's container; citations and the other fields replace theirs.
    Anything else (an unknown field, an index out of range) is dropped: suggestion.done redraws the whole panel."""
    name, index = event.get("field"), event.get("index")
    valid_index = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < COPILOT_REPLY_SLOTS
    context: dict[str, Any]
    if name == "reply":
        text = event.get("text")
        if not valid_index or not isinstance(text, str) or not text:
            return ""
        context = {"kind": "reply", "index": index, "text": text}
    elif name == "citations":
        value = event.get("value")
        if not valid_index or not isinstance(value, list):
            return ""
        citations = [c for c in value if isinstance(c, dict)]
        context = {"kind": "citations", "index": index, "citations": citations}
    elif name in COPILOT_FIELDS:
        context = {"kind": "field", "f": selectors.copilot_field(str(name), event.get("value"))}
    else:
        return ""
    return render_to_string("console/ws/suggestion_chunk.html", context)


def _render_suggestion_done(event: dict[str, Any]) -> str:
    conversation_id, suggestion_id = event.get("conversation_id"), _suggestion_id(event)
    if not isinstance(conversation_id, int) or suggestion_id is None:
        return ""
    panel = selectors.copilot_panel_done(conversation_id=conversation_id, suggestion_id=suggestion_id)
    if panel is None:  # a newer suggestion is streaming: leave the panel to it
        return ""
    return render_to_string("console/ws/suggestion_panel.html", {"panel": panel})


def _render_suggestion_unavailable() -> str:
    panel = selectors.CopilotPanel(state="unavailable")
    return render_to_string("console/ws/suggestion_panel.html", {"panel": panel})


def _render_analytics(event: dict[str, Any]) -> str:
    conversation_id = event.get("conversation_id")
    if not isinstance(conversation_id, int):
        return ""
    context = {"copilot_analytics": selectors.copilot_analytics(conversation_id=conversation_id)}
    return render_to_string("console/ws/analytics.html", context)


def _render_copilot_alert(event: dict[str, Any]) -> str:
    conversation_id, churn_risk = event.get("conversation_id"), event.get("churn_risk")
    if event.get("kind") != "urgent_retention" or not isinstance(conversation_id, int):
        return ""
    context = {
        "kind": "urgent_retention",
        "conversation_id": conversation_id,
        "churn_risk": churn_risk if isinstance(churn_risk, int) else "?",
    }
    return render_to_string("console/ws/copilot_alert.html", context)
