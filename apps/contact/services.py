"""The /contact/ form and its JSON twin (SPEC §8): a ticket, then a chat that continues it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from apps.conversations.models import Channel, Contact, Conversation
from apps.conversations.services import widget_session_create
from apps.conversations.tokens import context_token_make
from apps.conversations.validators import contact_details_clean
from apps.core import ratelimit
from apps.core.exceptions import ApplicationError, RateLimited
from apps.tickets.models import Ticket
from apps.tickets.services import ticket_create

MESSAGE_MAX = 4000


@dataclass(frozen=True)
class ContactRequest:
    ticket: Ticket
    conversation: Conversation
    visitor_token: str
    context_token: str


def tickets_rate_limit_take(*, client_ip: str) -> None:
    """One of the TICKETS_RATE_LIMIT tickets an address may open per hour. Raises RateLimited (429)."""
    wait = ratelimit.acquire(f"tickets:{client_ip}", limit=settings.TICKETS_RATE_LIMIT, window=3600.0)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        raise RateLimited(
            f"Too many requests from this address: try again in {minutes} minute(s), or use the chat.",
            retry_after=math.ceil(wait),
        )


def contact_request_submit(*, name: str, phone: str, email: str = "", message: str, client_ip: str) -> ContactRequest:
    """Validate, take a slot of the per-IP ticket limit, create the contact and the ticket (source ``contact_form``)
    and the chat session that continues it.

    Raises ApplicationError (code ``invalid_contact``, errors per field in ``extra["fields"]``; name and phone are
    required) or RateLimited. Nothing is written when it raises.
    """
    errors: dict[str, str] = {}
    try:
        details = contact_details_clean(name=name, phone=phone, email=email)
    except ApplicationError as exc:
        errors.update(exc.extra.get("fields", {}))
        details = {}
    for required in ("name", "phone"):
        if required not in errors and not details.get(required):
            errors[required] = "This field is required."
    text = (message or "").strip() if isinstance(message, str) else ""
    if not text:
        errors["message"] = "Tell us what it is about."
    elif len(text) > MESSAGE_MAX:
        errors["message"] = f"At most {MESSAGE_MAX} characters."
    if errors:
        raise ApplicationError("Some fields are invalid.", code="invalid_contact", extra={"fields": errors})

    tickets_rate_limit_take(client_ip=client_ip)
    with transaction.atomic():
        contact = Contact.objects.create(channel=Channel.WIDGET, **details)
        first_line = " ".join(text.split())[:120]
        ticket = ticket_create(
            subject=f"Contact form: {first_line}",
            description=text,
            contact=contact,
            category="general",
            source="contact_form",
        )
        context = context_token_make(ticket_id=ticket.pk)
        token, conversation = widget_session_create(context_token=context)
    return ContactRequest(ticket=ticket, conversation=conversation, visitor_token=token, context_token=context)
