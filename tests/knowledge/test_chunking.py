"""Documents -> overlapping chunks (`apps.knowledge.chunking`, SPEC §9: ~500 words, 50-word overlap)."""

from __future__ import annotations

import math
import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.knowledge.chunking import ChunkText, chunk_document
from apps.knowledge.parsing import ParsedDocument, Section, parse_bytes


def document(*sections: Section) -> ParsedDocument:
    return ParsedDocument(
        source="test.md",
        title="Test",
        kind="markdown",
        language="en",
        sections=list(sections),
        content_hash="0" * 64,
    )


def numbered_words(count: int, prefix: str = "w") -> str:
    """Words without any sentence end: the chunker can only cut by count."""
    return " ".join(f"{prefix}{i}" for i in range(count))


def sentences_text(lengths: list[int]) -> str:
    """Sentences of the given word counts, each ending with a full stop; words numbered across the text."""
    out, n = [], 0
    for length in lengths:
        out.append(" ".join(f"w{n + i}" for i in range(length)) + ".")
        n += length
    return " ".join(out)


def check_section_chunks(text: str, chunks: list[ChunkText], *, size: int, overlap: int) -> None:
    """The properties every section's chunks must have."""
    section_words = text.split()
    limit = math.floor(size * 1.15)
    assert chunks, "a section with words gives at least one chunk"
    for chunk in chunks:
        assert chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.text in text  # a slice of its own section: nothing added, nothing from another section
        assert len(chunk.text.split()) <= max(size, limit)
    for previous, following in pairwise(chunks):
        assert previous.text.split()[-overlap:] == following.text.split()[:overlap]
    covered = chunks[0].text.split() + [w for c in chunks[1:] for w in c.text.split()[overlap:]]
    assert covered == section_words  # every word, in order, nothing repeated beyond the overlap
    for chunk in chunks[:-1]:
        assert len(chunk.text.split()) >= math.ceil(size * 0.85)
    if len(section_words) <= size:
        assert len(chunks) == 1


# ---------------------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 0), (100, 100), (100, 150), (-5, 1), (10, -1)])
def test_size_and_overlap_are_validated(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(document(Section("", "some words")), size=size, overlap=overlap)


# ---------------------------------------------------------------------------------------------------- behaviour


def test_short_sections_are_one_chunk_each_with_document_ordinals() -> None:
    doc = document(
        Section("", "Intro text."),
        Section("Billing", "Invoices are sent monthly.\n\nPay by card."),
        Section("Empty", ""),
        Section("Refunds", "Within 14 days."),
    )
    chunks = chunk_document(doc)
    assert chunks == [
        ChunkText(section="", text="Intro text.", ordinal=0),
        ChunkText(section="Billing", text="Invoices are sent monthly.\n\nPay by card.", ordinal=1),
        ChunkText(section="Refunds", text="Within 14 days.", ordinal=2),
    ]


def test_default_size_and_overlap() -> None:
    text = numbered_words(1200)
    chunks = chunk_document(document(Section("Long", text)))
    assert [len(c.text.split()) for c in chunks] == [500, 500, 300]
    assert chunks[1].text.split()[0] == "w450"  # 50 words of overlap
    assert chunks[2].text.split()[0] == "w900"
    assert [c.ordinal for c in chunks] == [0, 1, 2]
    assert {c.section for c in chunks} == {"Long"}


def test_chunks_never_span_two_sections() -> None:
    first, second = numbered_words(130, "a"), numbered_words(130, "b")
    chunks = chunk_document(document(Section("A", first), Section("B", second)), size=100, overlap=10)
    assert [c.section for c in chunks] == ["A", "A", "B", "B"]
    assert all(c.text in first for c in chunks[:2])
    assert all(c.text in second for c in chunks[2:])
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]


def test_a_section_slightly_over_size_stays_whole() -> None:
    chunks = chunk_document(document(Section("", numbered_words(114))), size=100, overlap=10)
    assert len(chunks) == 1


def test_cut_at_the_sentence_end_nearest_to_size() -> None:
    # Sentence ends after words 80, 93, 108 and 140: the cut goes after the 93rd word (nearest to 100).
    text = sentences_text([80, 13, 15, 32, 40])
    chunks = chunk_document(document(Section("", text)), size=100, overlap=10)
    assert chunks[0].text.endswith("w92.")
    assert len(chunks[0].text.split()) == 93
    assert chunks[1].text.split()[:10] == chunks[0].text.split()[-10:]


def test_without_a_sentence_end_near_size_the_cut_is_at_size() -> None:
    # The only sentence end is after word 50, outside 85..115.
    text = sentences_text([50, 150])
    chunks = chunk_document(document(Section("", text)), size=100, overlap=10)
    assert len(chunks[0].text.split()) == 100


def test_paragraph_breaks_are_cut_points_and_kept_inside_chunks() -> None:
    paragraph_one = numbered_words(95, "a")
    paragraph_two = numbered_words(60, "b")
    text = f"{paragraph_one}\n\n{paragraph_two}"
    chunks = chunk_document(document(Section("", text)), size=100, overlap=10)
    assert chunks[0].text == paragraph_one
    assert chunks[1].text.startswith(" ".join(paragraph_one.split()[-10:]) + "\n\n")


def test_sentences_are_not_cut_when_they_can_fit() -> None:
    lengths = [7, 12, 9, 11, 8, 13, 10, 9, 12, 7] * 12
    text = sentences_text(lengths)
    chunks = chunk_document(document(Section("", text)), size=100, overlap=10)
    assert len(chunks) > 5
    assert all(c.text.endswith(".") for c in chunks)
    check_section_chunks(text, chunks, size=100, overlap=10)


def test_parsed_markdown_chunks_cite_their_headings() -> None:
    body = "## Delivery\n\n" + sentences_text([20] * 40) + "\n\n## Returns\n\nReturn within 30 days."
    doc = parse_bytes(f"# Shipping\n\nAll about parcels.\n\n{body}".encode(), "shipping.en.md")[0]
    chunks = chunk_document(doc, size=300, overlap=30)
    assert [c.section for c in chunks] == ["", "Delivery", "Delivery", "Delivery", "Returns"]
    assert chunks[0].text == "All about parcels."
    assert chunks[-1].text == "Return within 30 days."


# ---------------------------------------------------------------------------------------------------- properties

word = st.text(alphabet="abcdefgh", min_size=1, max_size=6)
punctuated = st.tuples(word, st.sampled_from(["", "", "", "", ".", "!", "?", ",", '."', "…"])).map("".join)
separator = st.sampled_from([" ", " ", " ", " ", "  ", "\n", "\n\n", " \n\n "])


@st.composite
def section_texts(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(punctuated, min_size=1, max_size=400))
    separators = draw(st.lists(separator, min_size=len(tokens), max_size=len(tokens)))
    return "".join(t + s for t, s in zip(tokens, separators, strict=True)).strip()


@st.composite
def sizes(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=2, max_value=120))
    overlap = draw(st.integers(min_value=1, max_value=size - 1))
    return size, overlap


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(section_texts(), min_size=1, max_size=4), size_overlap=sizes())
def test_chunks_cover_every_word_in_order(texts: list[str], size_overlap: tuple[int, int]) -> None:
    size, overlap = size_overlap
    doc = document(*(Section(f"S{i}", text) for i, text in enumerate(texts)))
    chunks = chunk_document(doc, size=size, overlap=overlap)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for i, text in enumerate(texts):
        check_section_chunks(text, [c for c in chunks if c.section == f"S{i}"], size=size, overlap=overlap)
    assert [c.section for c in chunks] == sorted((c.section for c in chunks), key=lambda s: int(s[1:]))


@settings(max_examples=100, deadline=None)
@given(count=st.integers(min_value=1, max_value=1000), size_overlap=sizes())
def test_without_sentence_ends_chunks_are_exactly_size_words(count: int, size_overlap: tuple[int, int]) -> None:
    size, overlap = size_overlap
    text = numbered_words(count)
    chunks = chunk_document(document(Section("", text)), size=size, overlap=overlap)
    check_section_chunks(text, chunks, size=size, overlap=overlap)
    if len(chunks) > 1:
        assert all(len(c.text.split()) == size for c in chunks[:-1])
        # Each chunk starts exactly `overlap` words before the previous one ended.
        starts = [int(re.sub(r"\D", "", c.text.split()[0])) for c in chunks]
        assert starts == [i * (size - overlap) for i in range(len(chunks))]
