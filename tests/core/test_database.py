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


# --------------------------------------------------------------------------- connections: pool, kept connections

_BACKENDS = """
from django.db import connection
pids = []
for _ in range(6):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pids.append(cur.fetchone()[0])
    connection.close()  # the end of a request or task
print(len(set(pids)), connection.settings_dict["CONN_MAX_AGE"], bool(connection.settings_dict["OPTIONS"].get("pool")))
"""


@pytest.mark.parametrize(("pool", "backends", "expected"), [("1", (1, 2), "0 True"), ("0", (6,), "0 False")])
def test_the_pool_hands_back_the_same_backend_after_each_close(
    pool: str, backends: tuple[int, ...], expected: str
) -> None:
    """Six uses, each ended as a request or task ends: one or two backends with the pool (its background filler
    may open a second one while the first use opens its own), six without."""
    distinct, rest = _dev_shell(_BACKENDS, DB_POOL=pool).split(" ", 1)
    assert int(distinct) in backends and rest == expected


def _dev_shell(script: str, **env: str) -> str:
    """The last line ``script`` prints, run by `manage.py shell` under the dev settings (what `make run` uses) on this
    suite's servers (nothing new is started)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings.dev",
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        **env,
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


_RELEASE = """
from django.db import connection, transaction
from apps.core.db import pooled_connection_release
with connection.cursor() as cur:
    cur.execute("SELECT pg_backend_pid()")
    first = cur.fetchone()[0]
with transaction.atomic():
    in_transaction = pooled_connection_release()
released = pooled_connection_release()
held = connection.connection is not None
with connection.cursor() as cur:
    cur.execute("SELECT pg_backend_pid()")
    second = cur.fetchone()[0]
print(in_transaction, released, held, first == second)
"""


@pytest.mark.parametrize(("pool", "expected"), [("1", "False True False"), ("0", "False False True True")])
def test_a_pooled_connection_is_given_back_during_a_long_wait(pool: str, expected: str) -> None:
    """With the pool, the copilot's worker thread gives its connection back while the model streams (never inside a
    transaction) and borrows one again (the same backend or the pool's other); without a pool it keeps its
    connection: the same backend, no reconnection."""
    assert _dev_shell(_RELEASE, DB_POOL=pool).startswith(expected)


@pytest.mark.django_db(transaction=True)
def test_the_copilot_worker_keeps_its_connections_between_tasks() -> None:
    """Without a pool, Celery's Django fix-up closes every connection around each task; the copilot worker swaps
    its handlers for Django's own rule (close when older than CONN_MAX_AGE or unusable)."""
    from types import SimpleNamespace

    from celery import signals
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import DEFAULT_DB_ALIAS, connections

    from supportdesk.celery import KEPT_CONNECTIONS_UIDS, _connections_kept_between_tasks, app

    class Task:  # what the fix-up's handlers read of the sender (hashable, as signal senders must be)
        request = SimpleNamespace(is_eager=False)

    task = Task()
    fixup = next(f for f in app._fixups if hasattr(f, "worker_fixup"))
    previous = fixup._worker_fixup
    fixup.worker_fixup = worker_fixup = DjangoWorkerFixup(app)
    worker_fixup.install()
    max_age = connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"]
    try:
        connection.ensure_connection()
        signals.task_prerun.send(sender=task)
        assert connection.connection is None, "the fix-up closes the connection before each task"

        connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"] = connection.settings_dict["CONN_MAX_AGE"] = 60
        _connections_kept_between_tasks(app)
        connection.ensure_connection()
        kept = connection.connection
        signals.task_prerun.send(sender=task)
        signals.task_postrun.send(sender=task)
        assert kept is not None and connection.connection is kept, "kept across tasks"

        connection.close_at = 0  # obsolete: past its CONN_MAX_AGE
        signals.task_postrun.send(sender=task)
        assert connection.connection is None, "closed once obsolete"
    finally:
        signals.task_prerun.disconnect(dispatch_uid=KEPT_CONNECTIONS_UIDS[0])
        signals.task_postrun.disconnect(dispatch_uid=KEPT_CONNECTIONS_UIDS[1])
        signals.task_prerun.disconnect(worker_fixup.on_task_prerun)
        signals.task_postrun.disconnect(worker_fixup.on_task_postrun)
        connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"] = connection.settings_dict["CONN_MAX_AGE"] = max_age
        fixup._worker_fixup = previous
