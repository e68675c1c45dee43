"""Retrieval quality of the knowledge search on the demo knowledge base (docs/knowledge/eval/).

Used by `python -m bench embedders` (which compares the embedding models) and by the quality gate
`tests/knowledge/test_eval.py`. A question is scored at document level: it is found when a chunk of the document
that answers it (the eval's ``source`` file; for FAQ entries, stored as ``faq.json#N-slug``, the prefix) is among
the first ``k`` hits. MRR is over the first ``k`` hits (0 when the document is not among them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

EVAL_DIR = Path(settings.BASE_DIR) / "docs" / "knowledge" / "eval"


@dataclass(frozen=True)
class Question:
    question: str
    language: str
    source: str
    section: str
    cross_language: bool = False

    @property
    def subset(self) -> str:
        """ "cross" for a question whose language differs from its answer's, else its language ("fr", "en")."""
        return "cross" if self.cross_language else self.language


def load_questions(path: Path | None = None) -> list[Question]:
    data = json.loads((path or EVAL_DIR / "questions.json").read_text(encoding="utf-8"))
    return [
        Question(
            question=q["question"],
            language=q["language"],
            source=q["source"],
            section=q.get("section", ""),
            cross_language=bool(q.get("cross_language", False)),
        )
        for q in data
    ]


def load_json(name: str) -> list[dict[str, Any]]:
    """Another file of the eval folder: ``off_topic.json`` (questions the base cannot answer), ``label_pairs.json``."""
    return list(json.loads((EVAL_DIR / name).read_text(encoding="utf-8")))


def source_matches(document_source: str, expected: str) -> bool:
    return document_source == expected or document_source.startswith(f"{expected}#")


def first_rank(sources: Sequence[str], expected: str) -> int | None:
    """1-based rank of the first hit from the ``expected`` document, None when absent."""
    for rank, source in enumerate(sources, 1):
        if source_matches(source, expected):
            return rank
    return None


@dataclass
class Scores:
    """Recall@k and MRR@k over a set of questions, overall and per subset ("fr", "en", "cross")."""

    k: int
    ranks: list[int | None] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)

    def add(self, question: Question, rank: int | None) -> None:
        self.ranks.append(rank if rank is not None and rank <= self.k else None)
        self.subsets.append(question.subset)

    def _pick(self, subset: str | None) -> list[int | None]:
        return [r for r, s in zip(self.ranks, self.subsets, strict=True) if subset is None or s == subset]

    def recall(self, subset: str | None = None) -> float:
        ranks = self._pick(subset)
        return sum(r is not None for r in ranks) / len(ranks) if ranks else 0.0

    def mrr(self, subset: str | None = None) -> float:
        ranks = self._pick(subset)
        return sum(1.0 / r for r in ranks if r is not None) / len(ranks) if ranks else 0.0

    def count(self, subset: str | None = None) -> int:
        return len(self._pick(subset))

    def misses(self, questions: Sequence[Question]) -> list[Question]:
        return [q for q, r in zip(questions, self.ranks, strict=True) if r is None]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.k, "n": self.count(), "recall": self.recall(), "mrr": self.mrr()}
        for subset in ("fr", "en", "cross"):
            out[f"recall_{subset}"] = self.recall(subset)
            out[f"n_{subset}"] = self.count(subset)
        return out


def evaluate(questions: Sequence[Question], search: Callable[[str], Sequence[str]], *, k: int = 5) -> Scores:
    """Score ``search`` (a question -> the document sources of its hits, best first) on ``questions``."""
    scores = Scores(k=k)
    for q in questions:
        scores.add(q, first_rank(list(search(q.question))[:k], q.source))
    return scores


def knowledge_search_sources(k: int = 5, min_similarity: float | None = None) -> Callable[[str], list[str]]:
    """``evaluate``'s ``search`` through the real hybrid search (`apps.knowledge.selectors.knowledge_search`)."""
    from apps.knowledge.selectors import knowledge_search

    def search(query: str) -> list[str]:
        return [hit.document.source for hit in knowledge_search(query, k=k, min_similarity=min_similarity).hits]

    return search


# --------------------------------------------------------------------------- calibration

LABEL_KINDS = ("same", "alias", "different")


def label_class(similarity: float, reuse: float, alias: float) -> str:
    """What `label_resolve` does with a label at ``similarity`` of its nearest: same / alias / different."""
    similarity = round(similarity, 6)  # as label_resolve compares
    return "same" if similarity >= reuse else "alias" if similarity >= alias else "different"


def label_accuracy(pairs: Sequence[tuple[str, float]], reuse: float, alias: float) -> dict[str, float]:
    """Per kind, the share of ``(kind, cosine)`` pairs that the thresholds put in their kind; "balanced" is the
    mean of the three."""
    out: dict[str, float] = {}
    for kind in LABEL_KINDS:
        sims = [s for k, s in pairs if k == kind]
        out[kind] = sum(label_class(s, reuse, alias) == kind for s in sims) / len(sims) if sims else 0.0
    out["balanced"] = sum(out[k] for k in LABEL_KINDS) / len(LABEL_KINDS)
    return out


def calibrate_label_thresholds(pairs: Sequence[tuple[str, float]], step: float = 0.01) -> tuple[float, float]:
    """(reuse, alias) cut-offs on a ``step`` grid that maximise the balanced accuracy over labeled pairs. Among
    equally good pairs of cut-offs, the middle of the plateau (median reuse, then median alias), so that each
    cut-off sits between the classes rather than on one of them."""
    grid = [round(i * step, 6) for i in range(round(-0.2 / step), round(1.0 / step) + 1)]
    best, optimal = -1.0, list[tuple[float, float]]()
    for reuse in grid:
        for alias in grid:
            if alias >= reuse:
                break
            score = round(label_accuracy(pairs, reuse, alias)["balanced"], 9)
            if score > best:
                best, optimal = score, [(reuse, alias)]
            elif score == best:
                optimal.append((reuse, alias))
    reuses = sorted({r for r, _ in optimal})
    reuse = reuses[(len(reuses) - 1) // 2]
    aliases = sorted(a for r, a in optimal if r == reuse)
    return reuse, aliases[(len(aliases) - 1) // 2]


def calibrate_min_similarity(correct_similarities: Sequence[float], keep: float = 0.95, step: float = 0.01) -> float:
    """The highest cut-off on a ``step`` grid that keeps at least ``keep`` of ``correct_similarities`` (the
    cosine of the first vector hit of the questions whose first vector hit is the right document)."""
    sims = sorted(correct_similarities)
    if not sims:
        return -1.0
    allowed = len(sims) - math.ceil(keep * len(sims))  # how many may fall below the cut-off
    value = sims[allowed]
    return round(math.floor(value / step + 1e-9) * step, 6)
