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
    analytics: Any
    csat_average: float | None


def customer_context(*, conversation: Conversation) -> CustomerContext:
    """What the side panel shows: the contact, their other conversations and tickets, this conversation's labels
    and the copilot's analytics (sentiment, churn risk) when there are some."""
    from django.db.models import Avg

    from apps.copilot.models import ConversationAnalytics
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
    analytics = ConversationAnalytics.objects.filter(conversation_id=conversation.pk).first()
    return CustomerContext(
        contact=contact,
        previous=previous,
        tickets=tickets,
        labels=labels_for_conversation(conversation.pk),
        analytics=analytics,
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
