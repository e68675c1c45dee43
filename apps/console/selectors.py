"""Console reads: the inbox, one conversation with its customer context, agents, snippets, presence."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from apps.console.models import Snippet
from apps.conversations.models import Channel, Conversation, Message
from apps.core.clients import redis_client
from apps.core.exceptions import NotFound
from apps.core.services import AGENT_GROUP, SUPERVISOR_GROUP
from apps.labels.selectors import (
    ConversationLabelRow,
    conversation_ids_with_label,
    labels_for_conversation,
    labels_for_conversations,
)

INBOX_LIMIT = 50
MESSAGES_LIMIT = 200
TABS = ("unassigned", "mine", "all")
# "" (the default) means every conversation that is not closed.
STATUSES = ("", "open", "escalated", "closed", "any")
PRESENCE_KEY = "supportdesk:console:presence"


@dataclass(frozen=True)
class InboxFilters:
    tab: str = "unassigned"
    channel: str = ""
    status: str = ""
    label: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> InboxFilters:
        """Unknown or malformed values fall back to the defaults (filters come from query strings and frames)."""

        def text(key: str) -> str:
            value = data.get(key, "")
            return value.strip()[:64] if isinstance(value, str) else ""

        tab = text("tab")
        channel = text("channel")
        status = text("status")
        return cls(
            tab=tab if tab in TABS else "unassigned",
            channel=channel if channel in Channel.values else "",
            status=status if status in STATUSES else "",
            label=text("label"),
        )

    def as_query(self) -> dict[str, str]:
        return {"tab": self.tab, "channel": self.channel, "status": self.status, "label": self.label}


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    labels: list[ConversationLabelRow] = field(default_factory=list)


def _inbox_queryset(*, user: Any, filters: InboxFilters) -> QuerySet[Conversation]:
    qs = Conversation.objects.all()
    if filters.tab == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif filters.tab == "mine":
        qs = qs.filter(assignee_id=user.pk)
    if filters.status == "":
        qs = qs.exclude(status=Conversation.Status.CLOSED)
    elif filters.status != "any":
        qs = qs.filter(status=filters.status)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.label:
        qs = qs.filter(pk__in=conversation_ids_with_label(filters.label))
    return qs


def inbox_for_agent(*, user: Any, filters: InboxFilters, limit: int = INBOX_LIMIT) -> list[InboxRow]:
    """The inbox of ``user`` under ``filters``: most recent activity first, with each conversation's labels."""
    conversations = list(
        _inbox_queryset(user=user, filters=filters)
        .select_related("contact", "assignee")
        .order_by("-last_message_at", "-created_at", "-id")[:limit]
    )
    labels = labels_for_conversations([c.pk for c in conversations])
    return [InboxRow(conversation=c, labels=labels.get(c.pk, [])) for c in conversations]


def inbox_matches(*, user: Any, filters: InboxFilters, conversation_id: int) -> bool:
    """Whether the conversation belongs in ``user``'s inbox under ``filters`` (the live updates' rule)."""
    return _inbox_queryset(user=user, filters=filters).filter(pk=conversation_id).exists()


def inbox_row(*, conversation_id: int) -> InboxRow | None:
    conversation = Conversation.objects.select_related("contact", "assignee").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    return InboxRow(conversation=conversation, labels=labels_for_conversation(conversation_id))


def conversation_for_agent(*, user: Any, conversation_id: int) -> Conversation:
    """A conversation the agent may see. Every agent sees every conversation of the team inbox (SPEC §6: the
    "all" tab); non-agents never reach this (views and the consumer check is_agent first).

    Raises NotFound when there is no such conversation.
    """
    conversation = Conversation.objects.select_related("contact", "assignee").filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


def conversation_messages(*, conversation: Conversation, limit: int = MESSAGES_LIMIT) -> list[Message]:
    """The last ``limit`` messages, oldest first, notes included (the console is for agents)."""
    latest = list(conversation.messages.select_related("author").order_by("-created_at", "-id")[:limit])
    return latest[::-1]


def message_for_console(*, message_id: int) -> Message | None:
    return Message.objects.select_related("author").filter(pk=message_id).first()


@dataclass(frozen=True)
class CustomerContext:
    contact: Any
    previous: list[Conversation]
    tickets: list[Any]
    labels: list[ConversationLabelRow]
    csat_average: float | None


def customer_context(*, conversation: Conversation) -> CustomerContext:
    """What the side panel shows: the contact, their other conversations and tickets, this conversation's labels
    (the copilot's analytics have their own section: copilot_analytics)."""
    from django.db.models import Avg

    from apps.tickets.selectors import tickets_list

    contact = conversation.contact
    previous: list[Conversation] = []
    csat_average = None
    if contact is not None:
        others = Conversation.objects.filter(contact_id=contact.pk).exclude(pk=conversation.pk)
        previous = list(others.order_by("-created_at")[:10])
        csat_average = Conversation.objects.filter(contact_id=contact.pk, csat_rating__isnull=False).aggregate(
            avg=Avg("csat_rating")
        )["avg"]
        tickets = list(tickets_list(contact_id=contact.pk, limit=10))
    else:
        tickets = list(tickets_list(conversation_id=conversation.pk, limit=10))
    return CustomerContext(
        contact=contact,
        previous=previous,
        tickets=tickets,
        labels=labels_for_conversation(conversation.pk),
        csat_average=csat_average,
    )


def ticket_for_console(*, ticket_id: int) -> Any:
    from apps.tickets.models import Ticket

    return Ticket.objects.select_related("conversation", "contact").filter(pk=ticket_id).first()


def agents_all() -> QuerySet[Any]:
    """Active agents and supervisors (transfer targets, presence names)."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=(AGENT_GROUP, SUPERVISOR_GROUP)))
        .distinct()
        .order_by("username")
    )


# --------------------------------------------------------------------------- snippets

SNIPPET_TOKEN_RE = re.compile(r"(?<!\S)/([a-z0-9][a-z0-9_-]{0,39})(?!\S)")


def snippets_active() -> list[Snippet]:
    return list(Snippet.objects.filter(active=True).order_by("shortcut"))


def snippets_expand(text: str) -> str:
    """Replace every ``/shortcut`` written as a word of its own by the active snippet's body; unknown shortcuts
    and slashes inside words (URLs, dates) are left alone. The reply box does the same as the agent types
    (static/console/console.js); this covers a message sent before the script expanded it."""
    shortcuts = set(SNIPPET_TOKEN_RE.findall(text))
    if not shortcuts:
        return text
    bodies = dict(Snippet.objects.filter(active=True, shortcut__in=shortcuts).values_list("shortcut", "body"))
    return SNIPPET_TOKEN_RE.sub(lambda m: bodies.get(m.group(1), m.group(0)), text)


# --------------------------------------------------------------------------- presence


def presence_members_live(now: float) -> list[str]:
    """The "<user id>:<socket id>" members that have not expired at ``now``."""
    members: list[Any] = redis_client().zrangebyscore(PRESENCE_KEY, now, "+inf")
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


def presence_online_user_ids() -> set[int]:
    """Agents with at least one console socket whose presence has not expired (apps.console.services)."""
    out = set()
    for member in presence_members_live(time.time()):
        user_id, _, _ = member.partition(":")
        if user_id.isdigit():
            out.add(int(user_id))
    return out


def presence_online_agents() -> list[Any]:
    ids = presence_online_user_ids()
    if not ids:
        return []
    return list(agents_all().filter(pk__in=ids))


# --------------------------------------------------------------------------- copilot (SPEC §7, docs/copilot.md)
# The suggestion and analytics are read through apps.copilot.selectors; this part only shapes them for the panel
# (apps/console/templates/console/partials/copilot*.html). What it shows is the same for every agent.

URGENT_RETENTION = "URGENT_RETENTION"
# The OutputSuggestion fields the panel shows besides the replies, in display order; each is `#copilot-<name>`.
COPILOT_FIELDS = (
    "priority",
    "confidence",
    "sentiment_trend",
    "signals_detected",
    "recommended_direction",
    "questions",
    "next_best_actions",
)
COPILOT_REPLY_SLOTS = 3  # types.MAX_REPLIES: the streaming panel has a container for each variant


@dataclass(frozen=True)
class CopilotField:
    name: str
    value: Any
    shown: bool  # False while the value is unknown (streaming) or empty: the container stays, hidden


def copilot_field(name: str, value: Any) -> CopilotField:
    shown = value is not None and value != "" and value != []
    if name == "confidence" and shown:
        try:
            value = max(0.0, min(1.0, float(value)))
        except (TypeError, ValueError):
            value, shown = None, False
    if isinstance(value, (list, tuple)):
        value = [str(v) for v in value]
    return CopilotField(name=name, value=value, shown=shown)


@dataclass(frozen=True)
class CopilotPanel:
    """What `#copilot-panel` shows. ``state``: "none" (no suggestion yet), "streaming" (started, not stored yet),
    "done" (replies), "silent" (below the thresholds: "No confident suggestion"), "unavailable"."""

    state: str
    suggestion_id: int | None = None
    replies: list[Any] = field(default_factory=list)  # types.Reply
    fields: list[CopilotField] = field(default_factory=list)
    ghost: bool = False  # the first variant may show as ghost text (the outcome is still pending)

    @property
    def reply_slots(self) -> range:
        return range(COPILOT_REPLY_SLOTS)


def copilot_panel_streaming(*, suggestion_id: int | None) -> CopilotPanel:
    return CopilotPanel(
        state="streaming",
        suggestion_id=suggestion_id,
        fields=[copilot_field(name, None) for name in COPILOT_FIELDS],
        ghost=True,
    )


def copilot_panel_from_suggestion(suggestion: Any) -> CopilotPanel:
    """The panel of a stored Suggestion row (apps.copilot.models.Suggestion). A row without ``total_ms`` is still
    being generated."""
    from apps.copilot.models import Suggestion
    from apps.copilot.types import OutputSuggestion

    if suggestion.total_ms is None:
        return copilot_panel_streaming(suggestion_id=suggestion.pk)
    output = OutputSuggestion.from_dict(suggestion.payload)
    silent = output.silent or not output.replies
    return CopilotPanel(
        state="silent" if silent else "done",
        suggestion_id=suggestion.pk,
        replies=[] if silent else output.replies[:COPILOT_REPLY_SLOTS],
        fields=[copilot_field(name, getattr(output, name)) for name in COPILOT_FIELDS],
        ghost=not silent and suggestion.outcome == Suggestion.Outcome.PENDING,
    )


def copilot_panel_latest(*, conversation_id: int) -> CopilotPanel:
    """The conversation's latest suggestion as a panel ("none" when it has none)."""
    from apps.copilot.selectors import suggestion_latest

    suggestion = suggestion_latest(conversation_id=conversation_id)
    return CopilotPanel(state="none") if suggestion is None else copilot_panel_from_suggestion(suggestion)


def copilot_panel_done(*, conversation_id: int, suggestion_id: int) -> CopilotPanel | None:
    """The panel for `suggestion.done`, or None when a newer suggestion has started since (its stream owns the
    panel now)."""
    from apps.copilot.selectors import suggestion_latest

    suggestion = suggestion_latest(conversation_id=conversation_id)
    if suggestion is None or suggestion.pk != suggestion_id:
        return None
    return copilot_panel_from_suggestion(suggestion)


@dataclass(frozen=True)
class CopilotAnalytics:
    analytics: Any  # apps.copilot.models.ConversationAnalytics | None
    urgent: bool  # the conversation is tagged URGENT_RETENTION


def copilot_analytics(*, conversation_id: int) -> CopilotAnalytics:
    from apps.copilot.selectors import analytics_for

    tags = Conversation.objects.filter(pk=conversation_id).values_list("tags", flat=True).first() or []
    return CopilotAnalytics(analytics=analytics_for(conversation_id=conversation_id), urgent=URGENT_RETENTION in tags)
