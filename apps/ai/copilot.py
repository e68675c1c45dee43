"""Copilot generation (SPEC §7, docs/copilot.md): the only place where the copilot talks to a model.

Public functions (dispatch on LLM_PROVIDER):

- ``suggestion_stream(context) -> Iterator[Delta]`` — a suggestion for the customer's latest message, streamed:
  ``FieldDelta("confidence")`` first, then each reply's text as ``ReplyDelta``s (pieces to append) followed by its
  ``FieldDelta("citations", index=i)``, then the other fields as ``FieldDelta``s, and always a ``Done`` last, whose
  suggestion obeys `OutputSuggestion`'s rules (`suggestion_normalise`) and is what must be stored: the streamed
  pieces are a preview. Silence: when the best-ranked passage's similarity is under `copilot_min_retrieval` or the
  confidence under COPILOT_MIN_CONFIDENCE, no reply is streamed and ``Done.suggestion`` is silent with no replies
  (the other fields are still filled). With `openai` the model writes "confidence" first and a low one stops the
  stream before any reply. Raises `LLMUnavailable` ("error", "timeout", "circuit_open") before any ``Done`` when
  the model cannot answer; an answer that is not valid JSON gives the local suggestion instead (``Done.provider``
  "openai+local"). ``Done.usage`` holds the call's tokens and cost (zeros with `local`).
- ``analytics_infer(context) -> Analytics`` — intent, sentiment, emotion, one-line summary, churn_risk, next_action.
  `openai`: one call, JSON answer validated; an invalid answer gives the local analytics; raises LLMUnavailable
  when the model cannot answer.
- ``summary_fold(previous, messages, language) -> str`` — the running summary with ``messages`` folded in.
  `openai`: the "summary" prompt (PII-redacted); raises LLMUnavailable when the model cannot answer.

Everything sent to an external model is PII-redacted (`apps.core.privacy.redact`). Logs carry ids, kinds and error
classes, never content.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx
import openai
from django.conf import settings

from apps.ai.breaker import LLMUnavailable
from apps.copilot.types import (
    EMOTIONS,
    MAX_QUESTIONS,
    MAX_REPLIES,
    MIN_QUESTIONS,
    MIN_REPLIES,
    PRIORITIES,
    REPLY_MAX_CHARS,
    SENTIMENTS,
    TRENDS,
    Analytics,
    Citation,
    ContextMessage,
    CopilotContext,
    Delta,
    Done,
    FieldDelta,
    OutputSuggestion,
    Passage,
    Reply,
    ReplyDelta,
    Usage,
)

__all__ = [
    "LLMUnavailable",
    "analytics_infer",
    "copilot_min_retrieval",
    "signal_label",
    "suggestion_normalise",
    "suggestion_stream",
    "summary_fold",
]

logger = logging.getLogger(__name__)

FIELD_ORDER = ("questions", "signals_detected", "recommended_direction", "priority", "next_best_actions")
MAX_SIGNALS = 6
MAX_ACTIONS = 4
QUESTION_MAX_CHARS = 200
TEXT_MAX_CHARS = 300
_CITE = re.compile(r"\s*\[(\d{1,2})\]")
_PRIORITY_SYNONYMS = {"urgent": "critical", "normal": "medium", "moderate": "medium", "haute": "high", "basse": "low"}
_TREND_SYNONYMS = {
    "worsening": "declining",
    "deteriorating": "declining",
    "negative": "declining",
    "better": "improving",
    "positive": "improving",
    "steady": "stable",
    "neutral": "stable",
}


# ----------------------------------------------------------------------------------------------- thresholds


def copilot_min_retrieval(model_name: str) -> float:
    """COPILOT_MIN_RETRIEVAL for the embedding model: its calibrated value, else the "default" (set by the
    COPILOT_MIN_RETRIEVAL variable), else the knowledge search's own minimum similarity for that model."""
    from apps.knowledge.selectors import min_similarity_for

    table = settings.COPILOT_MIN_RETRIEVAL
    value = table.get(model_name, table.get("default"))
    return float(value) if value is not None else min_similarity_for(model_name)


def _retrieval_threshold() -> float:
    from apps.ai.providers import embeddings_model_name

    return copilot_min_retrieval(embeddings_model_name())


def signal_label(slug: str, language: str = "fr") -> str:
    """The display label of a local signal slug (e.g. "cancellation" → "Intention de résiliation")."""
    from apps.ai.local.copilot import SIGNALS

    return SIGNALS.get(language, SIGNALS["fr"]).get(slug, slug)


# ----------------------------------------------------------------------------------------------- normalisation


def _clean(value: Any, limit: int) -> str:
    text = " ".join(str(value).split()) if isinstance(value, (str, int, float)) else ""
    from apps.ai.local.copilot import shorten

    return shorten(text, limit) if text else ""


def _str_list(value: Any, limit: int, max_items: int) -> list[str]:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    out: list[str] = []
    for item in items:
        text = _clean(item, limit)
        if text and text.lower() not in (o.lower() for o in out):
            out.append(text)
    return out[:max_items]


def _citation_of(value: Any, passages: Sequence[Passage]) -> Citation | None:
    if isinstance(value, Citation):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)) and str(value).strip().lstrip("[").rstrip("]").isdigit():
        n = int(str(value).strip().lstrip("[").rstrip("]"))
        if 1 <= n <= len(passages):
            p = passages[n - 1]
            return Citation(title=p.title, url=p.url, chunk_id=p.chunk_id)
        return None
    if isinstance(value, Mapping):
        try:
            return Citation(title=str(value["title"]), url=str(value.get("url", "")), chunk_id=int(value["chunk_id"]))
        except (KeyError, TypeError, ValueError):
            return None
    return None


def _reply_of(value: Any, passages: Sequence[Passage]) -> Reply | None:
    if isinstance(value, Reply):
        value = {"text": value.text, "citations": value.citations}
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, Mapping):
        return None
    text = value.get("text")
    if not isinstance(text, str):
        return None
    cited = [m.group(1) for m in _CITE.finditer(text)]  # inline [n] markers: citations, removed from the text
    text = _clean(_CITE.sub("", text), REPLY_MAX_CHARS)
    if not text:
        return None
    raw_citations = value.get("citations", value.get("sources", []))
    raw_list = list(raw_citations) if isinstance(raw_citations, list) else [raw_citations]
    citations: list[Citation] = []
    for item in [*raw_list, *cited]:
        citation = _citation_of(item, passages)
        if citation is not None and citation.chunk_id not in (c.chunk_id for c in citations):
            citations.append(citation)
    return Reply(text=text, citations=citations)


def suggestion_normalise(
    raw: Mapping[str, Any] | OutputSuggestion,
    *,
    passages: Sequence[Passage] = (),
    extra_questions: Sequence[str] = (),
    min_confidence: float | None = None,
) -> OutputSuggestion:
    """An OutputSuggestion that obeys its rules, from a model's (or the local provider's) raw answer.

    - confidence: a number clamped to [0, 1] (anything else: 0);
    - priority / sentiment_trend: one of PRIORITIES / TRENDS (a few synonyms mapped; else "low" / "stable");
    - replies: texts (whitespace collapsed, inline ``[n]`` markers turned into citations) cut to REPLY_MAX_CHARS,
      empty and duplicate ones dropped, at most MAX_REPLIES; citations are Citation dicts or passage numbers
      (1-based, in ``passages``; unknown numbers dropped), in "citations" or "sources";
    - questions: at most MAX_QUESTIONS, topped up from ``extra_questions`` when fewer than MIN_QUESTIONS;
    - silent when the answer says so, the confidence is under ``min_confidence`` (COPILOT_MIN_CONFIDENCE), fewer than
      MIN_REPLIES replies remain, or fewer than MIN_QUESTIONS questions; silent ⇒ no replies.
    """
    if isinstance(raw, OutputSuggestion):
        raw = raw.as_dict()
    threshold = settings.COPILOT_MIN_CONFIDENCE if min_confidence is None else min_confidence
    try:
        confidence = float(raw.get("confidence", 0.0))
    except (TypeError, ValueError):
        confidence = 0.0
    confidence = 0.0 if confidence != confidence else round(max(0.0, min(1.0, confidence)), 3)  # NaN → 0
    priority = str(raw.get("priority", "")).strip().lower()
    priority = _PRIORITY_SYNONYMS.get(priority, priority)
    trend = str(raw.get("sentiment_trend", "")).strip().lower()
    trend = _TREND_SYNONYMS.get(trend, trend)
    replies: list[Reply] = []
    raw_replies = raw.get("replies")
    for item in raw_replies if isinstance(raw_replies, list) else []:
        reply = _reply_of(item, passages)
        if reply is not None and reply.text.lower() not in (r.text.lower() for r in replies):
            replies.append(reply)
    replies = replies[:MAX_REPLIES]
    questions = _str_list(raw.get("questions"), QUESTION_MAX_CHARS, MAX_QUESTIONS)
    for extra in extra_questions:
        if len(questions) >= MIN_QUESTIONS:
            break
        if extra.lower() not in (q.lower() for q in questions):
            questions.append(extra)
    silent = (
        bool(raw.get("silent", False)) is True
        or confidence < threshold
        or len(replies) < MIN_REPLIES
        or len(questions) < MIN_QUESTIONS
    )
    return OutputSuggestion(
        replies=[] if silent else replies,
        questions=questions,
        signals_detected=_str_list(raw.get("signals_detected"), 80, MAX_SIGNALS),
        recommended_direction=_clean(raw.get("recommended_direction", ""), TEXT_MAX_CHARS),
        priority=priority if priority in PRIORITIES else "low",
        confidence=confidence,
        next_best_actions=_str_list(raw.get("next_best_actions"), 160, MAX_ACTIONS),
        sentiment_trend=trend if trend in TRENDS else "stable",
        silent=silent,
    )


def suggestion_deltas(
    suggestion: OutputSuggestion, *, provider: str = "", usage: Usage | None = None
) -> Iterator[Delta]:
    """Stream a finished suggestion: confidence, each reply in pieces of a few words then its citations, the other
    fields, the trend, then Done."""
    from apps.ai.local.copilot import reply_pieces

    yield FieldDelta("confidence", suggestion.confidence)
    for index, reply in enumerate(suggestion.replies):
        for piece in reply_pieces(reply.text):
            yield ReplyDelta(index, piece)
        yield FieldDelta("citations", list(reply.citations), index)
    for name in FIELD_ORDER:
        yield FieldDelta(name, getattr(suggestion, name))
    yield FieldDelta("sentiment_trend", suggestion.sentiment_trend)
    yield Done(suggestion, usage=usage or Usage(), provider=provider)


# ----------------------------------------------------------------------------------------------- dispatch


def suggestion_stream(context: CopilotContext) -> Iterator[Delta]:
    """See the module docstring. ``context.passages`` best first; ``context.language`` "fr" | "en"."""
    if settings.LLM_PROVIDER == "openai":
        yield from _openai_stream(context)
    else:
        yield from _local_stream(context)


def analytics_infer(context: CopilotContext) -> Analytics:
    """See the module docstring."""
    if settings.LLM_PROVIDER == "openai":
        return _openai_analytics(context)
    from apps.ai.local.copilot import analytics_for

    return analytics_for(context)


def summary_fold(previous: str, messages: list[ContextMessage], language: str) -> str:
    """See the module docstring. ``previous`` may be ""; the result is one paragraph (≤ ~600 characters)."""
    from apps.ai.local.copilot import summary_fold_local

    if settings.LLM_PROVIDER != "openai" or not messages:
        return summary_fold_local(previous, messages, language)
    from langchain_core.messages import HumanMessage, SystemMessage

    from apps.ai.prompts import load_prompt
    from apps.core.privacy import redact

    lines = "\n".join(f"{m.speaker}: {' '.join(m.text.split())}" for m in messages if m.text.strip())
    label = ("Résumé précédent", "Messages") if language == "fr" else ("Previous summary", "Messages")
    human = f"{label[0]}:\n{previous or '-'}\n\n{label[1]}:\n{lines}"
    model = _chat_model("summary")
    try:
        answer = model.invoke([SystemMessage(load_prompt("summary", language)), HumanMessage(redact(human))])
    except Exception as exc:
        raise _unavailable(exc, "summary") from exc
    text = answer.content if isinstance(answer.content, str) else ""
    text = " ".join(text.split())
    return text[:1000] if text else summary_fold_local(previous, messages, language)


# ----------------------------------------------------------------------------------------------- local


def _local_raw(context: CopilotContext, *, ground: bool = True) -> dict[str, Any]:
    from apps.ai.local.copilot import suggestion_raw
    from apps.ai.providers import get_embeddings

    return suggestion_raw(context, get_embeddings(), _retrieval_threshold(), ground=ground)


def _local_suggestion(context: CopilotContext) -> OutputSuggestion:
    return suggestion_normalise(_local_raw(context), passages=context.passages)


def _local_stream(context: CopilotContext) -> Iterator[Delta]:
    from apps.ai.local import LOCAL_MODEL_NAME
    from apps.ai.recording import llm_call_record

    started = time.perf_counter()
    suggestion = _local_suggestion(context)
    first_ms = int((time.perf_counter() - started) * 1000)
    for delta in suggestion_deltas(suggestion, usage=Usage()):
        if isinstance(delta, Done):
            # Recorded like any model call (cost 0), for the latency and volume stats.
            llm_call_record(
                purpose="copilot",
                provider="local",
                model=LOCAL_MODEL_NAME,
                prompt_tokens=0,
                completion_tokens=0,
                latency_ms=int((time.perf_counter() - started) * 1000),
                first_token_ms=first_ms,
                streamed=True,
                tokens_estimated=True,
            )
        yield delta


# ----------------------------------------------------------------------------------------------- openai


def _chat_model(purpose: str) -> Any:
    from apps.ai.providers import get_chat_model

    return get_chat_model(purpose)  # raises LLMUnavailable("circuit_open")


def _unavailable(exc: BaseException, purpose: str) -> LLMUnavailable:
    """The LLMUnavailable for a failed call (logged with the error class only)."""
    if isinstance(exc, LLMUnavailable):
        return exc
    timeout = isinstance(exc, (TimeoutError, httpx.TimeoutException, openai.APITimeoutError))
    reason = "timeout" if timeout else "error"
    logger.warning(
        "copilot: model unavailable", extra={"purpose": purpose, "reason": reason, "error_type": type(exc).__name__}
    )
    return LLMUnavailable(reason)


def _transcript(context: CopilotContext) -> str:
    from apps.core.privacy import redact

    labels = {"client": "client", "agent": "agent"}
    lines = [
        f"{labels.get(m.speaker, m.speaker)}: {' '.join(m.text.split())}" for m in context.messages if m.text.strip()
    ]
    parts = []
    if context.summary:
        parts.append(
            ("Résumé des messages précédents" if context.language == "fr" else "Earlier messages, summarised")
            + ":\n"
            + context.summary
        )
    entities = {k: v for k, v in context.entities.items() if v}
    if entities:
        parts.append(
            ("Entités" if context.language == "fr" else "Entities") + ": " + json.dumps(entities, ensure_ascii=False)
        )
    parts.append("Conversation:\n" + "\n".join(lines))
    return redact("\n\n".join(parts))


def _passages_block(passages: Sequence[Passage]) -> str:
    from apps.core.privacy import redact

    return "\n\n".join(f"[{i}] {p.title}\n{redact(' '.join(p.text.split()))}" for i, p in enumerate(passages, 1)) or "-"


def _messages(prompt: str, context: CopilotContext) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    from apps.ai.prompts import load_prompt

    system = load_prompt(prompt, context.language).replace("{passages}", _passages_block(context.passages))
    return [SystemMessage(system), HumanMessage(_transcript(context))]


class _PartialJSON:
    """The JSON object of a growing text, parsed as it grows, like LangChain's ``parse_partial_json`` (open strings
    and brackets closed, a trailing incomplete token dropped) but incrementally: each piece's characters are scanned
    once, where ``parse_partial_json`` scans the whole text again on every piece (quadratic over a streamed answer;
    6 % of the copilot worker's time). Text before the first "{" is ignored."""

    TRIM_LIMIT = 64  # trailing characters dropped, one at a time, before the slow path

    def __init__(self) -> None:
        self.started = False
        self.raw: list[str] = []  # the text from the first "{"
        self.chars: list[str] = []  # the same with raw newlines inside strings escaped
        self.closing: list[str] = []  # brackets to close, innermost last
        self.in_string = False
        self.escaped = False
        self.malformed = False

    def feed(self, piece: str) -> Any:
        if not self.started:
            start = piece.find("{")
            if start < 0:
                return None
            self.started, piece = True, piece[start:]
        self.raw.append(piece)
        for char in piece:
            out = char
            if self.in_string:
                if char == '"' and not self.escaped:
                    self.in_string = False
                elif char == "\n" and not self.escaped:
                    out = "\\n"
                elif char == "\\":
                    self.escaped = not self.escaped
                else:
                    self.escaped = False
            elif char == '"':
                self.in_string, self.escaped = True, False
            elif char in "{[":
                self.closing.append("}" if char == "{" else "]")
            elif char in "}]":
                if self.closing and self.closing[-1] == char:
                    self.closing.pop()
                else:
                    self.malformed = True
            self.chars.append(out)
        return self.parse()

    def parse(self) -> Any:
        if self.malformed:
            return None
        text = "".join(self.raw)
        try:
            return json.loads(text, strict=False)
        except ValueError:
            pass
        chars = list(self.chars)
        if self.in_string:
            if self.escaped:
                chars.pop()
            chars.append('"')
        suffix = "".join(reversed(self.closing))
        for _ in range(self.TRIM_LIMIT):
            if not chars:
                return None
            try:
                return json.loads("".join(chars) + suffix, strict=False)
            except ValueError:
                chars.pop()
        from langchain_core.utils.json import parse_partial_json

        try:
            return parse_partial_json(text)
        except ValueError:
            return None


class _StreamState:
    """Turns the growing JSON text of a streamed answer into deltas (see `_openai_stream`)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        self.text = ""
        self.parsed: dict[str, Any] = {}
        self.reply_sent: list[str] = []  # text already streamed per reply
        self.citations_sent: set[int] = set()
        self.fields_sent: set[str] = set()
        self.confidence: float | None = None
        self._partial = _PartialJSON()

    def feed(self, chunk: str) -> list[Delta]:
        self.text += chunk
        parsed = self._partial.feed(chunk)
        if not isinstance(parsed, dict):
            return []
        self.parsed = parsed
        return self._deltas(parsed, final=False)

    def _complete(self, parsed: dict[str, Any], key: str, final: bool) -> bool:
        """A key's value is complete once a later key exists (the JSON object's order is the model's order)."""
        keys = list(parsed)
        return key in parsed and (final or keys.index(key) < len(keys) - 1)

    def _deltas(self, parsed: dict[str, Any], final: bool) -> list[Delta]:
        out: list[Delta] = []
        if self.confidence is None and self._complete(parsed, "confidence", final):
            try:
                self.confidence = max(0.0, min(1.0, float(parsed["confidence"])))
            except (TypeError, ValueError):
                self.confidence = 0.0
            out.append(FieldDelta("confidence", self.confidence))
        if self.confidence is None or self.confidence < settings.COPILOT_MIN_CONFIDENCE:
            return out  # no reply is shown before a high enough confidence is known
        replies = parsed.get("replies")
        if isinstance(replies, list):
            replies_done = self._complete(parsed, "replies", final)
            for index, item in enumerate(replies[:MAX_REPLIES]):
                text = item.get("text") if isinstance(item, dict) else None
                if not isinstance(text, str):
                    continue
                while len(self.reply_sent) <= index:
                    self.reply_sent.append("")
                # As `_reply_of` will clean it: markers removed, whitespace collapsed. A trailing "[" or "[1" may be
                # a marker still arriving, and trailing spaces may precede one: both are held back.
                shown = " ".join(re.sub(r"\s*\[\d{0,2}$", "", _CITE.sub("", text)).split())[:REPLY_MAX_CHARS]
                sent = self.reply_sent[index]
                if shown.startswith(sent) and len(shown) > len(sent):
                    out.append(ReplyDelta(index, shown[len(sent) :]))
                    self.reply_sent[index] = shown
                item_done = replies_done or index < len(replies) - 1
                if item_done and index not in self.citations_sent:
                    reply = _reply_of(item, self.passages)
                    out.append(FieldDelta("citations", reply.citations if reply else [], index))
                    self.citations_sent.add(index)
        for name in (*FIELD_ORDER, "sentiment_trend"):
            if name not in self.fields_sent and self._complete(parsed, name, final):
                self.fields_sent.add(name)
                value = getattr(suggestion_normalise({name: parsed[name]}, min_confidence=1.1), name)
                out.append(FieldDelta(name, value))
        return out


def _usage_of(model_name: str, prompt_tokens: int, completion_tokens: int) -> Usage:
    from apps.ai.recording import cost_usd

    cost: Decimal = cost_usd(model_name, prompt_tokens, completion_tokens)
    return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=float(cost))


def _openai_stream(context: CopilotContext) -> Iterator[Delta]:
    """The `openai` suggestion: retrieval under the threshold → the local (silent) suggestion without a call;
    otherwise one streamed call whose JSON answer is turned into deltas as it grows."""
    from apps.ai.local.copilot import conversation_read, questions_for, retrieval_similarity

    passages = context.passages
    top = retrieval_similarity(passages)
    # A best passage found by full-text search alone carries no similarity: the model's confidence decides then.
    if not passages or (top is not None and top < _retrieval_threshold()):
        yield from suggestion_deltas(_local_suggestion(context), provider="local")
        return
    state = _StreamState(passages)
    # The lean client (apps.ai.chat_stream), not LangChain's: the same settings, breaker and LLMCall record, a third
    # less of the worker's CPU per suggestion.
    from apps.ai.chat_stream import ChatStream

    roles = {"system": "system", "human": "user", "ai": "assistant"}
    messages = [{"role": roles[m.type], "content": str(m.content)} for m in _messages("copilot", context)]
    stream = ChatStream(purpose="copilot", messages=messages)
    stopped = False
    try:
        for content in stream:
            yield from state.feed(content)
            if state.confidence is not None and state.confidence < settings.COPILOT_MIN_CONFIDENCE:
                stopped = True  # silence: stop paying for tokens nobody will see
                break
    except GeneratorExit:
        stream.close()
        raise
    except Exception as exc:
        raise _unavailable(exc, "copilot") from exc
    finally:
        if stopped:
            stream.close()
    prompt_tokens, completion_tokens = stream.usage
    usage = _usage_of(settings.LLM_MODEL, prompt_tokens, completion_tokens)
    if stopped:
        raw: dict[str, Any] = {**_local_raw(context, ground=False), "confidence": state.confidence, "replies": []}
        yield Done(suggestion_normalise(raw, passages=passages), usage=usage, provider="")
        return
    parsed = _final_json(state.text)
    if parsed is None:
        logger.warning("copilot: invalid model answer; local suggestion used", extra={"purpose": "copilot"})
        yield Done(_local_suggestion(context), usage=usage, provider="openai+local")
        return
    # Fields the stream had not yet announced (the last one is complete only now).
    yield from state._deltas(parsed, final=True)
    # Read only now: the lexicon pass is not on the first token's path.
    extra_questions = questions_for(conversation_read(context))
    yield Done(suggestion_normalise(parsed, passages=passages, extra_questions=extra_questions), usage=usage)


def _final_json(text: str) -> dict[str, Any] | None:
    """The answer's JSON object (a ```json fence or text around it tolerated); None when there is none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _openai_analytics(context: CopilotContext) -> Analytics:
    from apps.ai.local.copilot import analytics_for

    model = _chat_model("copilot_analytics")
    try:
        answer = model.invoke(_messages("copilot_analytics", context))
    except Exception as exc:
        raise _unavailable(exc, "copilot_analytics") from exc
    content = answer.content if isinstance(answer.content, str) else ""
    parsed = _final_json(content)
    local = analytics_for(context)
    if parsed is None:
        logger.warning(
            "copilot: invalid analytics answer; local analytics used", extra={"purpose": "copilot_analytics"}
        )
        return local
    return analytics_normalise(parsed, fallback=local)


def analytics_normalise(raw: Mapping[str, Any], *, fallback: Analytics) -> Analytics:
    """Analytics from a model's raw answer: sentiment/emotion in SENTIMENTS/EMOTIONS, churn_risk an int clamped to
    0–100, texts one line; a missing or invalid field takes ``fallback``'s value."""

    def text(key: str, limit: int) -> str:
        return _clean(raw.get(key, ""), limit) or str(getattr(fallback, key))

    sentiment = str(raw.get("sentiment", "")).lower()
    emotion = str(raw.get("emotion", "")).lower()
    try:
        risk = round(float(raw.get("churn_risk")))  # type: ignore[arg-type]  # validated by the except
        risk = max(0, min(100, risk))
    except (TypeError, ValueError):
        risk = fallback.churn_risk
    return Analytics(
        intent=text("intent", 60),
        sentiment=sentiment if sentiment in SENTIMENTS else fallback.sentiment,
        emotion=emotion if emotion in EMOTIONS else fallback.emotion,
        summary=text("summary", 200),
        churn_risk=risk,
        next_action=text("next_action", 160),
    )
