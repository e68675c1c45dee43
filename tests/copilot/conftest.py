"""Copilot test helpers: a scriptable stand-in for the generation seam (``apps.ai.copilot``), used by the unit tests
that need deterministic streams. The integration tests use the real module and the local provider."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from apps.copilot.types import (
    Analytics,
    Citation,
    ContextMessage,
    CopilotContext,
    Delta,
    Done,
    FieldDelta,
    OutputSuggestion,
    Reply,
    ReplyDelta,
)


class FakeUnavailable(Exception):
    def __init__(self, reason: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason


def sample_suggestion(text: str = "Vous pouvez résilier depuis votre espace client.") -> OutputSuggestion:
    return OutputSuggestion(
        replies=[
            Reply(text=text, citations=[Citation(title="Résiliation", url="/help/1/", chunk_id=1)]),
            Reply(text="Je peux vous aider à résilier maintenant."),
        ],
        questions=["Quel est votre numéro de ligne ?", "Souhaitez-vous garder votre numéro ?"],
        signals_detected=["churn"],
        recommended_direction="retention",
        priority="high",
        confidence=0.8,
        next_best_actions=["offrir un geste commercial"],
        sentiment_trend="declining",
        silent=False,
    )


def sample_stream(suggestion: OutputSuggestion | None = None) -> list[Delta]:
    suggestion = suggestion or sample_suggestion()
    deltas: list[Delta] = []
    for index, reply in enumerate(suggestion.replies):
        words = reply.text.split(" ")
        deltas += [ReplyDelta(index=index, text=(" " if i else "") + w) for i, w in enumerate(words)]
        deltas.append(FieldDelta(name="citations", index=index, value=reply.citations))
    deltas += [FieldDelta(name="questions", value=suggestion.questions), Done(suggestion=suggestion)]
    return deltas


@dataclass
class FakeAI:
    """What the fake seam does; tests change these attributes."""

    stream: Callable[[CopilotContext], Iterator[Delta]] | None = None
    analytics: Analytics = field(default_factory=Analytics)
    fail: str | None = None  # a LLMUnavailable reason raised by every call
    contexts: list[CopilotContext] = field(default_factory=list)
    folds: list[tuple[str, list[ContextMessage], str]] = field(default_factory=list)
    LLMUnavailable: type[Exception] = FakeUnavailable

    def suggestion_stream(self, context: CopilotContext) -> Iterator[Delta]:
        self.contexts.append(context)
        if self.fail:
            raise self.LLMUnavailable(self.fail)
        if self.stream is not None:
            yield from self.stream(context)
        else:
            yield from sample_stream()

    def analytics_infer(self, context: CopilotContext) -> Analytics:
        self.contexts.append(context)
        if self.fail:
            raise self.LLMUnavailable(self.fail)
        return self.analytics

    def summary_fold(self, previous: str, messages: list[ContextMessage], language: str) -> str:
        self.folds.append((previous, list(messages), language))
        if self.fail:
            raise self.LLMUnavailable(self.fail)
        return (previous + " | " if previous else "") + f"{len(messages)} folded"


@pytest.fixture
def fake_ai(monkeypatch: pytest.MonkeyPatch) -> FakeAI:
    """Replace the generation seam's functions. With the real module present, its LLMUnavailable is kept (so the
    orchestration catches the class the real module raises); without it, a stand-in module is installed."""
    fake = FakeAI()
    try:
        import apps.ai.copilot as module
    except ImportError:
        module = types.ModuleType("apps.ai.copilot")
        module.LLMUnavailable = FakeUnavailable  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "apps.ai.copilot", module)
    else:
        real = module.LLMUnavailable

        class Unavailable(real):  # type: ignore[misc,valid-type]  # the real class, with a reason argument
            def __init__(self, reason: str = "error") -> None:
                Exception.__init__(self, reason)
                self.reason = reason

        fake.LLMUnavailable = Unavailable
    for name in ("suggestion_stream", "analytics_infer", "summary_fold"):
        monkeypatch.setattr(module, name, getattr(fake, name), raising=False)
    return fake


@dataclass
class SentEvents:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.events if kind == event_type]

    @property
    def types(self) -> list[str]:
        return [kind for kind, _ in self.events]


@pytest.fixture
def sent_events(monkeypatch: pytest.MonkeyPatch) -> SentEvents:
    """Captures what apps.copilot.events would send to channel groups (at send time, i.e. after commit)."""
    from apps.copilot import events

    sent = SentEvents()
    monkeypatch.setattr(
        events, "_send_now", lambda group, kind, payload: sent.events.append((kind, {"group": group, **payload}))
    )
    return sent
