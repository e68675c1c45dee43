"""Split parsed documents into overlapping chunks for embedding and full-text search (SPEC §9). Pure.

A *word* here is a run of non-whitespace characters (``str.split()``), so every character of the source
survives in some chunk and a chunk's text is an exact slice of its section's text (paragraph breaks kept).

Rules, for ``size`` words per chunk and ``overlap`` words repeated between neighbours:

- a chunk never spans two sections, so a citation's section is always right;
- a section of at most ``size * 1.15`` words is one chunk (no chunk made of little more than the overlap);
- otherwise the section is cut near ``size`` words: at the sentence end or paragraph break nearest to
  ``size`` within ``[size * 0.85, size * 1.15]`` words, else exactly at ``size`` words; the next chunk starts
  exactly ``overlap`` words before the cut, so consecutive chunks of a section share exactly ``overlap``
  words;
- tiny sections are *not* merged: each section gets its own chunk(s), however short. Merging would make a
  citation name only the first of the merged headings, and the caller prefixes title and section to the text
  it embeds, which gives short chunks enough context to be found;
- ordinals run 0..n-1 across the document, in section order; no chunk is empty, and nothing is added to
  a chunk's text (the caller adds title/section context for embedding).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from apps.knowledge.parsing import ParsedDocument

SIZE_TOLERANCE = 0.15
_WORD_RE = re.compile(r"\S+")
# A sentence ends with . ! ? or …, possibly followed by closing quotes or brackets.
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’»)\]]*\Z")


@dataclass(frozen=True)
class ChunkText:
    """One chunk: the title of the section it comes from, its text, its position in the document."""

    section: str
    text: str
    ordinal: int


def chunk_document(doc: ParsedDocument, *, size: int = 500, overlap: int = 50) -> list[ChunkText]:
    """The chunks of ``doc`` in order (see the module docstring for the rules).

    Raises ``ValueError`` unless ``0 < overlap < size``. Sections with no text produce no chunk; a document
    without text gives an empty list.
    """
    if size <= 0 or overlap <= 0 or overlap >= size:
        raise ValueError(f"chunking needs 0 < overlap < size, got size={size}, overlap={overlap}")
    chunks: list[ChunkText] = []
    for section in doc.sections:
        for text in split_words(section.text, size=size, overlap=overlap):
            chunks.append(ChunkText(section=section.title, text=text, ordinal=len(chunks)))
    return chunks


def split_words(text: str, *, size: int, overlap: int) -> list[str]:
    """Split one section's text by the rules of the module docstring; each piece is a slice of ``text``.

    Preconditions (checked by ``chunk_document``): ``0 < overlap < size``.
    """
    spans = [(m.start(), m.end()) for m in _WORD_RE.finditer(text)]
    count = len(spans)
    if not count:
        return []
    longest = max(size, math.floor(size * (1 + SIZE_TOLERANCE)))
    # A cut before overlap + 1 words would not move the next chunk's start forward.
    shortest = max(math.ceil(size * (1 - SIZE_TOLERANCE)), overlap + 1)
    pieces: list[str] = []
    start = 0
    while True:
        if count - start <= longest:
            pieces.append(text[spans[start][0] : spans[-1][1]])
            return pieces
        end = start + _cut_length(text, spans, start, size=size, shortest=shortest, longest=longest)
        pieces.append(text[spans[start][0] : spans[end - 1][1]])
        start = end - overlap


def _cut_length(text: str, spans: list[tuple[int, int]], start: int, *, size: int, shortest: int, longest: int) -> int:
    """How many words from ``start`` the chunk takes: the sentence end or paragraph break nearest to ``size``
    in ``[shortest, longest]`` (ties go to the shorter chunk), else ``size``."""
    best: int | None = None
    for length in range(shortest, longest + 1):
        last = start + length - 1
        begin, end = spans[last]
        next_begin = spans[last + 1][0] if last + 1 < len(spans) else len(text)
        boundary = _SENTENCE_END_RE.search(text, begin, end) is not None or "\n\n" in text[end:next_begin]
        if boundary and (best is None or abs(length - size) < abs(best - size)):
            best = length
    return best if best is not None else size
