"""The public help centre: the customer-facing knowledge documents as pages, so that the bot's answers can cite a
link (SPEC §6: "an answer with its sources"). Documents tagged ``internal`` (procedures for agents) are not shown
here and are never cited to customers."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from apps.knowledge.models import Document

INTERNAL_TAG = "internal"
_MAX_OVERLAP_WORDS = 200


def is_public(document: Document) -> bool:
    return document.status == Document.Status.READY and INTERNAL_TAG not in (document.tags or [])


def internal_document_ids() -> set[int]:
    return set(Document.objects.filter(tags__contains=[INTERNAL_TAG]).values_list("id", flat=True))


def public_url(document_id: int, url: str = "") -> str:
    """Where a customer reads a document: its own URL when it has one, else its help-centre page (relative to this
    server; the widget resolves it against the server it talks to)."""
    return url or reverse("help:article", args=[document_id])


@dataclass(frozen=True)
class Section:
    title: str
    text: str


def _join(previous: str, following: str) -> str:
    """Chunks overlap (KNOWLEDGE_CHUNK_OVERLAP words): drop the longest start of ``following`` that ends
    ``previous``."""
    before, after = previous.split(), following.split()
    for n in range(min(len(before), len(after), _MAX_OVERLAP_WORDS), 0, -1):
        if before[-n:] == after[:n]:
            return " ".join(after[n:])
    return following


def document_sections(document: Document) -> list[Section]:
    """The document's text by section, rebuilt from its chunks without their overlaps."""
    sections: list[Section] = []
    previous = ""
    for chunk in document.chunks.order_by("ordinal").only("section", "text"):
        text = _join(previous, chunk.text) if previous else chunk.text
        previous = chunk.text
        if sections and sections[-1].title == chunk.section:
            sections[-1] = Section(sections[-1].title, f"{sections[-1].text}\n\n{text}".strip())
        else:
            sections.append(Section(chunk.section, text))
    return [s for s in sections if s.text]


def public_documents() -> list[Document]:
    docs = Document.objects.filter(status=Document.Status.READY).order_by("category", "title")
    return [d for d in docs if is_public(d)]
