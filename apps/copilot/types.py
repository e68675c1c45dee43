"""The copilot's data shapes (SPEC §7, docs/copilot.md), shared by `apps.ai.copilot` (generation), `apps.copilot`
(orchestration, REST) and `apps.console` (rendering). Plain dataclasses: no Django, no LangChain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Speaker = Literal["client", "agent"]
PRIORITIES = ("low", "medium", "high", "critical")
TRENDS = ("improving", "declining", "stable")
SENTIMENTS = ("positive", "negative", "neutral")
EMOTIONS = ("joy", "anger", "uncertain", "neutral")

MAX_REPLIES = 3
MIN_REPLIES = 2
MAX_QUESTIONS = 3
MIN_QUESTIONS = 2
REPLY_MAX_CHARS = 400  # "short" reply variants


@dataclass
class Citation:
    title: str
    url: str
    chunk_id: int


@dataclass
class Reply:
    text: str
    citations: list[Citation] = field(default_factory=list)


@dataclass
class OutputSuggestion:
    """What the agent sees. Rules: not silent → 2–3 replies (each ≤ REPLY_MAX_CHARS) and 2–3 questions; silent →
    no replies (the other fields may still be filled); priority in PRIORITIES; confidence in [0, 1];
    sentiment_trend in TRENDS."""

    replies: list[Reply] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    signals_detected: list[str] = field(default_factory=list)
    recommended_direction: str = ""
    priority: str = "low"
    confidence: float = 0.0
    next_best_actions: list[str] = field(default_factory=list)
    sentiment_trend: str = "stable"
    silent: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputSuggestion:
        replies = [
            Reply(text=str(r.get("text", "")), citations=[Citation(**c) for c in r.get("citations", [])])
            for r in data.get("replies", [])
        ]
        return cls(**{**{k: v for k, v in data.items() if k in cls.__dataclass_fields__}, "replies": replies})


@dataclass
class ContextMessage:
    speaker: Speaker
    text: str
    sentiment: str | None = None
    emotion: str | None = None


@dataclass
class Passage:
    """A knowledge-base chunk retrieved for the conversation (agents may see internal documents)."""

    chunk_id: int
    title: str
    url: str
    text: str
    similarity: float | None  # cosine similarity to the query; None when found by full-text search only


@dataclass
class CopilotContext:
    """What a suggestion is built from: the last COPILOT_VERBATIM_MESSAGES messages verbatim, the older ones folded
    into ``summary``, key ``entities`` (names, amounts, dates, order numbers) kept, the knowledge passages retrieved
    for the latest customer message, and its language ("fr" | "en")."""

    messages: list[ContextMessage]
    summary: str = ""
    entities: dict[str, list[str]] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    language: str = "fr"

    @property
    def retrieval_score(self) -> float:
        scores = [p.similarity for p in self.passages if p.similarity is not None]
        return max(scores, default=0.0)


# ---------------------------------------------------------------- streaming deltas (generation → orchestration)


@dataclass
class ReplyDelta:
    """``text`` is appended to reply ``index`` (0-based); a new index starts a new variant."""

    index: int
    text: str


@dataclass
class FieldDelta:
    """A whole field became known: ``name`` is an OutputSuggestion field other than replies/silent, or
    ``citations`` with ``index`` (the reply whose citations these are) and ``value`` a list of Citation."""

    name: str
    value: Any
    index: int | None = None


@dataclass
class Usage:
    """What a suggestion's model calls used (added for the stats; local provider: zeros)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Done:
    """The complete, validated suggestion (always the last delta).

    Optional additions (orchestration): ``usage`` — the stream's token usage and cost, stored on the Suggestion
    row (None: taken from the LLMCall rows of the generation's time window, 0 with the local provider);
    ``provider`` — what produced it when it differs from LLM_PROVIDER (e.g. "openai+local" for a local stand-in),
    "" for LLM_PROVIDER."""

    suggestion: OutputSuggestion
    usage: Usage | None = None
    provider: str = ""


Delta = ReplyDelta | FieldDelta | Done


@dataclass
class Analytics:
    """Per-conversation analytics (SPEC §7)."""

    intent: str = ""
    sentiment: str = "neutral"
    emotion: str = "neutral"
    summary: str = ""
    churn_risk: int = 0  # 0–100
    next_action: str = ""
