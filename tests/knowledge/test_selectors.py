"""The hybrid search's ranking rules: results grouped by document, full-text hits weighed by the share of the question
they cover, a bounded full-text side that still finds the chunk holding the question's rare words, and the choice of
those words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.knowledge.selectors import Candidate, _fuse, _text_candidates, knowledge_search, query_terms
from apps.knowledge.services import knowledge_ingest_paths

pytestmark = pytest.mark.django_db

WIFI_MD = """# Box et Wi-Fi

## Wi-Fi lent
Si le Wi-Fi de la box est lent, rapprochez-vous de la box et redémarrez-la.

## Wi-Fi introuvable
Si le réseau Wi-Fi de la box n'apparaît pas, appuyez sur le bouton Wi-Fi de la box.

## Mot de passe Wi-Fi
Le mot de passe du Wi-Fi de la box est imprimé sous la box.
"""
REPEATER_MD = """# Répéteur

## Installer le répéteur Wi-Fi
Branchez le répéteur à mi-chemin entre la box et la pièce où le Wi-Fi est faible.
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_hits_come_from_different_documents(tmp_path: Path, settings: Any) -> None:
    knowledge_ingest_paths([_write(tmp_path / "kb", {"wifi.fr.md": WIFI_MD, "repeteur.fr.md": REPEATER_MD})])
    hits = knowledge_search("wifi de la box", k=5, min_similarity=-1.0).hits
    sources = [h.document.source for h in hits]
    assert sorted(sources) == ["repeteur.fr.md", "wifi.fr.md"], "one hit per document by default"
    assert all(h.score > 0 for h in hits) and hits[0].score >= hits[1].score

    settings.KNOWLEDGE_CHUNKS_PER_DOCUMENT = 3
    hits = knowledge_search("wifi de la box", k=5, min_similarity=-1.0).hits
    sources = [h.document.source for h in hits]
    assert sources.count("wifi.fr.md") == 3 and sources.count("repeteur.fr.md") == 1
    first = sources[0]
    assert sources[: sources.count(first)] == [first] * sources.count(first), "a document's hits stay together"
    assert len({h.chunk_id for h in hits}) == 4


def _crowded_base(root: Path, fillers: int) -> Path:
    """``fillers`` documents that all speak of the monthly invoice, and one about a prorated refund."""
    files = {
        f"note-{i:02d}.fr.md": f"# Note {i}\n\n## Facture mensuelle {i}\nVotre facture mensuelle numéro {i} est "
        "disponible dans l'espace client, avec le détail de la facture mensuelle."
        for i in range(fillers)
    }
    files["zz-prorata.fr.md"] = (
        "# Prorata\n\n## Calcul au prorata\nLe remboursement est calculé au prorata des jours sans service."
    )
    return _write(root, files)


def test_query_terms_keep_words_the_base_has_the_rarest_first(tmp_path: Path) -> None:
    knowledge_ingest_paths([_crowded_base(tmp_path / "kb", 12)])
    terms = [t.lexeme for t in query_terms("zzqxw facture mensuelle remboursement prorata")]
    assert "zzqxw" not in terms, "a word no chunk contains is not a term"
    assert set(terms[:2]) == {"rembours", "prorat"}, terms  # in 1 chunk of 13, the others in 12
    assert set(terms[2:]) >= {"factur", "mensuel"}


def test_bounded_text_search_still_finds_the_chunk_with_the_rare_words(tmp_path: Path, settings: Any) -> None:
    knowledge_ingest_paths([_crowded_base(tmp_path / "kb", 30)])
    settings.KNOWLEDGE_TEXT_CANDIDATES = 5  # far fewer than the 31 chunks that match some word of the question
    question = "facture mensuelle : remboursement au prorata ?"
    text_hits = knowledge_search(question, k=5, min_similarity=1.01).hits  # no vector hit qualifies above 1
    assert text_hits, "the full-text side answers alone"
    assert text_hits[0].document.source == "zz-prorata.fr.md"
    assert text_hits[0].ranks == {"text": 1}, "only the text list counts"
    assert len(text_hits) == 5, "the cap bounds the chunks ranked, not the hits returned"
    hybrid = knowledge_search(question, k=3).hits
    assert hybrid[0].document.source == "zz-prorata.fr.md"


def _lists(text_weight: float) -> dict[str, list[Candidate]]:
    """Document 1: the vector side's first chunk, not a full-text match. Document 3: found by both sides, fourth in
    the vector list and second in the text list, as a full-text hit of weight ``text_weight``. Document 2: the
    full-text side's first hit (weight 1). Documents 4 and 5: vector hits only."""
    return {
        "vector": [Candidate(10, 1, 0.5), Candidate(40, 4, 0.4), Candidate(50, 5, 0.35), Candidate(30, 3, 0.3)],
        "text": [Candidate(20, 2, weight=1.0), Candidate(30, 3, weight=text_weight)],
    }


def test_fusion_weighs_each_full_text_hit() -> None:
    plain = _fuse(_lists(1.0), 5, 1)  # reciprocal rank fusion: 1/64 + 1/62 for document 3, 1/61 for 1 and 2
    assert [c.document_id for c, _, _ in plain] == [3, 1, 2, 4, 5]
    assert plain[0][1] == pytest.approx(1 / 64 + 1 / 62, abs=1e-6) and plain[0][2] == {"vector": 4, "text": 2}
    weak = _fuse(_lists(0.04), 5, 1)  # document 3 shares only a common word with the question: (1/5) squared
    assert [c.document_id for c, _, _ in weak] == [1, 2, 3, 4, 5]  # 1/61 (a tie: the lower chunk id) > 1/64 + 0.04/62
    assert weak[2][1] == pytest.approx(1 / 64 + 0.04 / 62, abs=1e-6)


def test_full_text_hits_weigh_the_share_of_the_question_they_cover(tmp_path: Path, settings: Any) -> None:
    knowledge_ingest_paths([_crowded_base(tmp_path / "kb", 12)])
    question = "le remboursement au prorata de ma facture ?"  # three words the base holds
    weights = {c.document_id: c.weight for c in _text_candidates(question, 20, None, None)}
    from apps.knowledge.models import Document

    prorata = Document.objects.get(source="zz-prorata.fr.md").id
    notes = [w for doc, w in weights.items() if doc != prorata]
    assert len(notes) == 12 and prorata in weights
    # the prorata chunk holds two of the words, each note one ("facture"): squared shares of the question
    assert weights[prorata] == pytest.approx((2 / 3) ** 2)
    assert notes == pytest.approx([(1 / 3) ** 2] * 12)
    settings.KNOWLEDGE_TEXT_COVERAGE_POWER = 0  # plain reciprocal rank fusion
    assert {c.weight for c in _text_candidates(question, 20, None, None)} == {1.0}
