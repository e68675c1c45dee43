"""Knowledge writes: documents → chunks with embeddings and a full-text vector (SPEC §9)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.db.models import Value

from apps.ai.providers import embeddings_model_name, get_embeddings
from apps.knowledge.models import Chunk, Document

PG_CONFIG = {"fr": "french", "en": "english"}
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    title: str
    text: str


def markdown_sections(text: str) -> list[Section]:
    """Split Markdown by headings; each section keeps its heading as title. Text before the first heading
    belongs to an untitled section."""
    sections: list[Section] = []
    matches = list(_HEADING_RE.finditer(text))
    if not matches:
        return [Section("", text.strip())] if text.strip() else []
    head = text[: matches[0].start()].strip()
    if head:
        sections.append(Section("", head))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end() : end].strip()
        if body:
            sections.append(Section(m.group(2).strip(), body))
    return sections


def document_upsert(
    *,
    source: str,
    title: str,
    text: str,
    language: str = "fr",
    kind: str = Document.Kind.MARKDOWN,
    url: str = "",
    category: str = "",
) -> tuple[Document, bool]:
    """Create or refresh a document from its text. Returns (document, changed).

    Unchanged content (same sha256) is skipped; changed content replaces every chunk in one transaction.
    """
    content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = Document.objects.filter(source=source).first()
    if existing and existing.content_hash == content_hash and existing.status == Document.Status.READY:
        return existing, False
    sections = markdown_sections(text) if kind == Document.Kind.MARKDOWN else [Section("", text.strip())]
    embedder = get_embeddings()
    vectors = embedder.embed_documents([f"{s.title}\n{s.text}".strip() for s in sections]) if sections else []
    model = embeddings_model_name()
    with transaction.atomic():
        doc, _ = Document.objects.update_or_create(
            source=source,
            defaults={
                "title": title,
                "language": language,
                "kind": kind,
                "url": url,
                "category": category,
                "content_hash": content_hash,
                "status": Document.Status.READY,
                "error": "",
            },
        )
        doc.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(document=doc, ordinal=i, section=s.title[:300], text=s.text, embedding=v, embedding_model=model)
            for i, (s, v) in enumerate(zip(sections, vectors, strict=True))
        )
        config = PG_CONFIG.get(language, "simple")
        doc.chunks.update(
            search_vector=SearchVector(Value(title), config=config, weight="A")
            + SearchVector("section", config=config, weight="A")
            + SearchVector("text", config=config, weight="B")
        )
    return doc, True
