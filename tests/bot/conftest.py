"""The bot's tests run against the demo knowledge base (docs/knowledge), ingested once for the package through the
real ingestion into the real test database, and removed after the package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.knowledge.evaluation import load_json, load_questions
from tests.conftest import demo_kb_committed


@pytest.fixture(scope="package")
def demo_kb(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """The demo knowledge base, committed, once for the package. Yields {source file: title}."""
    yield from demo_kb_committed(django_db_blocker)


@pytest.fixture
def kb(demo_kb: dict[str, str], db: Any) -> dict[str, str]:
    return demo_kb


@pytest.fixture
def chat_model_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every request for a chat model through the AI seam (the purposes asked for)."""
    from apps.ai import providers

    calls: list[str] = []
    real: Callable[..., Any] = providers.get_chat_model

    def spy(purpose: str, **kwargs: Any) -> Any:
        calls.append(purpose)
        return real(purpose, **kwargs)

    monkeypatch.setattr(providers, "get_chat_model", spy)
    return calls


def eval_question(text: str) -> tuple[str, str, str]:
    """(question, language, expected source file) of an eval question, by its exact text: the tests use the eval
    set's own questions rather than copies that could drift from it."""
    for q in load_questions():
        if q.question == text:
            return q.question, q.language, q.source
    raise LookupError(text)


def off_topic_questions() -> list[str]:
    return [q["question"] for q in load_json("off_topic.json")]
