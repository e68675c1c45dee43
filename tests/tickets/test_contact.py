"""/contact/ (SPEC §8): name and phone required, a ticket, then the chat continues it; 5 tickets/hour per IP."""

from __future__ import annotations

import re
from typing import Any

import pytest

# Closes its connection afterwards, so no test leaves one open in asgiref's shared thread.
from channels.db import database_sync_to_async as sync_to_async
from django.test import Client

from apps.conversations.models import Contact, Conversation
from apps.tickets.models import Ticket
from tests.conversations.widget_helpers import connected

pytestmark = pytest.mark.django_db

FORM = {"name": "Ana Lima", "phone": "06 12 34 56 78", "email": "", "message": "Ma box ne se connecte plus."}


def _counts() -> tuple[int, int, int]:
    return Contact.objects.count(), Conversation.objects.count(), Ticket.objects.count()


def test_the_form_page_shows_the_fields() -> None:
    response = Client().get("/contact/")
    assert response.status_code == 200
    for field in ("name", "phone", "email", "message", "csrfmiddlewaretoken"):
        assert f'name="{field}"' in response.content.decode()
    assert "Téléphone" in response.content.decode()
    assert "Phone" in Client().get("/contact/?lang=en").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_form_creates_a_ticket_and_the_chat_continues_it() -> None:
    response = await sync_to_async(Client().post)("/contact/", FORM)
    assert response.status_code == 201
    html = response.content.decode()
    context = re.search(r'<script src="/static/widget/widget.js" data-context-token="([^"]+)" data-open="true"', html)
    assert context, html

    def ticket() -> Ticket:
        return Ticket.objects.select_related("contact", "category").get()

    created = await sync_to_async(ticket)()
    assert (created.source, created.category.slug, created.contact.name, created.contact.phone) == (
        "contact_form",
        "general",
        "Ana Lima",
        "0612345678",
    )
    assert created.description == FORM["message"]
    assert f"#{created.pk}" in html

    # The widget exchanges the context token: same conversation, linked to the ticket, every time.
    def exchange() -> dict[str, Any]:
        reply = Client().post(
            "/api/widget/sessions", {"context_token": context.group(1)}, content_type="application/json"
        )
        assert reply.status_code == 201, reply.content
        return reply.json()

    first, again = await sync_to_async(exchange)(), await sync_to_async(exchange)()
    assert first["conversation_id"] == again["conversation_id"]
    assert await sync_to_async(lambda: Ticket.objects.get().conversation_id)() == first["conversation_id"]
    socket, frames = await connected(first["token"])
    messages = [(f["role"], f["text"]) for f in frames if f["type"] == "message"]
    assert messages[0] == ("customer", FORM["message"])
    assert messages[1][0] == "system" and f"#{created.pk}" in messages[1][1]
    assert frames[-1] == {"type": "status", "status": "open"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"phone": ""}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"email": "ana@"}, "email"),
        ({"message": "   "}, "message"),
    ],
)
def test_bad_form_input_shows_errors_and_writes_nothing(changes: dict[str, str], field: str) -> None:
    before = _counts()
    response = Client().post("/contact/", {**FORM, **changes})
    assert response.status_code == 400
    assert f'data-field="{field}"' in response.content.decode()
    assert _counts() == before


def test_sixth_ticket_in_an_hour_is_429_with_retry_after() -> None:
    client = Client(REMOTE_ADDR="192.0.2.50")
    for _ in range(5):
        assert client.post("/contact/", FORM).status_code == 201
    before = _counts()
    page = client.post("/contact/", FORM)
    assert page.status_code == 429
    assert 1 <= int(page["Retry-After"]) <= 3600
    assert 'data-testid="contact-rate-limited"' in page.content.decode()
    assert "Réessayez dans" in page.content.decode()  # a clear page in the site's language (fr by default)
    assert _counts() == before

    api = client.post("/api/contact", FORM, content_type="application/json")
    assert api.status_code == 429
    assert api.json()["error"] == "rate_limited" and 1 <= api.json()["retry_after"] <= 3600
    assert 1 <= int(api["Retry-After"]) <= 3600
    assert _counts() == before

    # Another address is not affected.
    assert Client(REMOTE_ADDR="192.0.2.51").post("/contact/", FORM).status_code == 201


def test_api_twin_creates_a_ticket_and_validates() -> None:
    client = Client()
    created = client.post("/api/contact", {**FORM, "email": "ana@example.org"}, content_type="application/json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"ticket_id", "conversation_id", "token", "context_token"}
    assert Ticket.objects.get(pk=body["ticket_id"]).conversation_id == body["conversation_id"]

    before = _counts()
    bad = client.post("/api/contact", {**FORM, "phone": "123"}, content_type="application/json")
    assert bad.status_code == 400 and "phone" in bad.json()["detail"]
    missing = client.post("/api/contact", {"name": "Ana"}, content_type="application/json")
    assert missing.status_code == 400 and {"phone", "message"} <= set(missing.json()["detail"])
    assert _counts() == before
