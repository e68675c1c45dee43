"""Shared fixtures. The database and Redis are the real embedded servers (settings.test: `.data/test/`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.stubs.crisp_stub import crisp_stub  # noqa: F401  # a fixture shared by every test package
from tests.stubs.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def database_url_for_children() -> str:
    """The URL of the *test* database (pytest-django's test_<name>), for subprocesses such as the worker."""
    from urllib.parse import quote

    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    host = quote(host, safe="") if host.startswith("/") else host
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="supportdesk.settings.test",
        DATABASE_URL=database_url_for_children(),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session", autouse=True)
def _fresh_test_redis() -> None:
    """The test Redis (.data/test) starts empty: keys left by an earlier run, such as a labeling job's pending
    messages (kept 7 days), would otherwise meet this run's fresh database, whose ids start again at 1."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A fresh stub is a fresh provider: the circuit breaker (shared through Redis, apps/ai/breaker.py) starts
    closed, so that failures scripted by earlier tests do not open it for this one."""
    from apps.ai.breaker import breaker_reset

    breaker_reset("openai")
    stub = OpenAIStub().start()
    yield stub
    stub.stop()
    breaker_reset("openai")


@pytest.fixture
def openai_provider(settings: Any, openai_stub: OpenAIStub) -> OpenAIStub:
    """Switch the AI seam to the `openai` provider, pointed at the local stub."""
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY = "sk-test-stub"
    settings.LLM_BASE_URL = openai_stub.url
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.EMBEDDINGS_API_KEY = "sk-test-stub"
    settings.EMBEDDINGS_BASE_URL = openai_stub.url
    from apps.ai.providers import _embeddings

    _embeddings.cache_clear()
    yield openai_stub
    _embeddings.cache_clear()


@pytest.fixture
def flush_redis() -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
    client.close()


class WorkerProcess:
    """A real `celery worker` subprocess on the test database and Redis: by default queues default and
    conversations with the prefork pool; ``queues="copilot", pool="threads"`` for the copilot's worker.
    ``extra_args`` go to `celery worker` as they are (e.g. ``["--include", "tests.x"]`` to load a module)."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        concurrency: int = 2,
        *,
        queues: str = "default,conversations",
        pool: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = Path(settings.DATA_DIR) / f"worker-{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  # closed in stop()
        pool_args = ["-P", pool] if pool else []
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "supportdesk", "worker", "-Q", queues, *pool_args,
             "-c", str(concurrency), "-l", "INFO", "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
             *(extra_args or [])],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        from supportdesk.celery import app

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.proc.returncode}; see {self.log_path}")
            replies = app.control.ping(timeout=0.5)
            if any(f"{name}@" in worker for reply in replies for worker in reply):
                return
        self.stop()
        raise RuntimeError(f"celery worker did not answer a ping within 90 s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no chance to ack, requeue or clean up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the session of a process started with `start_new_session` (a worker and its pool, daphne), then
    SIGKILL if it is still there after `timeout` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _purge_queues() -> None:
    """Drop tasks left in the queues by earlier runs (e.g. deferred by the rate limit): their job ids would
    point at other rows of this run's fresh database."""
    from supportdesk.celery import app

    app.control.purge()


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup: Any, django_db_blocker: Any) -> Iterator[WorkerProcess]:
    """A worker for one test module (stopped after it, so modules with their own workers are alone on the
    queues). Tests that need it must commit their data (transactional_db)."""
    _purge_queues()
    with django_db_blocker.unblock():
        env = child_env()
    worker = WorkerProcess(f"test-{os.getpid()}", env)
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(django_db_blocker: Any) -> Iterator[Any]:
    """Start extra workers with their own environment (e.g. the openai provider on a stub); all stopped after."""
    started: list[WorkerProcess] = []

    def start(name: str, *, worker_options: dict[str, Any] | None = None, **extra_env: str) -> WorkerProcess:
        """``worker_options``: WorkerProcess's keyword arguments (queues, pool, concurrency, extra_args)."""
        if not started:
            _purge_queues()
        with django_db_blocker.unblock():
            env = child_env(**extra_env)
        worker = WorkerProcess(f"{name}-{os.getpid()}-{len(started)}", env, **(worker_options or {}))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def agent_user(db: Any) -> Any:
    from tests.core.factories import UserFactory

    return UserFactory(groups=["agent"])


@pytest.fixture
def supervisor_user(db: Any) -> Any:
    from tests.core.factories import UserFactory

    return UserFactory(groups=["supervisor"], is_staff=True)


@pytest.fixture
def ticket_categories_seeded(request: Any) -> None:
    """Transactional tests flush the tables after themselves, seeded ticket categories included: put them back
    (for tests of the database only)."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    from apps.tickets.services import ticket_categories_ensure

    ticket_categories_ensure()


def demo_kb_committed(django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The body of a `demo_kb` fixture (its scope is the caller's): the demo knowledge base (docs/knowledge) ingested
    through the real ingestion and committed, outside the per-test transactions; yields {source file: title}, then
    removes the documents."""
    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge.models import Document
    from apps.knowledge.services import knowledge_ingest_paths

    with django_db_blocker.unblock():
        report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
        assert report.count("failed") == 0
        titles = {d.source.split("#")[0]: d.title for d in Document.objects.all()}
    yield titles
    with django_db_blocker.unblock():
        Document.objects.all().delete()
