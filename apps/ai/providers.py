"""The AI seam (CONVENTIONS): every other app asks here for a chat model or embeddings.

`get_chat_model(purpose)` → a LangChain chat model whose calls are recorded as LLMCall rows.
`get_embeddings()` → a LangChain Embeddings of EMBEDDING_DIM dimensions with a `model_name`.
Tests swap these two functions, not the world.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel

from apps.ai.breaker import LLMUnavailable, breaker_check
from apps.ai.embeddings import HashingEmbeddings, RecordingEmbeddings, local_embeddings
from apps.ai.local import LOCAL_MODEL_NAME, LocalChatModel
from apps.ai.recording import LLMCallRecorder

__all__ = ["LLMUnavailable", "embeddings_model_name", "get_chat_model", "get_embeddings"]


def get_chat_model(purpose: str, *, fallback: bool = False, streaming: bool = False) -> BaseChatModel:
    """A chat model for ``purpose`` (a short slug: "labels", "copilot", "summary", ...).

    ``fallback=True`` selects LLM_FALLBACK_MODEL (for calls whose output failed validation twice).
    Raises ImproperlyConfigured for an unusable provider configuration, and `apps.ai.breaker.LLMUnavailable`
    ("circuit_open") when the provider's circuit breaker is open: build one model per call, so that every call is
    checked; the model's recorder reports each call's outcome to the breaker.
    """
    provider = settings.LLM_PROVIDER
    if provider == "local":
        model = LocalChatModel(purpose=purpose)
        model.callbacks = [LLMCallRecorder(purpose=purpose, provider="local", model=LOCAL_MODEL_NAME)]
        return model
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        if not settings.LLM_API_KEY:
            raise ImproperlyConfigured("LLM_PROVIDER=openai needs LLM_API_KEY.")
        breaker_check("openai")
        name = settings.LLM_FALLBACK_MODEL if fallback else settings.LLM_MODEL
        return ChatOpenAI(
            model=name,
            api_key=settings.LLM_API_KEY,
            base_url=settings.LLM_BASE_URL,
            timeout=settings.LLM_TIMEOUT,
            # The OpenAI SDK retries 429, 5xx and timeouts with exponential backoff; 3 attempts = 2 retries.
            max_retries=max(0, settings.LLM_MAX_RETRIES - 1),
            temperature=settings.LLM_TEMPERATURE,
            streaming=streaming,
            stream_usage=True,
            # OpenAI-compatible servers (Mistral, Albert, Ollama, vLLM) only speak Chat Completions.
            use_responses_api=False,
            callbacks=[LLMCallRecorder(purpose=purpose, provider="openai", model=name, breaker=True)],
        )
    raise ImproperlyConfigured(f"Unknown LLM_PROVIDER {provider!r}.")


def get_embeddings() -> Embeddings:
    """The configured embeddings (cached per configuration). Raises ImproperlyConfigured for an unknown provider
    or local model, or a local model whose package is not installed."""
    return _embeddings(
        settings.EMBEDDINGS_PROVIDER, settings.EMBEDDING_DIM, settings.EMBEDDINGS_MODEL, settings.EMBEDDINGS_LOCAL_MODEL
    )


@lru_cache(maxsize=8)
def _embeddings(provider: str, dim: int, model: str, local_model: str) -> Embeddings:
    if provider == "hashing":
        return HashingEmbeddings(dim)
    if provider == "local":
        return local_embeddings(local_model, dim)
    if provider == "openai":
        from langchain_openai import OpenAIEmbeddings

        inner = OpenAIEmbeddings(
            model=model,
            dimensions=dim,
            api_key=settings.EMBEDDINGS_API_KEY,
            base_url=settings.EMBEDDINGS_BASE_URL,
            timeout=settings.LLM_TIMEOUT,
            max_retries=max(0, settings.LLM_MAX_RETRIES - 1),
            # Otherwise it downloads a tiktoken encoding at first use (fails offline).
            check_embedding_ctx_length=False,
        )
        return RecordingEmbeddings(inner, provider="openai", model=model, dim=dim)
    raise ImproperlyConfigured(f"Unknown EMBEDDINGS_PROVIDER {provider!r}.")


def embeddings_model_name() -> str:
    return str(getattr(get_embeddings(), "model_name", settings.EMBEDDINGS_PROVIDER))


def embeddings_warm() -> float:
    """Load the configured embeddings model now (a local model reads its weights at first use: seconds) by embedding
    one word; returns the seconds it took. For processes that embed on a user's behalf (the copilot worker), so the
    first customer message after a start does not wait for it."""
    import time

    started = time.perf_counter()
    get_embeddings().embed_query("warm-up")
    return time.perf_counter() - started
