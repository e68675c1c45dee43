"""Conversation writes: the widget session, messages, the bot's first line, assignment, escalation, close, CSAT.

The contract with the other parts of the live chat is docs/live-chat.md. Every write sends its real-time events
through apps.conversations.events, after commit. Logs carry ids only, never message text or contact details.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.bot.services import BotReply, bot_respond
from apps.conversations import events
from apps.conversations.models import Channel, Contact, Conversation, Message
from apps.conversations.tokens import context_token_read, visitor_nonce_new, visitor_token_make
from apps.conversations.validators import contact_details_clean
from apps.core.exceptions import ApplicationError
from apps.core.permissions import is_agent

if TYPE_CHECKING:
    from apps.tickets.models import Ticket

logger = logging.getLogger(__name__)

# Postgres refuses NUL in text; other control characters (but tab and newline) have no business in a chat.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
STAFF_TEXT_MAX = 20_000
CSAT_COMMENT_MAX = 2_000
SOURCES_MAX = 10

# Escalation reason -> (ticket category slug, priority) when the bot gives none.
ESCALATION_DEFAULTS: dict[str, tuple[str, str]] = {
    "human_request": ("assistance", "MEDIUM"),
    "cancellation": ("cancellation", "HIGH"),
    "refund": ("billing", "HIGH"),
    "dispute": ("billing", "HIGH"),
    "complaint": ("complaint", "HIGH"),
    "negative_sentiment": ("complaint", "HIGH"),
    "bot_failures": ("assistance", "MEDIUM"),
}
_PRIORITY_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "URGENT": 3}

# What the customer reads from the system, in the conversation's language (the bot's, else LANGUAGE_CODE).
_CUSTOMER_TEXTS: dict[str, dict[str, str]] = {
    "ticket_received": {
        "fr": "Nous avons bien reçu votre demande (ticket #{id}). Vous pouvez continuer à écrire ici.",
        "en": "We have received your request (ticket #{id}). You can keep writing here.",
    },
    "escalated": {
        "fr": "Un conseiller va vous répondre ici dès que possible (ticket #{id}).",
        "en": "A member of our team will answer you here as soon as possible (ticket #{id}).",
    },
}


def _customer_text(key: str, conversation: Conversation, **values: Any) -> str:
    lang = str((conversation.metadata or {}).get("language") or settings.LANGUAGE_CODE)[:2]
    texts = _CUSTOMER_TEXTS[key]
    return texts.get(lang, texts["en"]).format(**values)


class ConversationClosed(ApplicationError):
    status_code = 409
    code = "conversation_closed"


# --------------------------------------------------------------------------- helpers


def _text_clean(text: Any, *, limit: int) -> str:
    if not isinstance(text, str):
        raise ApplicationError("A message is text.", code="text")
    text = _CONTROL.sub("", text).strip()
    if not text:
        raise ApplicationError("A message cannot be empty.", code="empty")
    if len(text) > limit:
        raise ApplicationError(f"A message has at most {limit} characters.", code="too_long")
    return text


def _sources_clean(sources: Any) -> list[dict[str, str]]:
    """Keep ``[{"title", "url"}]`` with http(s) or site-relative URLs only (a javascript: link never reaches a page)."""
    cleaned: list[dict[str, str]] = []
    for source in sources or []:
        if not isinstance(source, dict):
            continue
        title = str(source.get("title") or "").strip()[:300]
        url = str(source.get("url") or "").strip()[:2000]
        if url and not (url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//"))):
            url = ""
        if title or url:
            cleaned.append({"title": title or url, "url": url})
    return cleaned[:SOURCES_MAX]


def _locked(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def _sync(target: Conversation, source: Conversation, fields: list[str]) -> None:
    """Keep the caller's instance in step with the row just written."""
    for name in fields:
        setattr(target, name, getattr(source, name))


def _message_create(
    *,
    conversation: Conversation,
    role: str,
    text: str,
    author: Any = None,
    sources: list[dict[str, str]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Message:
    """Inside a transaction: store, stamp the conversation, send ``message.new`` after commit."""
    message = Message.objects.create(
        conversation=conversation, role=role, text=text, author=author, sources=sources or [], metadata=metadata or {}
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=message.created_at, updated_at=timezone.now()
    )
    conversation.last_message_at = message.created_at
    events.message_new(message)
    return message


# --------------------------------------------------------------------------- widget session


def widget_session_create(
    *, name: str = "", phone: str = "", email: str = "", context_token: str | None = None
) -> tuple[str, Conversation]:
    """Create a widget conversation (and its contact) and return ``(visitor token, conversation)``.

    With a context token from the /contact/ form, the visitor continues that form's ticket: the ticket's contact
    (completed with any details given here) and, when the ticket already has an unclosed widget conversation,
    that conversation (a new token for it). Raises ApplicationError (code ``invalid_contact``, the fields'
    errors in ``extra["fields"]``) for bad details, or code ``invalid_context`` for a bad context token.
    """
    from apps.tickets.models import Ticket
    from apps.tickets.services import ticket_conversation_link

    details = contact_details_clean(name=name, phone=phone, email=email)
    ticket: Ticket | None = None
    if context_token:
        ticket_id = context_token_read(context_token)
        ticket = Ticket.objects.select_related("contact", "conversation").filter(pk=ticket_id).first()
        if ticket is None:
            raise ApplicationError("This context token is not valid or has expired.", code="invalid_context")
        existing = ticket.conversation
        if (
            existing is not None
            and existing.channel == Channel.WIDGET
            and existing.status != Conversation.Status.CLOSED
            and existing.metadata.get("visitor_nonce")
        ):
            return visitor_token_make(conversation_id=existing.pk, nonce=existing.metadata["visitor_nonce"]), existing

    nonce = visitor_nonce_new()
    with transaction.atomic():
        contact = ticket.contact if ticket is not None else None
        if contact is None:
            contact = Contact.objects.create(channel=Channel.WIDGET, **details)
        else:
            missing = [f for f, value in details.items() if value and not getattr(contact, f)]
            for f in missing:
                setattr(contact, f, details[f])
            if missing:
                contact.save(update_fields=[*missing, "updated_at"])
        metadata: dict[str, Any] = {"visitor_nonce": nonce}
        if ticket is not None:
            metadata["ticket_id"] = ticket.pk
        conversation = Conversation.objects.create(
            contact=contact,
            channel=Channel.WIDGET,
            subject=ticket.subject if ticket is not None else "",
            metadata=metadata,
        )
        if ticket is not None:
            ticket_conversation_link(ticket=ticket, conversation=conversation)
            if ticket.description:
                _message_create(conversation=conversation, role=Message.Role.CUSTOMER, text=ticket.description)
            _message_create(
                conversation=conversation,
                role=Message.Role.SYSTEM,
                text=_customer_text("ticket_received", conversation, id=ticket.pk),
            )
    logger.info(
        "widget session created",
        extra={"conversation_id": conversation.pk, "ticket_id": ticket.pk if ticket is not None else None},
    )
    return visitor_token_make(conversation_id=conversation.pk, nonce=nonce), conversation


# --------------------------------------------------------------------------- messages


def message_post(
    *,
    conversation: Conversation,
    role: str,
    text: str,
    author: Any = None,
    sources: list[dict[str, str]] | None = None,
) -> Message:
    """Store any message and send ``message.new``.

    An agent's message hands the conversation to humans: an ``open`` conversation becomes ``escalated`` (the bot
    falls silent), an unassigned one is assigned to its author, and the SLA's first contact of its open tickets is
    recorded. Raises ApplicationError for an unknown role, an empty or too long text.
    """
    if role not in Message.Role.values:
        raise ApplicationError(f"Unknown message role {role!r}.", code="role")
    limit = settings.WIDGET_MESSAGE_MAX_CHARS if role == Message.Role.CUSTOMER else STAFF_TEXT_MAX
    text = _text_clean(text, limit=limit)
    with transaction.atomic():
        if role != Message.Role.AGENT:
            return _message_create(
                conversation=conversation, role=role, text=text, author=author, sources=_sources_clean(sources)
            )
        from apps.tickets.services import tickets_for_conversation_first_contact

        locked = _locked(conversation)
        message = _message_create(
            conversation=locked, role=role, text=text, author=author, sources=_sources_clean(sources)
        )
        changed = []
        if locked.status == Conversation.Status.OPEN:
            locked.status = Conversation.Status.ESCALATED
            changed.append("status")
        if locked.assignee_id is None and author is not None and is_agent(author):
            locked.assignee = author
            changed.append("assignee")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            events.conversation_updated(locked)
        tickets_for_conversation_first_contact(conversation_id=locked.pk, at=message.created_at)
        _sync(conversation, locked, ["status", "assignee", "last_message_at"])
    return message


def _bot_reply(conversation: Conversation, text: str) -> BotReply | None:
    """Ask the bot (in-process). None when it failed anyway (logged without content): the customer then gets a human."""
    try:
        return bot_respond(conversation=conversation, text=text)
    except Exception as exc:  # bot_respond promises not to raise; a customer must never be left without an answer
        logger.error("bot failed", extra={"conversation_id": conversation.pk, "error": type(exc).__name__})
        return None


def customer_message_receive(*, conversation: Conversation, text: str) -> list[Message]:
    """The customer wrote ``text``: store it and, while the conversation is ``open``, let the bot answer.

    The bot's reply is stored as a ``bot`` message; a non-confident answer adds one to
    ``metadata["bot_failures"]``; when the bot says to escalate (or fails outright), the conversation is escalated
    (ticket + system message). Returns the messages created, in order. Raises ConversationClosed (409) on a closed
    conversation and ApplicationError for an empty or too long text.
    """
    text = _text_clean(text, limit=settings.WIDGET_MESSAGE_MAX_CHARS)
    with transaction.atomic():
        locked = _locked(conversation)
        if locked.status == Conversation.Status.CLOSED:
            raise ConversationClosed("This conversation is closed; start a new one to write again.")
        created = [_message_create(conversation=locked, role=Message.Role.CUSTOMER, text=text)]
    _sync(conversation, locked, ["status", "last_message_at", "metadata"])
    try:
        return _customer_message_answer(conversation, locked, text, created)
    finally:
        # After the bot's reply and any escalation are committed, so the copilot's analysis sees the ticket.
        _copilot_after_customer_message(conversation_id=locked.pk, message_id=created[0].pk)


def _copilot_after_customer_message(*, conversation_id: int, message_id: int) -> None:
    """Tell the copilot after commit (at once when no transaction is open). Its failures are logged without
    content and never reach the customer: message flow must not depend on it."""

    def notify() -> None:
        try:
            from apps.copilot.services import copilot_message_received

            copilot_message_received(conversation_id=conversation_id, message_id=message_id)
        except Exception as exc:
            logger.error(
                "copilot notification failed",
                extra={"conversation_id": conversation_id, "message_id": message_id, "error": type(exc).__name__},
            )

    transaction.on_commit(notify)


def _customer_message_answer(
    conversation: Conversation, locked: Conversation, text: str, created: list[Message]
) -> list[Message]:
    """The bot's part of customer_message_receive, outside the message's transaction."""
    if locked.status != Conversation.Status.OPEN:
        return created  # a human has it: the bot stays silent

    reply = _bot_reply(locked, text)  # outside any transaction: the bot may take seconds
    if reply is None:
        reply = BotReply(text="", kind="escalation", escalate_reason="bot_failures")
    with transaction.atomic():
        locked = _locked(conversation)
        if locked.status != Conversation.Status.OPEN:
            return created  # an agent took over while the bot was thinking
        if reply.text.strip():
            created.append(
                _message_create(
                    conversation=locked,
                    role=Message.Role.BOT,
                    text=_text_clean(reply.text, limit=STAFF_TEXT_MAX),
                    sources=_sources_clean(reply.sources),
                    metadata=reply.metadata,
                )
            )
        metadata_before = dict(locked.metadata)
        if not reply.confident and reply.kind != "escalation":
            locked.metadata["bot_failures"] = int(locked.metadata.get("bot_failures", 0)) + 1
        if reply.language:
            locked.metadata["language"] = reply.language  # the customer's, as the bot detected it
        if locked.metadata != metadata_before:
            locked.save(update_fields=["metadata", "updated_at"])
        if reply.escalate_reason or reply.kind == "escalation":
            _ticket, notice = _escalate(
                conversation=locked,
                reason=reply.escalate_reason or "human_request",
                category=reply.category,
                priority=reply.priority,
            )
            created.append(notice)
    _sync(conversation, locked, ["status", "last_message_at", "metadata"])
    return created


# --------------------------------------------------------------------------- humans


def _agent_check(agent: Any) -> None:
    if agent is None or not is_agent(agent):
        raise ApplicationError("Conversations can only be given to agents.", code="not_agent")


def conversation_assign(*, conversation: Conversation, agent: Any, by: Any = None) -> Conversation:
    """Give the conversation to ``agent``; an ``open`` one becomes ``escalated`` (a human has it, the bot is silent)
    and its open tickets are acknowledged. Raises ApplicationError for a non-agent or a closed conversation."""
    from apps.tickets.services import tickets_for_conversation_acknowledge

    _agent_check(agent)
    with transaction.atomic():
        locked = _locked(conversation)
        if locked.status == Conversation.Status.CLOSED:
            raise ConversationClosed("This conversation is closed.")
        locked.assignee = agent
        if locked.status == Conversation.Status.OPEN:
            locked.status = Conversation.Status.ESCALATED
        locked.save(update_fields=["assignee", "status", "updated_at"])
        tickets_for_conversation_acknowledge(conversation_id=locked.pk)
        events.conversation_updated(locked)
    _sync(conversation, locked, ["assignee", "status"])
    return locked


def conversation_transfer(*, conversation: Conversation, agent: Any, by: Any = None) -> Conversation:
    """Hand the conversation to another agent, leaving an internal note. Raises ApplicationError for a non-agent,
    the current assignee or a closed conversation."""
    _agent_check(agent)
    with transaction.atomic():
        locked = _locked(conversation)
        if locked.assignee_id == agent.pk:
            raise ApplicationError("This agent already has the conversation.", code="same_agent")
        previous = locked.assignee
        locked = conversation_assign(conversation=locked, agent=agent, by=by)
        names = {"to": agent.get_username(), "from": previous.get_username() if previous else "-"}
        _message_create(
            conversation=locked,
            role=Message.Role.NOTE,
            text=_("Transferred from %(from)s to %(to)s.") % names,
            author=by if is_agent(by) else None,
        )
    _sync(conversation, locked, ["assignee", "status", "last_message_at"])
    return locked


def conversation_close(*, conversation: Conversation, by: Any = None) -> Conversation:
    """Close a conversation: the widget shows the satisfaction survey (``conversation.updated`` → ``status``
    frame) and the conversation goes to the labeling pipeline (SPEC §5: native conversations when closed).

    Raises ApplicationError when it is already closed.
    """
    from apps.labels.models import LabelingJob
    from apps.labels.services import labeling_enqueue

    with transaction.atomic():
        locked = _locked(conversation)
        if locked.status == Conversation.Status.CLOSED:
            raise ApplicationError("This conversation is already closed.", code="already_closed")
        locked.status = Conversation.Status.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at", "updated_at"])
        labeling_enqueue(conversation=locked, source=LabelingJob.Source.NATIVE)
        events.conversation_updated(locked)
        transaction.on_commit(lambda: _copilot_after_close(locked.pk))
    _sync(conversation, locked, ["status", "closed_at"])
    return locked


def _copilot_after_close(conversation_id: int) -> None:
    """The copilot's analytics are brought up to date at close; a failure is logged, never raised."""
    try:
        from apps.copilot.services import copilot_conversation_closed

        copilot_conversation_closed(conversation_id=conversation_id)
    except Exception as exc:
        logger.error(
            "copilot notification failed", extra={"conversation_id": conversation_id, "error": type(exc).__name__}
        )


def conversation_tags_add(*, conversation_id: int, tags: list[str]) -> list[str]:
    """Add ``tags`` to the conversation's ``tags`` (row locked; duplicates skipped). Returns the tags actually
    added ([] when it had them all, or for an unknown conversation)."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if locked is None:
            return []
        current = list(locked.tags or [])
        added = [t for t in dict.fromkeys(tags) if t not in current]
        if added:
            locked.tags = [*current, *added]
            locked.save(update_fields=["tags", "updated_at"])
    return added


def _escalation_summary(conversation: Conversation, reason: str) -> tuple[str, str]:
    """(subject, description) of an escalation ticket: the customer's words and the recent history with a link."""
    recent = list(
        Message.objects.filter(conversation=conversation)
        .exclude(role=Message.Role.NOTE)
        .order_by("-created_at", "-id")[:20]
    )[::-1]
    last_customer = next((m.text for m in reversed(recent) if m.role == Message.Role.CUSTOMER), "")
    words = " ".join(last_customer.split())
    label = reason.replace("_", " ")
    subject = (
        f"{label.capitalize()}: {words[:120]}" if words else f"{label.capitalize()} (conversation #{conversation.pk})"
    )
    lines = [f"{m.role}: {' '.join(m.text.split())}" for m in recent]
    link = f"/console/conversations/{conversation.pk}/"
    description = "\n".join([f"Escalation: {label}", f"Conversation: {link}", "", *lines])
    return subject, description


def _escalate(
    *, conversation: Conversation, reason: str, category: str | None = None, priority: str | None = None
) -> tuple[Ticket, Message]:
    """Inside the caller's transaction, on a locked row. See conversation_escalate."""
    from apps.tickets.models import Ticket
    from apps.tickets.selectors import ticket_category_active
    from apps.tickets.services import ticket_create

    if reason not in ESCALATION_DEFAULTS:
        raise ApplicationError(f"Unknown escalation reason {reason!r}.", code="reason")
    if conversation.status == Conversation.Status.CLOSED:
        raise ConversationClosed("This conversation is closed.")
    if conversation.status == Conversation.Status.ESCALATED:
        raise ApplicationError("A human already has this conversation.", code="already_escalated")
    default_category, default_priority = ESCALATION_DEFAULTS[reason]
    category = category if ticket_category_active(category) else default_category
    if not ticket_category_active(category):
        category = None
    priority = priority if priority in _PRIORITY_RANK else default_priority

    conversation.status = Conversation.Status.ESCALATED
    conversation.metadata["escalation_reason"] = reason
    conversation.save(update_fields=["status", "metadata", "updated_at"])
    ticket = (
        Ticket.objects.select_for_update()
        .filter(conversation=conversation, status__in=(Ticket.Status.OPEN, Ticket.Status.IN_PROGRESS))
        .order_by("created_at")
        .first()
    )
    if ticket is None:
        subject, description = _escalation_summary(conversation, reason)
        ticket = ticket_create(
            subject=subject,
            description=description,
            conversation=conversation,
            contact=conversation.contact,
            category=category,
            priority=priority,
            source="escalation",
            tags=[reason],
        )
    elif _PRIORITY_RANK[priority] > _PRIORITY_RANK.get(ticket.priority, 0):
        # The conversation already had a ticket (the /contact/ form's): it is raised, not duplicated.
        ticket.priority = priority
        ticket.save(update_fields=["priority", "updated_at"])
    notice = _message_create(
        conversation=conversation,
        role=Message.Role.SYSTEM,
        text=_customer_text("escalated", conversation, id=ticket.pk),
    )
    events.conversation_updated(conversation)
    logger.info(
        "conversation escalated", extra={"conversation_id": conversation.pk, "ticket_id": ticket.pk, "reason": reason}
    )
    return ticket, notice


def conversation_escalate(
    *, conversation: Conversation, reason: str, category: str | None = None, priority: str | None = None
) -> Ticket:
    """Hand an ``open`` conversation to humans: status ``escalated``, a ticket (summary, category, priority,
    contact, link to the history; ``ticket.created`` to the inbox), and a system message telling the customer a
    human will answer. ``category`` / ``priority`` default from ``reason`` (ESCALATION_DEFAULTS).

    Raises ApplicationError for an unknown reason, ``already_escalated``, or ConversationClosed.
    """
    with transaction.atomic():
        locked = _locked(conversation)
        ticket, _notice = _escalate(conversation=locked, reason=reason, category=category, priority=priority)
    _sync(conversation, locked, ["status", "metadata", "last_message_at"])
    return ticket


def csat_record(*, conversation: Conversation, rating: int, comment: str = "") -> Conversation:
    """Store the customer's satisfaction (1–5 and an optional comment) once the conversation is closed; a second
    answer replaces the first. Raises ApplicationError for a bad rating or comment, or an unclosed conversation."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApplicationError("The rating is a whole number from 1 to 5.", code="rating")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise ApplicationError("The comment is text.", code="comment")
    comment = _CONTROL.sub("", comment).strip()
    if len(comment) > CSAT_COMMENT_MAX:
        raise ApplicationError(f"The comment has at most {CSAT_COMMENT_MAX} characters.", code="comment")
    with transaction.atomic():
        locked = _locked(conversation)
        if locked.status != Conversation.Status.CLOSED:
            raise ApplicationError("The survey opens when the conversation is closed.", code="not_closed")
        locked.csat_rating = rating
        locked.csat_comment = comment
        locked.metadata["csat_at"] = timezone.now().isoformat()
        locked.save(update_fields=["csat_rating", "csat_comment", "metadata", "updated_at"])
    _sync(conversation, locked, ["csat_rating", "csat_comment", "metadata"])
    return locked
