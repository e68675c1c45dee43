"""The database is a real PostgreSQL with pgvector: extension, HNSW and GIN indexes, cosine search."""

import pytest
from django.db import connection
from pgvector.django import CosineDistance

from apps.labels.models import Label

pytestmark = pytest.mark.django_db


def _indexdef(name: str) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cur.fetchone()
    assert row is not None, f"index {name} is missing"
    return str(row[0])


def test_vector_extension_is_installed() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
    assert row is not None
    major, minor = (int(x) for x in row[0].split(".")[:2])
    assert (major, minor) >= (0, 8)


def test_server_is_postgresql_18_or_external() -> None:
    with connection.cursor() as cur:
        cur.execute("SHOW server_version_num")
        (version,) = cur.fetchone()
    assert int(version) >= 150000


@pytest.mark.parametrize(
    ("index", "table"),
    [("label_embedding_hnsw", "labels_label"), ("chunk_embedding_hnsw", "knowledge_chunk")],
)
def test_embeddings_have_hnsw_cosine_indexes(index: str, table: str) -> None:
    definition = _indexdef(index)
    assert f"ON public.{table} USING hnsw" in definition
    assert "vector_cosine_ops" in definition


def test_chunk_full_text_has_gin_index() -> None:
    assert "USING gin (search_vector)" in _indexdef("chunk_search_vector_gin")


def test_vector_column_has_configured_dimensions(settings) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'labels_label'::regclass AND attname = 'embedding'"
        )
        (column_type,) = cur.fetchone()
    assert column_type == f"vector({settings.EMBEDDING_DIM})"


def test_cosine_nearest_label_uses_pgvector(settings) -> None:  # type: ignore[no-untyped-def]
    dim = settings.EMBEDDING_DIM

    def unit(i: int) -> list[float]:
        v = [0.0] * dim
        v[i] = 1.0
        return v

    Label.objects.create(name="paiement", embedding=unit(0))
    Label.objects.create(name="livraison", embedding=unit(1))
    query = [0.9, 0.1] + [0.0] * (dim - 2)
    nearest = Label.objects.annotate(d=CosineDistance("embedding", query)).order_by("d").first()
    assert nearest is not None and nearest.name == "paiement"


def test_hnsw_index_is_used_for_nearest_neighbour_queries(settings) -> None:  # type: ignore[no-untyped-def]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        vec = "[" + ",".join(["0.1"] * settings.EMBEDDING_DIM) + "]"
        cur.execute(f"EXPLAIN SELECT id FROM labels_label WHERE indexed ORDER BY embedding <=> '{vec}' LIMIT 5")  # noqa: S608
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "label_embedding_hnsw" in plan
