"""Demo data loads idempotently: accounts whose printed passwords work, knowledge with vectors, conversations."""

import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.postgres.search import SearchQuery
from django.core.management import call_command

from apps.conversations.models import Conversation, Message
from apps.knowledge.models import Chunk, Document

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent_and_logins_work(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("demo_data", stdout=out)
    first = out.getvalue()
    counts = (Document.objects.count(), Chunk.objects.count(), Conversation.objects.count(), Message.objects.count())
    assert counts[0] >= 3 and counts[1] >= counts[0] and counts[2] >= 3

    out2 = StringIO()
    call_command("demo_data", stdout=out2)
    assert (
        Document.objects.count(),
        Chunk.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    ) == counts
    assert "(0 (re)indexed)" in out2.getvalue(), "unchanged documents are skipped"

    for role in ("supervisor", "agent"):
        line = next(x for x in first.splitlines() if f"login: {role} / " in x)
        password = line.rsplit(" / ", 1)[1]
        assert authenticate(username=role, password=password) is not None
        assert f"login: {role} / {password}" in out2.getvalue(), "the same login is printed on every run"
    mode = (tmp_path / "demo-credentials.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_demo_chunks_have_embeddings_and_full_text(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    call_command("demo_data", stdout=StringIO())
    chunk = Chunk.objects.filter(section__icontains="paiement est refusé").get()
    assert chunk.embedding is not None and len(chunk.embedding) == settings.EMBEDDING_DIM
    assert chunk.embedding_model.startswith("use-multilingual")
    assert Chunk.objects.filter(search_vector=SearchQuery("paiements refusés", config="french")).exists()
