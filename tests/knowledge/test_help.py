"""The public help centre: the pages the bot's sources link to; internal documents stay out of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.knowledge.help import _join
from apps.knowledge.models import Document
from apps.knowledge.parsing import parse_path
from apps.knowledge.services import document_ingest

pytestmark = pytest.mark.django_db

KB = Path(__file__).resolve().parents[2] / "docs" / "knowledge"


def _ingest(name: str) -> Document:
    (parsed,) = parse_path(KB / name, root=KB)
    document, _ = document_ingest(parsed)
    return document


def test_overlapping_chunks_are_joined_without_repeating_text() -> None:
    assert _join("un deux trois quatre cinq", "quatre cinq six sept") == "six sept"
    assert _join("un deux", "trois quatre") == "trois quatre"


def test_an_article_shows_the_whole_document_once_without_login(client: Client) -> None:
    document = _ingest("livraison.fr.md")
    response = client.get(f"/help/{document.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert document.title in html
    source = (KB / "livraison.fr.md").read_text()
    # A sentence from the end of the file, past the first chunk, appears exactly once (overlaps removed).
    sentence = [line for line in source.splitlines() if len(line.split()) > 8][-1].strip()
    probe = " ".join(sentence.split()[:8])
    assert html.count(probe) == 1, probe
    assert client.get("/help/").status_code == 200 and document.title in client.get("/help/").content.decode()


def test_internal_documents_are_not_published(client: Client) -> None:
    document = _ingest("escalation-procedure.en.md")
    assert "internal" in document.tags
    assert client.get(f"/help/{document.pk}/").status_code == 404
    assert document.title not in client.get("/help/").content.decode()
    assert client.get("/help/999999/").status_code == 404


def test_the_bot_cites_the_help_page_and_never_an_internal_document(settings: Any) -> None:
    from apps.bot.services import bot_respond
    from tests.conversations.factories import ConversationFactory

    public = _ingest("livraison.fr.md")
    _ingest("escalation-procedure.en.md")
    conversation = ConversationFactory()
    reply = bot_respond(conversation=conversation, text="Combien de temps prend la livraison de ma commande ?")
    assert reply.kind == "knowledge", reply
    assert {"title": public.title, "url": f"/help/{public.pk}/"} in reply.sources
    internal = bot_respond(
        conversation=conversation, text="What is the SLA for the first contact on a high priority ticket?"
    )
    assert all("Escalation procedure" not in s["title"] for s in internal.sources)
