"""Fusion of the knowledge search's two lists on the evaluation set: the product's weighted reciprocal rank fusion
(full-text hits weighed by the share of the question they cover) against plain reciprocal rank fusion and the other
alternatives tried for issue 4 (score fusion, cross-language handling, sentence-level vectors), with a split-half
check of every parameter chosen on the questions.

Run: `cd /work/main && .venv/bin/python -m bench fusion` (about 30 s, under a load of 11 to 14; `-h` for the options).
Everything runs against the embedded PostgreSQL and Redis of a fresh data dir under /tmp (dev settings, the default
embeddings), migrated, with docs/knowledge ingested by the real ingestion; the servers are stopped at the end.

1. For each question of docs/knowledge/eval/questions.json: the selectors' own lists, as `knowledge_search` reads them
   (`_vector_candidates` and `_text_candidates`, 20 chunks each, no minimum similarity), each text candidate's
   full-text score (`text_rank_score`) and share of the question (`text_coverage`), the cosine of the question to every chunk and to every sentence of every
   chunk (the same model, numpy), and the question's language (`detect_language`).
2. Every variant ranks documents from those lists (a document by its best chunk) and is scored like `bench
   embedders`: recall@5 and MRR@5 by source file, per subset (French, English, cross-language). The first row is
   `selectors._fuse` itself, checked against `knowledge_search`.
3. A variant family with a parameter (the coverage power, the RRF constant, the text list's weight, the score
   fusion's weight) is also scored held-out: over 300 random halvings of the questions, the parameter is chosen on one
   half (recall@5, then MRR@5; ties: the middle of the plateau) and scored on the other, next to plain reciprocal
   rank fusion (power 0, the product before) on the same half.
Tables on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench._harness import in_process_main  # noqa: E402
from bench.bot import setup  # noqa: E402  (the same fresh, migrated data dir)
from bench.startup import BenchError  # noqa: E402

K = 5
POOL = 20  # what knowledge_search reads from each side for k=5: max(20, 4 k)
RRF_K = 60
SPLITS = 300


def _log(msg: str) -> None:
    print(f"[bench.fusion {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Case:
    """One question and what the search knows about it."""

    question: Any  # apps.knowledge.evaluation.Question
    language: str  # detected, as a query-time rule would see it
    vector: list[tuple[int, float]]  # (chunk, cosine), best first
    text: list[tuple[int, float]]  # (chunk, full-text score), best first
    coverage: dict[int, float]  # text candidate -> share of the question it covers (`text_coverage`)
    cosine: dict[int, float]  # every chunk
    sentence: dict[int, float]  # every chunk: its best sentence's cosine


Ranker = Callable[[Case], list[int]]  # a question -> document ids, best first


def collect() -> tuple[list[Case], dict[int, dict[str, Any]], dict[str, Any]]:
    """The cases, the chunks (document, source, language) and facts for the report."""
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from apps.ai.local.text import detect_language, sentences
    from apps.ai.providers import embeddings_model_name, get_embeddings
    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge import selectors
    from apps.knowledge.evaluation import load_questions
    from apps.knowledge.models import Chunk
    from apps.knowledge.services import knowledge_ingest_paths

    report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
    if report.count("failed"):
        raise BenchError("the demo knowledge base did not ingest cleanly")
    embedder, model = get_embeddings(), embeddings_model_name()
    rows = list(Chunk.objects.select_related("document").order_by("id"))
    chunks = {
        c.id: {"document": c.document_id, "source": c.document.source, "language": c.document.language} for c in rows
    }
    ids = [c.id for c in rows]
    matrix = np.asarray([c.embedding for c in rows], dtype="float32")
    owners, texts = [], []
    for c in rows:
        for sentence in sentences(c.text):
            owners.append(c.id)
            texts.append(sentence)
    sentence_matrix = np.asarray(embedder.embed_documents(texts), dtype="float32")
    cases = []
    for q in load_questions():
        query = " ".join(q.question.split())
        qv = embedder.embed_query(query)
        vec = selectors._vector_candidates(qv, model, POOL, None, None)
        txt = selectors._text_candidates(query, POOL, None, None)
        terms = selectors.query_terms(query)[: settings.KNOWLEDGE_TEXT_TERMS]
        scores: dict[int, float] = {}
        coverage: dict[int, float] = {}
        if txt:
            expr, params = selectors.text_rank_score(terms)
            share, share_params = selectors.text_coverage(terms)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {expr}, {share} FROM knowledge_chunk WHERE id = ANY(%s)",  # noqa: S608  # our SQL
                    [*params, *share_params, [c.chunk_id for c in txt]],
                )
                for chunk_id, score, covered in cursor.fetchall():
                    scores[int(chunk_id)], coverage[int(chunk_id)] = float(score), float(covered)
        qa = np.asarray(qv, dtype="float32")
        sentence_best: dict[int, float] = {}
        for owner, value in zip(owners, (sentence_matrix @ qa).tolist(), strict=True):
            sentence_best[owner] = max(sentence_best.get(owner, -1.0), value)
        cases.append(
            Case(
                question=q,
                language=detect_language(q.question),
                vector=[(c.chunk_id, float(c.similarity or 0.0)) for c in vec],
                text=[(c.chunk_id, scores[c.chunk_id]) for c in txt],
                coverage=coverage,
                cosine=dict(zip(ids, (matrix @ qa).tolist(), strict=True)),
                sentence=sentence_best,
            )
        )
    facts = {"model": model, "chunks": len(rows), "sentences": len(texts), "questions": len(cases)}
    return cases, chunks, facts


# --------------------------------------------------------------------------- rankers


def documents(chunk_ids: list[int], chunks: dict[int, dict[str, Any]]) -> list[int]:
    """Chunk ids -> their documents in order of first appearance."""
    out: list[int] = []
    for cid in chunk_ids:
        doc = chunks[cid]["document"]
        if doc not in out:
            out.append(doc)
    return out


def rrf(
    lists: list[tuple[list[int], float | dict[int, float]]],
    chunks: dict[int, dict[str, Any]],
    k: float = RRF_K,
    extra: dict[int, float] | None = None,
) -> list[int]:
    """`selectors._fuse` with a weight per list or per chunk: lists of chunk ids, each with its weight (one for the
    list, or one per chunk); a document's score is the sum over the lists of the weight of its best chunk there /
    (k + that chunk's rank), plus ``extra`` per document; ties go to the document whose best chunk scores higher, then
    to the lower chunk id, as in the product."""
    chunk_score: dict[int, float] = {}
    doc_score: dict[int, float] = dict(extra or {})
    for ids, weights in lists:
        seen: set[int] = set()
        for rank, cid in enumerate(ids, 1):
            weight = weights[cid] if isinstance(weights, dict) else weights
            chunk_score[cid] = chunk_score.get(cid, 0.0) + weight / (k + rank)
            doc = chunks[cid]["document"]
            if doc not in seen:
                seen.add(doc)
                doc_score[doc] = doc_score.get(doc, 0.0) + weight / (k + rank)
    best: dict[int, int] = {}
    for cid in sorted(chunk_score, key=lambda c: (-chunk_score[c], c)):
        best.setdefault(chunks[cid]["document"], cid)
    return sorted(best, key=lambda d: (-doc_score[d], -chunk_score[best[d]], best[d]))


def rankers(chunks: dict[int, dict[str, Any]]) -> dict[str, Ranker]:
    """Every variant, by name. Families with a parameter are named `family(value)`."""
    from apps.knowledge import selectors

    def docs(ids: list[int]) -> list[int]:
        return documents(ids, chunks)

    from django.conf import settings

    power = settings.KNOWLEDGE_TEXT_COVERAGE_POWER

    def product(case: Case) -> list[int]:
        lists = {
            "vector": [selectors.Candidate(c, chunks[c]["document"], s) for c, s in case.vector],
            "text": [
                selectors.Candidate(c, chunks[c]["document"], weight=case.coverage[c] ** power) for c, _ in case.text
            ],
        }
        return [cand.document_id for cand, _, _ in selectors._fuse(lists, len(chunks), 1)]

    def weighted(k: float, vector: float, text: float) -> Ranker:
        return lambda case: rrf([([c for c, _ in case.vector], vector), ([c for c, _ in case.text], text)], chunks, k)

    def coverage(p: float) -> Ranker:
        def rank(case: Case) -> list[int]:
            text = {c: case.coverage[c] ** p for c, _ in case.text}
            return rrf([([c for c, _ in case.vector], 1.0), ([c for c, _ in case.text], text)], chunks)

        return rank

    def score_fusion(beta: float) -> Ranker:
        def rank(case: Case) -> list[int]:
            best_text = max((s for _, s in case.text), default=0.0) or 1.0
            text = {c: s / best_text for c, s in case.text}
            fused: dict[int, float] = {}
            for cid in {c for c, _ in case.vector} | set(text):
                doc = chunks[cid]["document"]
                fused[doc] = max(fused.get(doc, -9.0), case.cosine[cid] + beta * text.get(cid, 0.0))
            return sorted(fused, key=lambda d: (-fused[d], d))

        return rank

    def cross_language(mode: str) -> Ranker:
        """The text list keeps only documents in the question's language; "impute" also counts a document in the
        other language in the text list at its vector rank (vectors only decide between languages)."""

        def rank(case: Case) -> list[int]:
            vector = [c for c, _ in case.vector]
            text = [c for c, _ in case.text if _language(chunks[c]["document"]) == case.language]
            extra = {}
            if mode == "impute":
                extra = {d: 1.0 / (RRF_K + r) for r, d in enumerate(docs(vector), 1) if _language(d) != case.language}
            return rrf([(vector, 1.0), (text, 1.0)], chunks, extra=extra)

        return rank

    language_of = {c["document"]: c["language"] for c in chunks.values()}

    def _language(doc: int) -> str:
        return str(language_of[doc])

    def best_sentence_list(case: Case) -> list[int]:
        return sorted(case.sentence, key=lambda c: -case.sentence[c])[:POOL]

    def sentence_rerank(case: Case) -> list[int]:
        """The product's first 20 documents re-ranked by RRF of their fused rank and their best sentence's rank."""
        fused = product(case)[:POOL]
        best: dict[int, float] = {}
        for cid in [c for c, _ in case.vector] + [c for c, _ in case.text]:
            doc = chunks[cid]["document"]
            best[doc] = max(best.get(doc, -9.0), case.sentence.get(cid, -9.0))
        by_sentence = sorted(fused, key=lambda d: -best.get(d, -9.0))
        score = {d: 1.0 / (RRF_K + r) for r, d in enumerate(fused, 1)}
        for r, d in enumerate(by_sentence, 1):
            score[d] += 1.0 / (RRF_K + r)
        return sorted(fused, key=lambda d: -score[d])  # stable: ties keep the fused order

    def three_lists(case: Case) -> list[int]:
        return rrf(
            [([c for c, _ in case.vector], 1.0), ([c for c, _ in case.text], 1.0), (best_sentence_list(case), 1.0)],
            chunks,
        )

    def chunk_and_sentence(case: Case) -> list[int]:
        both = {c: case.cosine[c] + case.sentence.get(c, case.cosine[c]) for c in case.cosine}
        vector = sorted(both, key=lambda c: -both[c])[:POOL]
        return rrf([(vector, 1.0), ([c for c, _ in case.text], 1.0)], chunks)

    out: dict[str, Ranker] = {
        f"product: RRF k=60, full-text hits weighed by coverage^{power:g} (selectors._fuse)": product,
        f"rrf() of this bench, coverage^{power:g} (must equal the product)": coverage(power),
        "plain RRF k=60, weights 1 (the product before)": weighted(RRF_K, 1.0, 1.0),
        "vector list only": lambda case: docs([c for c, _ in case.vector]),
        "text list only": lambda case: docs([c for c, _ in case.text]),
        "cross-language: text list in the question's language only": cross_language("drop"),
        "cross-language: and other-language documents ranked by vectors only": cross_language("impute"),
        "sentence vectors: 2nd stage, RRF of fused rank and best-sentence rank (top 20)": sentence_rerank,
        "sentence vectors: third RRF list (chunks by best sentence)": three_lists,
        "sentence vectors: vector list by chunk + best-sentence cosine": chunk_and_sentence,
    }
    for p in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        out[f"coverage_power({p:g})"] = coverage(p)
    for k in (10, 30, 100):
        out[f"rrf_k({k})"] = weighted(k, 1.0, 1.0)
    for w in (0.5, 0.75, 1.5, 2.0):
        out[f"rrf_text_weight({w})"] = weighted(RRF_K, 1.0, w)
    for beta in (0.05, 0.1, 0.15, 0.175, 0.2, 0.225, 0.25, 0.3, 0.4):
        out[f"score_fusion({beta})"] = score_fusion(beta)
    return out


# --------------------------------------------------------------------------- scoring


def first_ranks(ranker: Ranker, cases: list[Case], chunks: dict[int, dict[str, Any]]) -> list[int | None]:
    from apps.knowledge.evaluation import first_rank

    source_of = {c["document"]: c["source"] for c in chunks.values()}
    out = []
    for case in cases:
        rank = first_rank([source_of[d] for d in ranker(case)[:K]], case.question.source)
        out.append(rank)
    return out


def scores(ranks: list[int | None], cases: list[Case], subset: list[int] | None = None) -> dict[str, Any]:
    from apps.knowledge.evaluation import Scores

    s = Scores(k=K)
    for i in subset if subset is not None else range(len(cases)):
        s.add(cases[i].question, ranks[i])
    return s.as_dict()


def held_out(family: dict[str, list[int | None]], baseline: list[int | None], cases: list[Case]) -> dict[str, float]:
    """Mean held-out recall@5 of a family whose parameter is chosen on the other half, and the baseline's."""
    n = len(cases)
    chosen, mine, base = [], [], []
    for seed in range(SPLITS):
        order = list(range(n))
        random.Random(seed).shuffle(order)
        train, test = order[: n // 2], order[n // 2 :]

        def fit(name: str, train: list[int] = train) -> tuple[float, float]:
            d = scores(family[name], cases, train)
            return round(d["recall"], 9), round(d["mrr"], 9)

        best = max(fit(name) for name in family)
        plateau = [name for name in family if fit(name) == best]  # in the family's order (increasing parameter)
        name = plateau[(len(plateau) - 1) // 2]
        chosen.append(name)
        mine.append(scores(family[name], cases, test)["recall"])
        base.append(scores(baseline, cases, test)["recall"])
    diffs = [a - b for a, b in zip(mine, base, strict=True)]
    return {
        "held_out_recall": statistics.mean(mine),
        "baseline_recall": statistics.mean(base),
        "difference": statistics.mean(diffs),
        "difference_sd": statistics.pstdev(diffs),
        "share_not_worse": sum(d >= 0 for d in diffs) / len(diffs),
        "most_chosen": max(set(chosen), key=chosen.count),
    }


def measure() -> dict[str, Any]:
    from apps.knowledge.evaluation import first_rank
    from apps.knowledge.selectors import knowledge_search

    t0 = time.perf_counter()
    cases, chunks, facts = collect()
    facts["collect_s"] = time.perf_counter() - t0
    named = rankers(chunks)
    ranks = {name: first_ranks(r, cases, chunks) for name, r in named.items()}
    product = next(ranks[n] for n in named if n.startswith("product:"))
    own = next(ranks[n] for n in named if n.startswith("rrf() of this bench"))
    baseline = ranks["plain RRF k=60, weights 1 (the product before)"]

    real = [
        first_rank([h.document.source for h in knowledge_search(c.question.question, k=K, min_similarity=-1).hits],
                   c.question.source)
        for c in cases
    ]  # fmt: skip
    if real != product:
        raise BenchError("selectors._fuse over the collected lists does not rank like knowledge_search")
    if own != product:
        raise BenchError("this benchmark's weighted rrf() does not rank like selectors._fuse")
    families = {
        f: {n: ranks[n] for n in named if n.startswith(f"{f}(")}
        for f in ("coverage_power", "rrf_k", "rrf_text_weight", "score_fusion")
    }
    families["rrf_k"]["rrf_k(60)"] = baseline
    families["rrf_k"] = dict(sorted(families["rrf_k"].items(), key=lambda kv: float(kv[0][6:-1])))
    families["rrf_text_weight"]["rrf_text_weight(1.0)"] = baseline
    families["rrf_text_weight"] = dict(sorted(families["rrf_text_weight"].items(), key=lambda kv: float(kv[0][16:-1])))
    return {
        **facts,
        "variants": {name: scores(r, cases) for name, r in ranks.items()},
        "held_out": {f: held_out(fam, baseline, cases) for f, fam in families.items()},
    }


def report(r: dict[str, Any], machine: dict[str, str]) -> str:
    def pc(v: float) -> str:
        return f"{100 * v:.1f} %"

    out = [
        f"Model {r['model']}; {r['questions']} questions, {r['chunks']} chunks, {r['sentences']} sentences. "
        f"Date: {machine.get('date', '?')}. Machine: {machine.get('nproc', '?')} CPUs, {machine.get('cpu', '?')}. "
        f"Load average before/after: {r['load'][0]:.1f} / {r['load'][1]:.1f}.",
        "",
        "| Ranking | recall@5 | MRR@5 | FR | EN | cross |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in r["variants"].items():
        out.append(
            f"| {name} | {pc(s['recall'])} ({round(s['recall'] * s['n'])}) | {s['mrr']:.3f} | {pc(s['recall_fr'])} "
            f"| {pc(s['recall_en'])} | {pc(s['recall_cross'])} |"
        )
    out += [
        "",
        f"Held out ({SPLITS} random halvings; the parameter chosen on one half, scored on the other):",
        "",
        "| Family | held-out recall@5 | plain RRF on the same halves | difference (sd) | halves not worse | most chosen |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for family, h in r["held_out"].items():
        out.append(
            f"| {family} | {pc(h['held_out_recall'])} | {pc(h['baseline_recall'])} | "
            f"{100 * h['difference']:+.1f} pts ({100 * h['difference_sd']:.1f}) | {pc(h['share_not_worse'])} | "
            f"{h['most_chosen']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    return in_process_main("fusion", argv, __doc__, setup, measure, report, _log, "ingesting and collecting the lists")


if __name__ == "__main__":
    sys.exit(main())
