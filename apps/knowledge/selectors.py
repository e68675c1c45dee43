"""Hybrid retrieval (SPEC §9): pgvector HNSW cosine + PostgreSQL full-text search (French and English),
fused with reciprocal rank fusion. Every hit carries what a citation needs (document, section, URL)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction

from apps.ai.local.text import content_words
from apps.ai.providers import embeddings_model_name, get_embeddings
from apps.core.clients import vector_literal

RRF_K = 60


@dataclass(frozen=True)
class DocumentRef:
    id: int
    title: str
    section: str
    source: str
    url: str


@dataclass
class SearchHit:
    chunk_id: int
    text: str
    score: float  # reciprocal rank fusion score
    similarity: float | None  # cosine similarity of the query to the chunk, when the vector search found it
    document: DocumentRef
    ranks: dict[str, int] = field(default_factory=dict)  # rank in each list (1-based): "vector", "text"


@dataclass
class SearchResult:
    hits: list[SearchHit]
    timings_ms: dict[str, float]


def min_similarity_for(model_name: str) -> float:
    table = settings.KNOWLEDGE_MIN_SIMILARITY
    return float(table.get(model_name, table["default"]))


def _filters(category: str | None, tag: str | None) -> tuple[str, list[str]]:
    sql, params = "", list[str]()
    if category:
        sql += " AND d.category = %s"
        params.append(category)
    if tag:
        sql += " AND d.tags @> %s::jsonb"
        params.append(json.dumps([tag]))
    return sql, params


def _vector_candidates(
    vector: list[float], model: str, limit: int, category: str | None, tag: str | None
) -> list[tuple[int, float]]:
    where, params = _filters(category, tag)
    literal = vector_literal(vector)
    # SET LOCAL lasts until the end of the transaction: without one (autocommit) it would be a no-op.
    with transaction.atomic(), connection.cursor() as cursor:
        # ef_search above the candidate count keeps HNSW's recall high after the model/category filters.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, limit * 4))}")
        cursor.execute(
            "SELECT c.id, 1 - (c.embedding <=> %s::vector) FROM knowledge_chunk c "  # noqa: S608  # filters are parameters
            "JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE c.embedding_model = %s{where} ORDER BY c.embedding <=> %s::vector LIMIT %s",
            [literal, model, *params, literal, limit],
        )
        return [(int(r[0]), float(r[1])) for r in cursor.fetchall()]


def _text_candidates(query: str, limit: int, category: str | None, tag: str | None) -> list[int]:
    terms = content_words(query)
    if not terms:
        return []
    where, params = _filters(category, tag)
    # OR of the query's words in both languages (AND would miss paraphrases); ts_rank_cd ranks by density.
    or_query = " ".join(terms)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH q AS (SELECT "  # noqa: S608  # only our own constant SQL and parameters
            "replace(plainto_tsquery('french', %s)::text, '&', '|')::tsquery || "
            "replace(plainto_tsquery('english', %s)::text, '&', '|')::tsquery AS tsq) "
            "SELECT c.id FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id, q "
            f"WHERE c.search_vector @@ q.tsq{where} ORDER BY ts_rank_cd(c.search_vector, q.tsq) DESC, c.id LIMIT %s",
            [or_query, or_query, *params, limit],
        )
        return [int(r[0]) for r in cursor.fetchall()]


def knowledge_search(
    query: str,
    *,
    k: int | None = None,
    category: str | None = None,
    tag: str | None = None,
    min_similarity: float | None = None,
) -> SearchResult:
    """The best ``k`` chunks for ``query``. A chunk qualifies when its cosine similarity reaches the model's
    minimum (KNOWLEDGE_MIN_SIMILARITY) or when full-text search finds it; qualifying chunks are ranked by
    reciprocal rank fusion of both lists. Raises ValueError for an empty query."""
    query = " ".join(query.split())
    if not query:
        raise ValueError("empty query")
    k = k or settings.KNOWLEDGE_TOP_K
    model = embeddings_model_name()
    threshold = min_similarity_for(model) if min_similarity is None else min_similarity
    pool = max(20, k * 4)
    t0 = time.perf_counter()
    vector = get_embeddings().embed_query(query)
    t1 = time.perf_counter()
    vec = _vector_candidates(vector, model, pool, category, tag)
    t2 = time.perf_counter()
    txt = _text_candidates(query, pool, category, tag)
    t3 = time.perf_counter()

    similarity = dict(vec)
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for rank, (chunk_id, sim) in enumerate(vec, 1):
        if sim >= threshold:
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
            ranks.setdefault(chunk_id, {})["vector"] = rank
    for rank, chunk_id in enumerate(txt, 1):
        scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        ranks.setdefault(chunk_id, {})["text"] = rank
    best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    hits = _hydrate(best, scores, similarity, ranks)
    t4 = time.perf_counter()
    timings = {
        "embed": (t1 - t0) * 1000,
        "vector": (t2 - t1) * 1000,
        "text": (t3 - t2) * 1000,
        "total": (t4 - t0) * 1000,
    }
    return SearchResult(hits=hits, timings_ms={k_: round(v, 2) for k_, v in timings.items()})


def _hydrate(
    ids: list[int], scores: dict[int, float], similarity: dict[int, float], ranks: dict[int, dict[str, int]]
) -> list[SearchHit]:
    from apps.knowledge.models import Chunk

    chunks = {c.pk: c for c in Chunk.objects.select_related("document").filter(pk__in=ids)}
    hits = []
    for cid in ids:
        chunk = chunks.get(cid)
        if chunk is None:
            continue
        doc = chunk.document
        hits.append(
            SearchHit(
                chunk_id=cid,
                text=chunk.text,
                score=round(scores[cid], 6),
                similarity=round(similarity[cid], 4) if cid in similarity else None,
                document=DocumentRef(doc.pk, doc.title, chunk.section, doc.source, doc.url),
                ranks=ranks.get(cid, {}),
            )
        )
    return hits
