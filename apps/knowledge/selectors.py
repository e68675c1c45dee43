"""Hybrid retrieval (SPEC §9): pgvector HNSW cosine + PostgreSQL full-text search (French and English),
fused with (weighted) reciprocal rank fusion. Every hit carries what a citation needs (document, section, URL).

Both sides are bounded, so that a search costs about the same on 100 chunks and on 100,000:
- the vector side asks HNSW for a fixed number of nearest chunks;
- the full-text side keeps the question's most selective terms (``KNOWLEDGE_TEXT_TERMS``, by the planner's
  statistics of the chunks' lexemes), ranks the chunks matching any of them by the terms' inverse document
  frequencies and ``ts_rank_cd``, and ranks at most ``KNOWLEDGE_TEXT_CANDIDATES`` of them. Below that many matches
  the ranking is complete; above it, the chunks ranked are first those matching two of the three most selective
  terms, then others in the order the index returns them, and a better match outside them is missed
  (docs/benchmarks.md, "Knowledge search").

The fusion ranks documents, not chunks (`_fuse`): weighted reciprocal rank fusion, where a document's score is the
sum over both lists of w / (60 + the rank of its best chunk there). A vector hit weighs 1; a full-text hit weighs the
share of the question it covers, to the power ``KNOWLEDGE_TEXT_COVERAGE_POWER`` (2 by default): how many of the
question's words the search kept it contains, over their number (`text_coverage`). With plain reciprocal rank
fusion (power 0), a chunk sharing one common word with the question counted as much as one holding all of them, and
documents found by both lists, even low in both, came before the vector side's first hit: a paraphrase without
shared words, or a question in the other language, lost its right document (docs/benchmarks.md, "The last points to
90 %"). Each document contributes its best chunks
(``KNOWLEDGE_CHUNKS_PER_DOCUMENT``, default 1), so that five hits are five places to look rather than five
neighbouring paragraphs of one page.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from itertools import combinations

from django.conf import settings
from django.db import connection, transaction

from apps.ai.local.text import content_words
from apps.ai.providers import embeddings_model_name, get_embeddings
from apps.core.clients import vector_literal

RRF_K = 60
STRICT_WORDS = 3  # the strict text query: chunks matching two of the question's three most selective words
# Index entries (estimated matches) each of the text side's two queries may read: about 1.5 ms of GIN.
TEXT_INDEX_BUDGET = 10_000


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
    score: float  # weighted reciprocal rank fusion score of the hit's document
    similarity: float | None  # cosine similarity of the query to the chunk, when the vector search found it
    document: DocumentRef
    ranks: dict[str, int] = field(default_factory=dict)  # rank in each list (1-based): "vector", "text"


@dataclass
class SearchResult:
    hits: list[SearchHit]
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class Candidate:
    chunk_id: int
    document_id: int
    similarity: float | None = None
    weight: float = 1.0  # the candidate's weight in the fusion (`_fuse`)


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
) -> list[Candidate]:
    where, params = _filters(category, tag)
    literal = vector_literal(vector)
    # SET LOCAL lasts until the end of the transaction: without one (autocommit) it would be a no-op.
    with transaction.atomic(), connection.cursor() as cursor:
        # ef_search above the candidate count keeps HNSW's recall high after the model/category filters.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, limit * 4))}")
        cursor.execute(
            "SELECT c.id, c.document_id, 1 - (c.embedding <=> %s::vector) FROM knowledge_chunk c "  # noqa: S608  # filters are parameters
            "JOIN knowledge_document d ON d.id = c.document_id "
            f"WHERE c.embedding_model = %s{where} ORDER BY c.embedding <=> %s::vector LIMIT %s",
            [literal, model, *params, literal, limit],
        )
        return [Candidate(int(r[0]), int(r[1]), float(r[2])) for r in cursor.fetchall()]


def _tsquery_term(lexeme: str) -> str:
    """One lexeme as a tsquery operand, taken literally (no parsing, no stemming)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


STATS_TTL = 60.0  # seconds a process reuses the statistics it read from pg_stats


@dataclass(frozen=True)
class LexemeStatistics:
    """The planner's statistics of ``knowledge_chunk.search_vector``: its estimated row count (pg_class.reltuples)
    and the share of the chunks containing each of its most common lexemes (pg_stats.most_common_elems: up to 10 x
    the statistics target, 1,000 by default). Empty until the table is analyzed."""

    chunks: float
    frequencies: dict[str, float]

    def share(self, lexeme: str) -> float:
        """A listed lexeme's share of the chunks; half the smallest listed share for a lexeme too rare to be listed;
        0 without statistics."""
        if lexeme in self.frequencies:
            return self.frequencies[lexeme]
        return min(self.frequencies.values()) / 2 if self.frequencies else 0.0


_stats: tuple[float, LexemeStatistics] | None = None


def lexeme_statistics() -> LexemeStatistics:
    """`LexemeStatistics`, read at most once per STATS_TTL seconds per process since it costs about 1 ms;
    `chunk_statistics_refresh` (after an ingestion) clears it in its own process."""
    global _stats
    now = time.monotonic()
    if _stats is None or now - _stats[0] > STATS_TTL:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs FROM pg_class c "
                "LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname "
                "AND s.attname = 'search_vector' WHERE c.oid = 'knowledge_chunk'::regclass"
            )
            row = cursor.fetchone()
        chunks, elems, freqs = (max(0.0, float(row[0])), row[1] or [], row[2] or []) if row else (0.0, [], [])
        frequencies = {str(e): float(f) for e, f in zip(elems, freqs, strict=False)}  # freqs has 3 extra values
        _stats = (now, LexemeStatistics(chunks, frequencies))
    return _stats[1]


def lexeme_statistics_clear() -> None:
    global _stats
    _stats = None


@dataclass(frozen=True)
class Term:
    lexeme: str
    word: int  # position of the question's word it stems from (a French and an English stem share it)


def query_terms(query: str) -> list[Term]:
    """The lexemes of the question's content words (French and English stems) that some chunk contains, the most
    selective first, by `lexeme_statistics`; a lexeme too rare to be listed there counts as rarer than any listed
    one. Ties keep the question's word order."""
    words = content_words(query)
    if not words:
        return []
    freq = lexeme_statistics().frequencies
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme, min(ord) FROM unnest(%s::text[]) WITH ORDINALITY w(word, ord) CROSS JOIN LATERAL "
            "unnest(tsvector_to_array(to_tsvector('french', w.word) || to_tsvector('english', w.word))) lexeme "
            "GROUP BY lexeme",
            [words],
        )
        lexemes = sorted(cursor.fetchall(), key=lambda r: (freq.get(r[0], 0.0), r[1], r[0]))
        unlisted = [str(lexeme) for lexeme, _ in lexemes if lexeme not in freq]
        present: set[str] = set()
        if unlisted:  # rare or absent: one index probe each, each with its own constant so that the plan is the index
            cursor.execute(
                " UNION ALL ".join(
                    "SELECT %s WHERE EXISTS (SELECT 1 FROM knowledge_chunk WHERE search_vector @@ %s::tsquery)"
                    for _ in unlisted
                ),
                [p for t in unlisted for p in (t, _tsquery_term(t))],
            )
            present = {str(r[0]) for r in cursor.fetchall()}
    return [Term(str(lexeme), int(word)) for lexeme, word in lexemes if lexeme in freq or lexeme in present]


def _by_word(terms: list[Term]) -> list[list[str]]:
    """The terms' lexemes grouped by question word, in the order of each word's most selective lexeme."""
    groups: dict[int, list[str]] = {}
    for term in terms:
        groups.setdefault(term.word, []).append(term.lexeme)
    return list(groups.values())


def _any_of(lexemes: list[str]) -> str:
    return " | ".join(_tsquery_term(t) for t in lexemes)


def term_weight(lexemes: list[str]) -> float:
    """A question word's weight: the inverse document frequency of its most selective lexeme, ln(1 + 1 / its share
    of the chunks) (`LexemeStatistics.share`); 1 while the chunks have no statistics."""
    stats = lexeme_statistics()
    if not stats.frequencies:
        return 1.0
    return math.log(1.0 + 1.0 / max(min(stats.share(t) for t in lexemes), 1e-9))


def within_budget(groups: list[list[str]], minimum: int) -> list[list[str]]:
    """The first (most selective) of the lexeme ``groups`` whose estimated matches add up to at most
    TEXT_INDEX_BUDGET, and at least ``minimum`` of them: what a query may ask of the GIN index, which reads every
    entry of an OR's lexemes. All of them while the chunks have no statistics (a small or new base)."""
    stats = lexeme_statistics()
    total, kept = 0.0, list[list[str]]()
    for group in groups:
        total += sum(stats.share(t) for t in group) * stats.chunks
        if len(kept) >= minimum and total > TEXT_INDEX_BUDGET:
            break
        kept.append(group)
    return kept


def _words_matched(groups: list[list[str]], weights: list[float]) -> tuple[str, list[float | str]]:
    """SQL over a row's ``search_vector``: the sum of ``weights[i]`` for each question word ``groups[i]`` (its
    lexemes) the row contains, and its parameters."""
    terms = " + ".join("%s * (search_vector @@ %s::tsquery)::int" for _ in groups)
    return f"({terms})", [p for g, w in zip(groups, weights, strict=True) for p in (w, _any_of(g))]


def text_rank_score(terms: list[Term]) -> tuple[str, list[float | str]]:
    """The full-text side's score of a row with a ``search_vector`` column, as an SQL expression, and its parameters:
    the sum of the weights of the question words a chunk contains (`term_weight`), times (1 + ts_rank_cd over the OR
    of the terms)."""
    groups = _by_word(terms)
    weighted, params = _words_matched(groups, [term_weight(g) for g in groups])
    return f"{weighted} * (1 + ts_rank_cd(search_vector, %s::tsquery))", [
        *params,
        _any_of([t.lexeme for t in terms]),
    ]


def text_coverage(terms: list[Term]) -> tuple[str, list[float | str]]:
    """The share of the question a row with a ``search_vector`` column covers, as an SQL expression (0 to 1), and its
    parameters: how many of the question words of ``terms`` it contains, over their number (the question's most
    selective words that some chunk contains: words no chunk contains, and those beyond KNOWLEDGE_TEXT_TERMS, do
    not count). Every word counts the same: weighed by rarity, an incidental rare word ("depuis ce matin") would
    outweigh the subject of the question (docs/benchmarks.md, "The last points to 90 %")."""
    groups = _by_word(terms)
    matched, params = _words_matched(groups, [1.0] * len(groups))
    return f"{matched} / %s", [*params, float(len(groups))]


def text_rank_order(terms: list[Term]) -> tuple[str, list[float | str]]:
    """The full-text side's ORDER BY and its parameters: `text_rank_score`, best first, then the id."""
    score, params = text_rank_score(terms)
    return f"{score} DESC, id", params


def text_queries(terms: list[Term]) -> tuple[str, str]:
    """The text side's two tsqueries for ``terms`` (most selective first). The strict one: two of the three most
    selective question words (the third only within TEXT_INDEX_BUDGET). The fill: any of the terms within the
    budget. Below the budget (a base of a few thousand chunks) the fill is the OR of all the terms, so that the
    ranking is complete when fewer than KNOWLEDGE_TEXT_CANDIDATES chunks match."""
    words = within_budget(_by_word(terms)[:STRICT_WORDS], 2)
    fill = _any_of([t for g in within_budget([[t.lexeme] for t in terms], 1) for t in g])
    strict = " | ".join(f"(({_any_of(a)}) & ({_any_of(b)}))" for a, b in combinations(words, 2))
    return strict or fill, fill


def _text_candidates(query: str, limit: int, category: str | None, tag: str | None) -> list[Candidate]:
    """Chunks matching the OR of the question's most selective terms (AND would miss paraphrases), best first: by the
    sum of the weights of the question words they contain times (1 + ts_rank_cd) (`text_rank_order`), so that a chunk holding
    the question's rare words comes before one repeating its common words. At most KNOWLEDGE_TEXT_CANDIDATES chunks
    are ranked: first those matching the strict query, then others of the fill query as the index returns them
    (`text_queries`)."""
    terms = query_terms(query)[: settings.KNOWLEDGE_TEXT_TERMS]
    if not terms:
        return []
    where, params = _filters(category, tag)
    cap = settings.KNOWLEDGE_TEXT_CANDIDATES
    strict, fill = text_queries(terms)
    order, order_params = text_rank_order(terms)
    coverage, coverage_params = text_coverage(terms)
    power = settings.KNOWLEDGE_TEXT_COVERAGE_POWER
    # `|| ''::tsvector` makes one uncompressed copy of each ranked vector: the ranking reads it once per term, and
    # each read of the stored (compressed) value would decompress it again.
    matches = "SELECT c.id, c.document_id, c.search_vector || ''::tsvector AS search_vector FROM knowledge_chunk c "
    if where:  # only to filter: the join can make the planner sort every match before the LIMIT
        matches += "JOIN knowledge_document d ON d.id = c.document_id "
    # SET LOCAL lasts until the end of the transaction. Without it, a LIMIT can make the planner prefer a sequential
    # scan that stops at the cap-th match: fast when the estimate is right, a scan of the table when it is not.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"WITH s AS MATERIALIZED ({matches} WHERE c.search_vector @@ %s::tsquery{where} LIMIT %s), "  # noqa: S608  # our SQL, parameters
            f"l AS ({matches} WHERE c.search_vector @@ %s::tsquery{where} AND c.id NOT IN (SELECT id FROM s) "
            "  LIMIT greatest(0, %s - (SELECT count(*) FROM s))), "
            "m AS (SELECT * FROM s UNION ALL SELECT * FROM l) "
            f"SELECT id, document_id, {coverage} FROM m ORDER BY {order} LIMIT %s",
            [strict, *params, cap, fill, *params, cap, *coverage_params, *order_params, limit],
        )
        return [Candidate(int(r[0]), int(r[1]), weight=float(r[2]) ** power) for r in cursor.fetchall()]


def _fuse(
    lists: dict[str, list[Candidate]], k: int, per_document: int
) -> list[tuple[Candidate, float, dict[str, int]]]:
    """Weighted reciprocal rank fusion by document. A chunk's score is the sum of its weight / (RRF_K + its rank)
    over the lists; a document's, the same with the weight and rank of its best chunk in each list. Documents by
    score (then by their best chunk's), each with its ``per_document`` best chunks; the first ``k`` of those, as
    (candidate, document score, the chunk's rank in each list)."""
    chunk_score: dict[int, float] = {}
    doc_score: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    found: dict[int, Candidate] = {}
    for name, candidates in lists.items():
        seen_docs: set[int] = set()
        for rank, cand in enumerate(candidates, 1):
            contribution = cand.weight / (RRF_K + rank)
            chunk_score[cand.chunk_id] = chunk_score.get(cand.chunk_id, 0.0) + contribution
            ranks.setdefault(cand.chunk_id, {})[name] = rank
            found.setdefault(cand.chunk_id, cand)
            if cand.document_id not in seen_docs:
                seen_docs.add(cand.document_id)
                doc_score[cand.document_id] = doc_score.get(cand.document_id, 0.0) + contribution
    by_doc: dict[int, list[int]] = {}
    for chunk_id in sorted(chunk_score, key=lambda cid: (-chunk_score[cid], cid)):
        by_doc.setdefault(found[chunk_id].document_id, []).append(chunk_id)
    docs = sorted(by_doc, key=lambda d: (-doc_score[d], -chunk_score[by_doc[d][0]], by_doc[d][0]))
    fused = [(found[cid], doc_score[doc], ranks[cid]) for doc in docs for cid in by_doc[doc][:per_document]]
    return fused[:k]


def knowledge_search(
    query: str,
    *,
    k: int | None = None,
    category: str | None = None,
    tag: str | None = None,
    min_similarity: float | None = None,
) -> SearchResult:
    """The best ``k`` chunks for ``query``, at most KNOWLEDGE_CHUNKS_PER_DOCUMENT of one document. A chunk qualifies
    when its cosine similarity reaches the model's minimum (KNOWLEDGE_MIN_SIMILARITY) or when full-text search
    finds it; qualifying chunks are ranked by weighted reciprocal rank fusion of both lists, by document (`_fuse`).
    A hit's ``score`` is its document's fused score. Raises ValueError for an empty query."""
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

    similarity = {c.chunk_id: c.similarity for c in vec if c.similarity is not None}
    qualified = [c for c in vec if c.similarity is not None and c.similarity >= threshold]
    fused = _fuse({"vector": qualified, "text": txt}, k, settings.KNOWLEDGE_CHUNKS_PER_DOCUMENT)
    hits = _hydrate(fused, similarity)
    t4 = time.perf_counter()
    timings = {
        "embed": (t1 - t0) * 1000,
        "vector": (t2 - t1) * 1000,
        "text": (t3 - t2) * 1000,
        "total": (t4 - t0) * 1000,
    }
    return SearchResult(hits=hits, timings_ms={k_: round(v, 2) for k_, v in timings.items()})


def _hydrate(fused: list[tuple[Candidate, float, dict[str, int]]], similarity: dict[int, float]) -> list[SearchHit]:
    with connection.cursor() as cursor:  # one query without the ORM: a third of the search's own time otherwise
        cursor.execute(
            "SELECT c.id, c.text, c.section, d.id, d.title, d.source, d.url FROM knowledge_chunk c "
            "JOIN knowledge_document d ON d.id = c.document_id WHERE c.id = ANY(%s)",
            [[cand.chunk_id for cand, _, _ in fused]],
        )
        rows = {int(r[0]): r for r in cursor.fetchall()}
    hits = []
    for cand, score, ranks in fused:
        row = rows.get(cand.chunk_id)
        if row is None:  # deleted since the candidate lists were read
            continue
        _, text, section, doc_id, title, source, url = row
        sim = similarity.get(cand.chunk_id)
        hits.append(
            SearchHit(
                chunk_id=cand.chunk_id,
                text=text,
                score=round(score, 6),
                similarity=round(sim, 4) if sim is not None else None,
                document=DocumentRef(int(doc_id), title, section, source, url),
                ranks=ranks,
            )
        )
    return hits
