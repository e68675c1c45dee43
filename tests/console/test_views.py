"""The console's pages and htmx endpoints, against the real database."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from apps.console.models import Snippet
from apps.conversations.models import Conversation, Message
from tests.conversations.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def _row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="inbox-item" data-conversation-id="(\d+)"', html)]


# --------------------------------------------------------------------------- who may enter


def test_anonymous_is_sent_to_login(client: Client, conversation: Any) -> None:
    for url in ("/console/", f"/console/c/{conversation.pk}/", "/console/snippets/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_non_agents_get_403_everywhere(client: Client, plain_user: Any, conversation: Any) -> None:
    client.force_login(plain_user)
    for url in ("/console/", "/console/inbox/?tab=all", f"/console/c/{conversation.pk}/", "/console/snippets/"):
        assert client.get(url).status_code == 403, url
    for action in ("reply", "assign", "close"):
        assert client.post(f"/console/c/{conversation.pk}/{action}/", {"text": "hi"}).status_code == 403
    assert Message.objects.filter(conversation=conversation).count() == 1
    conversation.refresh_from_db()
    assert conversation.status == "escalated" and conversation.assignee_id is None


def test_supervisor_gets_the_console(client: Client, supervisor_user: Any) -> None:
    client.force_login(supervisor_user)
    response = client.get("/console/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'ws-connect="/ws/console/"' in html
    # Shown online from the start, before the page's socket says so.
    presence = html[html.index('id="presence"') :]
    assert f'data-user-id="{supervisor_user.pk}"' in presence[: presence.index("</ul>")]


def test_unknown_conversation_is_404(agent_client: Client) -> None:
    assert agent_client.get("/console/c/999999/").status_code == 404


# --------------------------------------------------------------------------- inbox


def test_inbox_tabs(agent_client: Client, agent_user: Any, other_agent: Any) -> None:
    unassigned = ConversationFactory(status="escalated")
    mine = ConversationFactory(status="escalated", assignee=agent_user)
    theirs = ConversationFactory(status="escalated", assignee=other_agent)
    closed = ConversationFactory(status="closed")

    page = agent_client.get("/console/").content.decode()  # default tab: unassigned
    assert _row_ids(page) == [unassigned.pk]
    assert _row_ids(agent_client.get("/console/?tab=mine").content.decode()) == [mine.pk]
    everything = _row_ids(agent_client.get("/console/?tab=all").content.decode())
    assert set(everything) == {unassigned.pk, mine.pk, theirs.pk}  # closed ones only when asked for
    assert _row_ids(agent_client.get("/console/?tab=all&status=closed").content.decode()) == [closed.pk]
    # The URL htmx pushes for a filtered list is a full page when reloaded.
    reloaded = agent_client.get("/console/inbox/?tab=mine").content.decode()
    assert "<html" in reloaded and _row_ids(reloaded) == [mine.pk]


def test_inbox_filters_by_channel_status_and_label(agent_client: Client, htmx_headers: dict[str, str]) -> None:
    from apps.labels.models import ConversationLabel, Label

    widget_bot = ConversationFactory(channel="widget", status="open")
    widget_human = ConversationFactory(channel="widget", status="escalated")
    whatsapp = ConversationFactory(channel="whatsapp", status="escalated")
    paiement = Label.objects.create(name="paiement")
    alias = Label.objects.create(name="payment", alias_of=paiement, status="approved")
    ConversationLabel.objects.create(conversation=widget_bot, label=paiement)
    ConversationLabel.objects.create(conversation=whatsapp, label=alias)

    def rows(query: str) -> set[int]:
        response = agent_client.get(f"/console/inbox/?tab=all&{query}", **htmx_headers)
        assert response.status_code == 200
        return set(_row_ids(response.content.decode()))

    assert rows("channel=whatsapp") == {whatsapp.pk}
    assert rows("channel=widget") == {widget_bot.pk, widget_human.pk}
    assert rows("status=open") == {widget_bot.pk}
    assert rows("status=escalated&channel=widget") == {widget_human.pk}
    # A label filter finds the label and its approved aliases.
    assert rows("label=paiement") == {widget_bot.pk, whatsapp.pk}
    assert rows("label=nothing-like-this") == set()
    # Garbage filters fall back to the defaults instead of failing.
    assert rows("channel=fax&status=weird") == {widget_bot.pk, widget_human.pk, whatsapp.pk}


def test_inbox_partial_is_a_fragment_and_rows_show_their_details(
    agent_client: Client, htmx_headers: dict[str, str], other_agent: Any
) -> None:
    from apps.labels.models import ConversationLabel, Label

    conversation = ConversationFactory(
        status="escalated", channel="whatsapp", assignee=other_agent, contact=ContactFactory(name="Jean Dupont")
    )
    MessageFactory(conversation=conversation)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=conversation.created_at)
    ConversationLabel.objects.create(conversation=conversation, label=Label.objects.create(name="livraison"))

    html = agent_client.get("/console/inbox/?tab=all", **htmx_headers).content.decode()
    assert "<html" not in html
    row = html[html.index(f'id="conv-row-{conversation.pk}"') :]
    row = row[: row.index("</a>")]
    for expected in ("Jean Dupont", "WhatsApp", "Escalated", other_agent.get_username(), "livraison", "<time"):
        assert expected in row
    # The list tells the socket what it shows (filters and rows) for live updates.
    assert 'data-ws-subscribe="inbox"' in html and f'data-rows="{conversation.pk}"' in html


# --------------------------------------------------------------------------- conversation view


def test_conversation_partial_and_full_page(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    partial = agent_client.get(f"/console/c/{conversation.pk}/", **htmx_headers).content.decode()
    assert "<html" not in partial
    assert f'id="messages-{conversation.pk}"' in partial
    assert 'data-ws-subscribe="open"' in partial
    assert "Je voudrais retourner mon téléphone." in partial
    assert "Léa Martin" in partial and "+33612345678" in partial  # customer panel

    page = agent_client.get(f"/console/c/{conversation.pk}/").content.decode()
    assert "<html" in page and f'id="messages-{conversation.pk}"' in page and 'id="inbox-rows"' in page
    # The ticket's long link opens the same conversation.
    assert agent_client.get(f"/console/conversations/{conversation.pk}/").status_code == 200


def test_customer_panel_shows_history_tickets_labels_and_csat(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    from apps.labels.models import ConversationLabel, Label
    from apps.tickets.models import Ticket

    earlier = ConversationFactory(contact=conversation.contact, status="closed", csat_rating=2)
    stranger = ConversationFactory(status="closed")
    Ticket.objects.create(subject="Retour refusé", contact=conversation.contact, priority="HIGH")
    Ticket.objects.create(subject="Ticket de quelqu'un d'autre", contact=stranger.contact)
    ConversationLabel.objects.create(conversation=conversation, label=Label.objects.create(name="retour"))

    html = agent_client.get(f"/console/c/{conversation.pk}/", **htmx_headers).content.decode()
    panel = html[html.index('data-testid="customer-panel"') :]
    assert f"#{earlier.pk}" in panel and f"#{stranger.pk} " not in panel
    assert "Retour refusé" in panel and "High" in panel
    assert "quelqu&#x27;un d&#x27;autre" not in panel
    assert "retour" in panel
    assert re.search(r"2[.,]0/5", panel)  # the contact's average rating (LANGUAGE_CODE decides the comma)


def test_message_text_is_rendered_escaped(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    MessageFactory(conversation=conversation, text=XSS)
    MessageFactory(
        conversation=conversation,
        role="bot",
        text="voir la FAQ",
        sources=[{"title": XSS, "url": "javascript:alert(1)"}, {"title": "FAQ", "url": "https://example.com/faq"}],
    )
    html = agent_client.get(f"/console/c/{conversation.pk}/", **htmx_headers).content.decode()
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html
    assert 'href="https://example.com/faq"' in html


# --------------------------------------------------------------------------- reply, notes, snippets


def test_reply_creates_an_agent_message_and_takes_the_conversation(
    agent_client: Client, htmx_headers: dict[str, str], agent_user: Any, conversation: Any
) -> None:
    response = agent_client.post(
        f"/console/c/{conversation.pk}/reply/", {"text": "  Bonjour Léa !  ", "kind": "reply"}, **htmx_headers
    )
    assert response.status_code == 200
    assert 'data-testid="reply-input"' in response.content.decode()
    message = Message.objects.filter(conversation=conversation).latest("created_at")
    assert (message.role, message.text, message.author_id) == ("agent", "Bonjour Léa !", agent_user.pk)
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent_user.pk


def test_empty_reply_is_refused_with_a_message(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    response = agent_client.post(f"/console/c/{conversation.pk}/reply/", {"text": "   "}, **htmx_headers)
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_note_is_internal_and_does_not_take_the_conversation(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    response = agent_client.post(
        f"/console/c/{conversation.pk}/reply/", {"text": "Client déjà remboursé ?", "kind": "note"}, **htmx_headers
    )
    assert response.status_code == 200
    note = Message.objects.filter(conversation=conversation).latest("created_at")
    assert note.role == "note"
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    html = agent_client.get(f"/console/c/{conversation.pk}/", **htmx_headers).content.decode()
    assert 'data-role="note"' in html and "Internal note" in html


def test_snippet_shortcuts_expand_when_sent(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    retour = Snippet.objects.get(shortcut="retour")  # seeded by the data migration
    Snippet.objects.create(shortcut="vieux", title="Old", body="Ne plus utiliser", active=False)
    agent_client.post(
        f"/console/c/{conversation.pk}/reply/",
        {"text": "Bonjour, /retour\nVoir https://exemple.fr/suivi et /vieux /inconnu", "kind": "reply"},
        **htmx_headers,
    )
    message = Message.objects.filter(conversation=conversation, role="agent").get()
    assert message.text == f"Bonjour, {retour.body}\nVoir https://exemple.fr/suivi et /vieux /inconnu"


def test_snippets_endpoint_lists_active_snippets(agent_client: Client) -> None:
    Snippet.objects.create(shortcut="vieux", title="Old", body="Ne plus utiliser", active=False)
    data = agent_client.get("/console/snippets/").json()["snippets"]
    shortcuts = {s["shortcut"] for s in data}
    assert {"retour", "suivi", "merci"} <= shortcuts
    assert "vieux" not in shortcuts
    assert all(s["body"] and s["title"] for s in data)


# --------------------------------------------------------------------------- assign, transfer, close


def test_assign_to_me(agent_client: Client, htmx_headers: dict[str, str], agent_user: Any, conversation: Any) -> None:
    response = agent_client.post(f"/console/c/{conversation.pk}/assign/", **htmx_headers)
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent_user.pk
    html = response.content.decode()
    assert f'id="conv-header-{conversation.pk}"' in html
    assert 'data-testid="conversation-assign"' not in html  # already mine


def test_transfer_to_another_agent(
    agent_client: Client, htmx_headers: dict[str, str], agent_user: Any, other_agent: Any, plain_user: Any
) -> None:
    conversation = ConversationFactory(status="escalated", assignee=agent_user)
    refused = agent_client.post(f"/console/c/{conversation.pk}/transfer/", {"agent": plain_user.pk}, **htmx_headers)
    assert refused.status_code == 422
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent_user.pk

    response = agent_client.post(f"/console/c/{conversation.pk}/transfer/", {"agent": other_agent.pk}, **htmx_headers)
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id == other_agent.pk
    assert other_agent.get_username() in response.content.decode()


def test_close(agent_client: Client, htmx_headers: dict[str, str], conversation: Any) -> None:
    response = agent_client.post(f"/console/c/{conversation.pk}/close/", **htmx_headers)
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == "closed" and conversation.closed_at is not None
    assert 'data-testid="conversation-close"' not in response.content.decode()
    again = agent_client.post(f"/console/c/{conversation.pk}/close/", **htmx_headers)
    assert again.status_code == 422
    assert "already closed" in again.content.decode()


def test_a_closed_conversation_takes_notes_but_no_reply(
    agent_client: Client, htmx_headers: dict[str, str], conversation: Any
) -> None:
    agent_client.post(f"/console/c/{conversation.pk}/close/", **htmx_headers)
    refused = agent_client.post(f"/console/c/{conversation.pk}/reply/", {"text": "Encore là ?"}, **htmx_headers)
    assert refused.status_code == 422
    assert "closed" in refused.content.decode()
    note = agent_client.post(
        f"/console/c/{conversation.pk}/reply/", {"text": "Rappeler demain", "kind": "note"}, **htmx_headers
    )
    assert note.status_code == 200
    assert list(Message.objects.filter(conversation=conversation).values_list("role", flat=True)) == [
        "customer",
        "note",
    ]


def test_supervisors_edit_snippets_in_the_admin(client: Client, supervisor_user: Any) -> None:
    client.force_login(supervisor_user)
    assert client.get("/admin/console/snippet/").status_code == 200
    response = client.post(
        "/admin/console/snippet/add/",
        {"shortcut": "rib", "title": "RIB", "body": "Envoyez votre RIB depuis votre espace client.", "language": "fr",
         "active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    assert Snippet.objects.get(shortcut="rib").active
    bad = client.post("/admin/console/snippet/add/", {"shortcut": "Pas bon!", "title": "x", "body": "x"})
    assert bad.status_code == 200 and not Snippet.objects.filter(title="x").exists()
