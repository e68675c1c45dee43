"""A bad configuration fails at start with one clear message, and starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "EMBEDDING", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"))
    }
    base.update(SUPPORTDESK_DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="supportdesk.settings.dev")
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_PROVIDER": "openai"}, "LLM_PROVIDER=openai needs LLM_API_KEY"),
        ({"LLM_PROVIDER": "gpt"}, "LLM_PROVIDER='gpt' is not one of ['local', 'openai']"),
        ({"EMBEDDINGS_PROVIDER": "bert"}, "EMBEDDINGS_PROVIDER='bert' is not one of"),
        ({"EMBEDDING_DIM": "4096"}, "EMBEDDING_DIM=4096 must be between 8 and 2000"),
    ],
)
def test_bad_ai_configuration_fails_fast_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = _manage(tmp_path, "check", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "pg").exists(), "no embedded server is started for a bad configuration"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Production needs SECRET_KEY, DATABASE_URL, REDIS_URL"),
        (
            {
                "SECRET_KEY": "django-insecure-supportdesk-development-key-change-me",
                "DATABASE_URL": "postgres://x@127.0.0.1:1/x",
                "REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "SECRET_KEY is a default or too weak",
        ),
        (
            {"SECRET_KEY": "short", "DATABASE_URL": "postgres://x@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"},
            "SECRET_KEY is a default or too weak",
        ),
        (
            {
                "SECRET_KEY": "k3P9x-Qw7LmZt2Rv8Yb4Nc6Hd1Sg5Jf0Ua",
                "DEBUG": "true",
                "DATABASE_URL": "postgres://x@127.0.0.1:1/x",
                "REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "DEBUG=True is refused",
        ),
    ],
)
def test_production_refuses_default_secrets_and_debug(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = _manage(tmp_path, "check", DJANGO_SETTINGS_MODULE="supportdesk.settings.production", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "data").exists()


def test_production_settings_accept_a_real_configuration(tmp_path: Path) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings.production",
        "SECRET_KEY": "k3P9x-Qw7LmZt2Rv8Yb4Nc6Hd1Sg5Jf0Ua",
        "DATABASE_URL": "postgres://x@127.0.0.1:1/x",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "ALLOWED_HOSTS": "support.example.com",
    }
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "ERROR", **env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "data").exists(), "external services configured: nothing embedded starts"


_BLAS_THREADS = """
import os, sys
if sys.argv[1] == "supportdesk":
    import supportdesk  # noqa: F401  (what every process of the stack imports first)
import numpy
numpy.ones((300, 300)) @ numpy.ones((300, 300))
print(len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"))
"""


def _threads_after_numpy(first: str, **env: str) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", _BLAS_THREADS, first],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    threads, setting = done.stdout.split()
    return int(threads), setting


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_the_stack_runs_numpy_single_threaded_unless_the_operator_says_otherwise() -> None:
    # Without the package, numpy's OpenBLAS starts a thread per extra core (and those spun after each call).
    alone, _ = _threads_after_numpy("numpy")
    if (os.cpu_count() or 1) > 1:
        assert alone > 1
    assert _threads_after_numpy("supportdesk") == (1, "1")
    assert _threads_after_numpy("supportdesk", OPENBLAS_NUM_THREADS="2")[1] == "2"
