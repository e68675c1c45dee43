"""Label extraction for closed conversations (SPEC §5.5–5.6), for both providers.

- `openai`: one structured-output call (function calling) for a batch of up to 5 conversations; output is
  normalised with `label_rules`; a conversation whose answer is invalid is asked again, and after two invalid
  answers the fallback model is used once. Text is PII-redacted before it leaves the machine.
- `local`: keyphrase extraction with lexicons (`apps.ai.local.labels`), same rules, recorded as a call.

Token limit: at most LABELS_MAX_TOKENS (2,000) tokens of conversation per call; the oldest messages are dropped
first; batches only grow while the sum stays under the limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from apps.ai.label_rules import normalise_labels
from apps.ai.local.text import detect_language
from apps.ai.prompts import load_prompt
from apps.ai.providers import get_chat_model, get_embeddings
from apps.ai.recording import llm_call_record
from apps.ai.tokens import count_tokens
from apps.core.privacy import redact

logger = logging.getLogger(__name__)

Message = tuple[str, str]  # (role "user"|"support", text)


@dataclass
class ConversationText:
    key: str
    messages: list[Message]
    tokens: int = 0
    dropped: int = 0
    labels: list[str] = field(default_factory=list)


def message_line(role: str, text: str) -> str:
    return f"{role}: {' '.join(text.split())}"


def truncate_oldest(messages: Sequence[Message], limit: int) -> tuple[list[Message], int, int]:
    """Keep the newest messages whose lines fit in ``limit`` tokens. Returns (kept, dropped count, tokens).

    A single newest message longer than the limit is cut to its last ``limit`` tokens' worth of words.
    """
    kept: list[Message] = []
    total = 0
    for role, text in reversed(messages):
        cost = count_tokens(message_line(role, text)) + 1
        if total + cost > limit:
            if not kept:  # even the newest message is too long: keep its end
                words = text.split()
                while words and count_tokens(message_line(role, " ".join(words))) + 1 > limit:
                    words = words[len(words) // 10 + 1 :]
                if words:
                    kept.append((role, " ".join(words)))
                    total = count_tokens(message_line(role, " ".join(words))) + 1
            break
        kept.append((role, text))
        total += cost
    kept.reverse()
    return kept, len(messages) - len(kept), total


def prepare(key: str, messages: Sequence[Message]) -> ConversationText:
    limit = settings.LABELS_MAX_TOKENS
    kept, dropped, tokens = truncate_oldest(messages, limit)
    return ConversationText(key=key, messages=kept, tokens=tokens, dropped=dropped)


def batches(conversations: Sequence[ConversationText]) -> list[list[ConversationText]]:
    """Group conversations in order: at most LABELS_BATCH_SIZE per batch, total tokens ≤ LABELS_MAX_TOKENS."""
    out: list[list[ConversationText]] = []
    current: list[ConversationText] = []
    total = 0
    for conv in conversations:
        if current and (len(current) >= settings.LABELS_BATCH_SIZE or total + conv.tokens > settings.LABELS_MAX_TOKENS):
            out.append(current)
            current, total = [], 0
        current.append(conv)
        total += conv.tokens
    if current:
        out.append(current)
    return out


def labels_extract(batch: Sequence[ConversationText]) -> dict[str, list[str]]:
    """Valid labels per conversation key for one batch (already truncated). A key missing from the result got
    no valid answer, even from the fallback model: the caller must store nothing for it. Transport errors
    (429/5xx/timeouts after the client's own retries) propagate."""
    if settings.LLM_PROVIDER == "local":
        return _extract_local(batch)
    return _extract_llm(batch)


# --------------------------------------------------------------------------- local provider


def _extract_local(batch: Sequence[ConversationText]) -> dict[str, list[str]]:
    from apps.ai.local import LOCAL_MODEL_NAME
    from apps.ai.local.labels import extract_labels

    embedder = get_embeddings()
    result: dict[str, list[str]] = {}
    for conv in batch:
        started = time.perf_counter()
        raw = extract_labels(conv.messages, limit=5, embed=embedder.embed_documents)
        labels = normalise_labels(raw)
        if labels:
            result[conv.key] = labels
        llm_call_record(
            purpose="labels",
            provider="local",
            model=LOCAL_MODEL_NAME,
            prompt_tokens=conv.tokens,
            completion_tokens=count_tokens(", ".join(labels)),
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
    return result


# --------------------------------------------------------------------------- openai provider


class _ConversationLabels(BaseModel):
    id: str
    labels: list[str]


class BatchLabels(BaseModel):
    """Tool schema: the labels of each conversation of the batch (1 to 5 short lowercase labels each)."""

    conversations: list[_ConversationLabels]


def _prompt(batch: Sequence[ConversationText]) -> list[SystemMessage | HumanMessage]:
    sample = " ".join(text for conv in batch for _, text in conv.messages[:5])
    lang = detect_language(sample)
    blocks = []
    for conv in batch:
        body = "\n".join(redact(message_line(role, text)) for role, text in conv.messages)
        blocks.append(f'<conversation id="{conv.key}">\n{body}\n</conversation>')
    return [SystemMessage(load_prompt("labels", lang)), HumanMessage("\n\n".join(blocks))]


def _call(batch: Sequence[ConversationText], *, fallback: bool) -> dict[str, list[str]]:
    model = get_chat_model("labels", fallback=fallback)
    structured = model.with_structured_output(BatchLabels, method="function_calling", include_raw=True)
    answer = structured.invoke(_prompt(batch))
    parsed = answer.get("parsed") if isinstance(answer, dict) else None
    valid: dict[str, list[str]] = {}
    if isinstance(parsed, BatchLabels):
        keys = {conv.key for conv in batch}
        for item in parsed.conversations:
            if item.id in keys and item.id not in valid:
                labels = normalise_labels(item.labels)
                if labels:
                    valid[item.id] = labels
    return valid


def _extract_llm(batch: Sequence[ConversationText]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    pending = list(batch)
    for attempt in range(3):  # primary model twice, then the fallback model once
        if not pending:
            break
        got = _call(pending, fallback=attempt == 2)
        result.update(got)
        if len(got) < len(pending):
            logger.warning(
                "labels: invalid model output", extra={"attempt": attempt + 1, "invalid": len(pending) - len(got)}
            )
        pending = [conv for conv in pending if conv.key not in result]
    return result
