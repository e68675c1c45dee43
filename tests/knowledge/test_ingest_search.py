"""Ingestion (files, folders, re-ingestion, broken files), hybrid search with citations, the API, the admin."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from apps.knowledge.models import Chunk, Document
from apps.knowledge.selectors import knowledge_search
from apps.knowledge.services import knowledge_ingest_paths

pytestmark = pytest.mark.django_db

PAYMENT_MD = """# Paiement

## Mon paiement est refusé
Un paiement refusé vient le plus souvent d'un plafond de carte atteint ou d'une validation 3-D Secure non
terminée. Vérifiez la date d'expiration de la carte et réessayez.

## Changer de moyen de paiement
Ouvrez l'espace client, rubrique Facturation, puis Moyen de paiement : carte, prélèvement SEPA ou PayPal.
"""
DELIVERY_MD = """# Delivery

## Delivery times
Orders placed before 2 pm ship the same day. Standard delivery takes 2 to 4 working days, express 24 hours.
"""
FAQ = [
    {
        "question": "Comment activer ma carte SIM ?",
        "answer": "Insérez la carte SIM et saisissez le code PIN.",
        "category": "activation",
        "tags": ["sim"],
    },
    {
        "question": "Où trouver mes factures ?",
        "answer": "Dans l'espace client, rubrique Facturation, en PDF.",
        "category": "billing",
        "tags": ["facture"],
    },
]


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "paiement.fr.md").write_text(PAYMENT_MD, encoding="utf-8")
    (root / "delivery.en.md").write_text(DELIVERY_MD, encoding="utf-8")
    (root / "faq.json").write_text(json.dumps(FAQ, ensure_ascii=False), encoding="utf-8")
    return root


def _ingest(*paths: Path) -> str:
    out = StringIO()
    call_command("ingest", *[str(p) for p in paths], stdout=out)
    return out.getvalue()


def test_ingest_folder_twice_then_one_change(kb: Path) -> None:
    first = _ingest(kb)
    assert "3 file(s): 3 ingested, 0 unchanged, 0 failed." in first
    assert Document.objects.count() == 4  # 2 Markdown files + 2 FAQ entries
    chunk_ids = set(Chunk.objects.values_list("pk", flat=True))

    second = _ingest(kb)
    assert "3 file(s): 0 ingested, 3 unchanged, 0 failed." in second
    assert set(Chunk.objects.values_list("pk", flat=True)) == chunk_ids

    (kb / "delivery.en.md").write_text(
        DELIVERY_MD + "\n## Tracking\nA tracking link is e-mailed when the parcel ships.\n", encoding="utf-8"
    )
    third = _ingest(kb)
    assert "1 ingested, 2 unchanged" in third
    delivery = Document.objects.get(source="delivery.en.md")
    assert delivery.chunks.filter(section="Tracking").exists()
    others = Chunk.objects.exclude(document=delivery).values_list("pk", flat=True)
    assert set(others) <= chunk_ids, "only the edited file was re-chunked"


def test_broken_files_are_reported_and_the_rest_ingested(kb: Path) -> None:
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    (kb / "empty.md").write_text("   \n", encoding="utf-8")
    (kb / "notes.docx").write_bytes(b"PK\x03\x04 not supported")
    out = _ingest(kb)
    lines = {
        line.split()[1].rstrip(":"): line
        for line in out.splitlines()
        if line.startswith(("failed", "ingested", "unchanged"))
    }
    assert lines["broken.pdf"].startswith("failed") and "pdf" in lines["broken.pdf"].lower()
    assert lines["empty.md"].startswith("failed") and "empty" in lines["empty.md"]
    assert lines["notes.docx"].startswith("failed") and ".docx" in lines["notes.docx"]
    assert "3 ingested, 0 unchanged, 3 failed" in out
    assert Document.objects.filter(source="paiement.fr.md").exists()


def test_deleting_a_document_removes_its_chunks(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    doc = Document.objects.get(source="paiement.fr.md")
    assert Chunk.objects.filter(document=doc).exists()
    doc.delete()
    assert not Chunk.objects.filter(document_id=doc.pk).exists()


def test_removed_faq_entries_are_removed(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    (kb / "faq.json").write_text(json.dumps(FAQ[:1], ensure_ascii=False), encoding="utf-8")
    knowledge_ingest_paths([kb])
    assert Document.objects.filter(source__startswith="faq.json#").count() == 1


def test_chunks_have_embeddings_and_language_full_text(kb: Path, settings: Any) -> None:
    knowledge_ingest_paths([kb])
    chunk = Chunk.objects.get(section="Mon paiement est refusé")
    assert len(chunk.embedding) == settings.EMBEDDING_DIM and chunk.embedding_model
    assert chunk.document.language == "fr"
    assert Document.objects.get(source="delivery.en.md").language == "en"


def test_hybrid_search_finds_paraphrases_with_citations(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    result = knowledge_search("paiement impossible avec ma carte bleue", k=3)
    assert result.hits, "a paraphrase finds the right section"
    top = result.hits[0]
    assert top.document.source == "paiement.fr.md" and top.document.section == "Mon paiement est refusé"
    assert top.document.title == "Paiement" and top.chunk_id and top.score > 0
    english = knowledge_search("how long does shipping take", k=3)
    assert english.hits[0].document.source == "delivery.en.md"


def test_search_filters_by_category_and_tag(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    hits = knowledge_search("carte SIM factures", k=5, category="billing").hits
    assert hits and all(h.document.source.startswith("faq.json#") for h in hits)
    assert all("factures" in h.document.title for h in hits)
    tagged = knowledge_search("carte SIM factures", k=5, tag="sim").hits
    assert tagged and all("SIM" in h.document.title for h in tagged)


def test_unrelated_question_returns_nothing_confident(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    assert knowledge_search("zzqx wkpl vrrt", k=5).hits == []


def test_search_api(client: Client, agent_user: Any, kb: Path) -> None:
    knowledge_ingest_paths([kb])
    client.force_login(agent_user)
    response = client.get("/api/knowledge/search", {"q": "paiement refusé", "k": 2})
    assert response.status_code == 200
    results = response.json()["results"]
    assert 1 <= len(results) <= 2
    first = results[0]
    assert set(first) >= {"text", "score", "chunk_id", "document"}
    assert set(first["document"]) == {"id", "title", "section", "source", "url"}
    assert first["document"]["source"] == "paiement.fr.md"
    for bad in ({"q": ""}, {"q": "   "}, {}, {"q": "x", "k": 0}, {"q": "x", "k": 500}):
        r = client.get("/api/knowledge/search", bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid"


def test_search_api_needs_an_agent(client: Client) -> None:
    assert client.get("/api/knowledge/search", {"q": "x"}).status_code in (401, 403)


def test_admin_upload_reindex_and_search_tester(client: Client, supervisor_user: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(supervisor_user)
    assert client.get("/admin/knowledge/document/").status_code == 200
    files = [
        SimpleUploadedFile("paiement.fr.md", PAYMENT_MD.encode()),
        SimpleUploadedFile("bad.xyz", b"nope"),
    ]
    response = client.post("/admin/knowledge/document/upload/", {"documents": files})
    assert response.status_code == 302
    shown = [m.message for m in client.get("/admin/knowledge/document/").context["messages"]]
    assert any(m.startswith("paiement.fr.md: ingested") for m in shown)
    assert any(m.startswith("bad.xyz: failed") and ".xyz" in m for m in shown)
    doc = Document.objects.get(source="paiement.fr.md")
    client.post("/admin/knowledge/document/", {"action": "reindex", "_selected_action": [str(doc.pk)]})
    tester = client.get("/admin/knowledge/document/search/", {"q": "paiement refusé", "k": 3})
    assert tester.status_code == 200 and "Mon paiement est refusé" in tester.content.decode()


def test_reembed_command(kb: Path) -> None:
    knowledge_ingest_paths([kb])
    Chunk.objects.update(embedding_model="old-model")
    out = StringIO()
    call_command("reembed", stdout=out)
    assert "chunks:" in out.getvalue()
    assert not Chunk.objects.filter(embedding_model="old-model").exists()


def test_demo_knowledge_folder_ingests_cleanly_and_twice_is_unchanged() -> None:
    from django.conf import settings

    folder = Path(settings.BASE_DIR) / "docs" / "knowledge"
    first = _ingest(folder)
    assert " 0 failed." in first and "README.md" not in first and "questions.json" not in first
    files = int(first.rsplit(" file(s):", 1)[0].split()[-1])
    assert files >= 20
    second = _ingest(folder)
    assert f"{files} file(s): 0 ingested, {files} unchanged, 0 failed." in second


def test_ingestignore_patterns(tmp_path: Path) -> None:
    from apps.knowledge.services import _files

    (tmp_path / "keep.md").write_text("# A\n\ntext", encoding="utf-8")
    (tmp_path / "README.md").write_text("# R", encoding="utf-8")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "q.json").write_text("[]", encoding="utf-8")
    (tmp_path / ".hidden.md").write_text("# H", encoding="utf-8")
    (tmp_path / ".ingestignore").write_text("# comment\nREADME.md\neval/\n", encoding="utf-8")
    assert [f.name for f, _ in _files([tmp_path])] == ["keep.md"]
