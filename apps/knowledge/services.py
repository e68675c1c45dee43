"""Knowledge writes (SPEC §9): parsed documents -> chunks with embeddings and a full-text vector.

Re-ingesting an unchanged document (same content hash, same embedding model) is skipped; a changed one
replaces its chunks in one transaction.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import Value

from apps.ai.providers import embeddings_model_name, get_embeddings
from apps.knowledge.chunking import chunk_document
from apps.knowledge.models import Chunk, Document
from apps.knowledge.parsing import ParsedDocument, ParseError, parse_bytes, parse_path

logger = logging.getLogger(__name__)

PG_CONFIG = {"fr": "french", "en": "english"}
EMBED_BATCH = 32


def embedding_text(text: str) -> str:
    """What is embedded for a chunk: its text alone. The document and section titles reach the search through the
    full-text side (weight A) and the citation; prefixed to the embedded text, they cost the default model recall on
    the evaluation set: 80.4 % against 85.1 % vector-only, 87.8 % against 89.2 % hybrid (docs/benchmarks.md)."""
    return text.strip()


def _embed(texts: Sequence[str]) -> list[list[float]]:
    embedder = get_embeddings()
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(embedder.embed_documents(list(texts[start : start + EMBED_BATCH])))
    return vectors


def document_ingest(parsed: ParsedDocument, *, force: bool = False) -> tuple[Document, bool]:
    """Create or refresh one document. Returns (document, changed). Raises ParseError when it has no text."""
    model = embeddings_model_name()
    existing = Document.objects.filter(source=parsed.source).first()
    if (
        not force
        and existing is not None
        and existing.content_hash == parsed.content_hash
        and existing.status == Document.Status.READY
        and not existing.chunks.exclude(embedding_model=model).exists()
    ):
        return existing, False
    chunks = chunk_document(parsed, size=settings.KNOWLEDGE_CHUNK_WORDS, overlap=settings.KNOWLEDGE_CHUNK_OVERLAP)
    if not chunks:
        raise ParseError("no text to index")
    vectors = _embed([embedding_text(c.text) for c in chunks])
    with transaction.atomic():
        doc, _ = Document.objects.update_or_create(
            source=parsed.source,
            defaults={
                "title": parsed.title[:300],
                "kind": parsed.kind,
                "language": parsed.language,
                "url": parsed.url[:500],
                "category": parsed.category[:80],
                "tags": list(parsed.tags),
                "content_hash": parsed.content_hash,
                "status": Document.Status.READY,
                "error": "",
            },
        )
        doc.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(
                document=doc,
                ordinal=c.ordinal,
                section=c.section[:300],
                text=c.text,
                embedding=v,
                embedding_model=model,
            )
            for c, v in zip(chunks, vectors, strict=True)
        )
        _search_vectors_update(doc)
    return doc, True


def _search_vectors_update(doc: Document) -> None:
    config = PG_CONFIG.get(doc.language, "simple")
    doc.chunks.update(
        search_vector=SearchVector(Value(doc.title), config=config, weight="A")
        + SearchVector("section", config=config, weight="A")
        + SearchVector("text", config=config, weight="B")
    )


# --------------------------------------------------------------------------- files and folders


@dataclass
class FileResult:
    path: str
    status: str  # "ingested" | "unchanged" | "failed" | "removed"
    documents: int = 0
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


IGNORE_FILE = ".ingestignore"


def _ignored(rel: Path, patterns: list[str]) -> bool:
    """Hidden files and folders, and what the folder's .ingestignore lists (fnmatch patterns, one per line;
    a pattern ending in "/" matches a folder and everything under it)."""
    if any(part.startswith(".") for part in rel.parts):
        return True
    posix = rel.as_posix()
    for pattern in patterns:
        if pattern.endswith("/"):
            if any(fnmatch.fnmatch(part, pattern.rstrip("/")) for part in rel.parts[:-1]):
                return True
        elif fnmatch.fnmatch(posix, pattern) or fnmatch.fnmatch(rel.name, pattern):
            return True
    return False


def _files(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs: folders are walked recursively, minus hidden and .ingestignore'd entries."""
    out: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            ignore = path / IGNORE_FILE
            patterns = [
                line.strip() for line in (ignore.read_text().splitlines() if ignore.is_file() else [])
                if line.strip() and not line.startswith("#")
            ]  # fmt: skip
            for file in sorted(path.rglob("*")):
                if file.is_file() and not _ignored(file.relative_to(path), patterns):
                    out.append((file, path))
        else:
            out.append((path, path.parent))
    return out


def knowledge_ingest_paths(
    paths: Iterable[Path], *, force: bool = False, on_file: Callable[[FileResult], None] | None = None
) -> IngestReport:
    """Ingest files and folders. A broken or unsupported file is reported and the others still ingested.
    Documents of a FAQ file that disappeared from it are removed."""
    report = IngestReport()
    for file, root in _files(paths):
        result = _ingest_file(file, root, force=force)
        report.files.append(result)
        if on_file:
            on_file(result)
    if report.count("ingested"):
        chunk_statistics_refresh()
    return report


def _ingest_file(file: Path, root: Path, *, force: bool) -> FileResult:
    rel = file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
    try:
        parsed = parse_path(file, root=root)
        return _ingest_parsed(rel, parsed, force=force)
    except ParseError as exc:
        return FileResult(rel, "failed", reason=exc.reason)
    except OSError as exc:
        return FileResult(rel, "failed", reason=f"cannot read the file ({type(exc).__name__})")


def knowledge_ingest_upload(data: bytes, filename: str) -> FileResult:
    """An uploaded file (admin). Its source is its file name."""
    try:
        parsed = parse_bytes(data, filename)
        result = _ingest_parsed(filename, parsed, force=False)
    except ParseError as exc:
        return FileResult(filename, "failed", reason=exc.reason)
    if result.status == "ingested":
        chunk_statistics_refresh()
    return result


def _ingest_parsed(rel: str, parsed: list[ParsedDocument], *, force: bool) -> FileResult:
    changed = chunks = 0
    for doc in parsed:
        document, did_change = document_ingest(doc, force=force)
        changed += int(did_change)
        chunks += document.chunks.count()
    # FAQ files hold one document per entry: entries removed from the file are removed from the base.
    sources = {doc.source for doc in parsed}
    if any("#" in s for s in sources):
        Document.objects.filter(source__startswith=f"{rel}#").exclude(source__in=sources).delete()
    return FileResult(rel, "ingested" if changed else "unchanged", documents=len(parsed), chunks=chunks)


# --------------------------------------------------------------------------- maintenance


def chunk_statistics_refresh() -> None:
    """ANALYZE the chunks after an ingestion: the full-text search picks a question's most selective terms by the
    lexeme frequencies of these planner statistics (`apps.knowledge.selectors.query_terms`), which autovacuum would
    otherwise refresh only later. It samples at most 30,000 chunks (about 1 s at 100,000)."""
    from apps.knowledge.selectors import lexeme_statistics_clear

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
    lexeme_statistics_clear()


def document_reindex(document: Document) -> int:
    """Re-embed a document's chunks with the current model and refresh its full-text vectors. Returns chunks."""
    chunks = list(document.chunks.order_by("ordinal"))
    vectors = _embed([embedding_text(c.text) for c in chunks])
    model = embeddings_model_name()
    with transaction.atomic():
        for chunk, vector in zip(chunks, vectors, strict=True):
            chunk.embedding, chunk.embedding_model = vector, model
        Chunk.objects.bulk_update(chunks, ["embedding", "embedding_model"])
        _search_vectors_update(document)
        Document.objects.filter(pk=document.pk).update(status=Document.Status.READY, error="")
    return len(chunks)


def chunks_reembed(*, only_stale: bool = True, on_progress: Callable[[int, int], None] | None = None) -> int:
    """Re-embed chunks whose model differs from the current one (or all). Returns the number re-embedded."""
    model = embeddings_model_name()
    qs = Chunk.objects.select_related("document").order_by("pk")
    if only_stale:
        qs = qs.exclude(embedding_model=model)
    total, done = qs.count(), 0
    ids = list(qs.values_list("pk", flat=True))
    for start in range(0, len(ids), EMBED_BATCH):
        batch = list(Chunk.objects.select_related("document").filter(pk__in=ids[start : start + EMBED_BATCH]))
        vectors = _embed([embedding_text(c.text) for c in batch])
        for chunk, vector in zip(batch, vectors, strict=True):
            chunk.embedding, chunk.embedding_model = vector, model
        Chunk.objects.bulk_update(batch, ["embedding", "embedding_model"])
        done += len(batch)
        if on_progress:
            on_progress(done, total)
    return done
