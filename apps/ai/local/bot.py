"""Extractive answers for the bot's first line with the offline provider (SPEC §4, §6): no language model, the
best sentences of the retrieved passages, chosen by embedding similarity to the question."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings

from apps.ai.local.text import words

MAX_CANDIDATES = 60  # sentences embedded per answer: bounds the cost on long passages
MIN_WORDS = 4  # shorter lines are headings, list stubs or labels, not answers
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_SPLIT = re.compile(r"(?<=[.!?…;:])\s+(?=[«\"(A-ZÀ-ÖØ-Þ0-9])")


@dataclass(frozen=True)
class Sentence:
    passage: int  # index in the passages given
    position: int  # order within the passage
    paragraph: int
    text: str


@dataclass(frozen=True)
class ExtractiveAnswer:
    text: str
    passages: list[int]  # indexes of the passages the sentences come from, in answer order
    similarity: float  # cosine of the question to the best sentence


def passage_sentences(passages: Sequence[str], limit: int = MAX_CANDIDATES) -> list[Sentence]:
    """The passages' sentences (list items count as sentences), without headings and stubs, at most ``limit``,
    earlier passages first. Lines a paragraph was wrapped at are joined first."""
    out: list[Sentence] = []
    for p_index, passage in enumerate(passages):
        position = 0
        for para_index, paragraph in enumerate(re.split(r"\n\s*\n", passage)):
            items: list[str] = []
            for line in paragraph.splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if _BULLET.match(line) or not items:
                    items.append(_BULLET.sub("", line))
                else:
                    items[-1] = f"{items[-1]} {line}"
            for item in items:
                for piece in _SPLIT.split(item):
                    piece = piece.strip()
                    if len(words(piece)) < MIN_WORDS:
                        continue
                    out.append(Sentence(p_index, position, para_index, piece))
                    position += 1
    return out[:limit]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def extractive_answer(
    question: str,
    passages: Sequence[str],
    embeddings: Embeddings,
    *,
    max_sentences: int = 3,
    max_chars: int = 600,
    rank_penalty: float = 0.02,
) -> ExtractiveAnswer | None:
    """The 1–``max_sentences`` sentences of ``passages`` (best retrieved first) that answer ``question`` best.

    The best sentence is the one most similar to the question (cosine of the embeddings), with a small penalty per
    retrieval rank so that near ties go to the better-ranked passage. Sentences of the same passage join it when
    they are nearly as similar, or when they directly follow it in its paragraph (the usual shape of a
    knowledge-base answer: a statement, then its condition or exception). Sentences keep their order in the
    passage. None when the passages hold no sentence.
    """
    candidates = passage_sentences(passages)
    if not candidates:
        return None
    question_vector = embeddings.embed_query(question)
    vectors = embeddings.embed_documents([s.text for s in candidates])
    sims = [_cosine(question_vector, v) for v in vectors]
    scored = [(sim - rank_penalty * s.passage, sim, s) for sim, s in zip(sims, candidates, strict=True)]
    _, best_sim, best = max(scored, key=lambda item: (item[0], -item[2].passage, -item[2].position))

    same = sorted(
        ((sim, s) for _, sim, s in scored if s.passage == best.passage and s is not best),
        key=lambda item: -item[0],
    )
    chosen = [best]
    length = len(best.text)
    for sim, s in same:
        if len(chosen) >= max_sentences:
            break
        follows = s.paragraph == best.paragraph and s.position == best.position + 1
        if (sim >= best_sim - 0.08 or (follows and sim >= best_sim - 0.25)) and length + len(s.text) <= max_chars:
            chosen.append(s)
            length += len(s.text) + 1
    chosen.sort(key=lambda s: s.position)
    return ExtractiveAnswer(
        text=" ".join(s.text for s in chosen),
        passages=[best.passage],
        similarity=round(best_sim, 4),
    )
