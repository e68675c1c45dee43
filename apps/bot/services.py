"""The bot's first line (SPEC §6; contract: docs/live-chat.md, "Bot" row).

`bot_respond(*, conversation, text) -> BotReply` decides, in this order:

(a) escalation — the customer asks for a human (or says yes to the bot's offer of one), wants to cancel, demands a
    refund, disputes a charge, files an official complaint, is intensely angry, or the bot has failed
    BOT_MAX_FAILURES times (its non-confident answers since a human last took part): a short hand-over message in
    the customer's language, with a ticket category and priority;
(b) smart replies — admin-editable rules (apps.bot.models.SmartReply), instant, no language model;
(c) a knowledge-base answer — `knowledge_search`, then with LLM_PROVIDER=local the best 1–3 sentences of the
    top passages (apps.ai.local.bot), with `openai` a grounded answer from the "bot" prompt (question
    PII-redacted); sources cite each document used as {title, url};
(d) otherwise, when retrieval is not confident (no hit, or the answer's similarity below BOT_MIN_SCORE), an
    honest "I'm not sure; shall I get you a human?" (kind "no_answer", not confident). The failure that reaches
    BOT_MAX_FAILURES escalates instead (reason "bot_failures").

It reads the conversation's earlier messages but never writes: the conversation service stores the reply (with
``metadata={"kind", "confident"}``) and escalates when ``kind == "escalation"``. The only rows written on its
behalf are the AI seam's own LLMCall records when the `openai` provider is called. It never raises: odd input
(empty, emoji only, very long, not a string) gets an answer, and an internal error gets the no-answer reply.
Logs carry no message content.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings
from django.db import transaction

from apps.ai.local.text import words
from apps.bot import replies
from apps.bot.rules import escalation_for, guess_category, is_affirmative, language_of, normalise
from apps.bot.selectors import BotHistory, bot_history, smart_reply_match

if TYPE_CHECKING:
    from apps.conversations.models import Conversation
    from apps.knowledge.selectors import SearchHit

logger = logging.getLogger(__name__)

Kind = Literal["smart", "knowledge", "no_answer", "escalation"]
_NEGATIVE_ANSWERS = frozenset("non no nope nan pas merci thanks".split())
_GREETINGS = frozenset("bonjour bonsoir salut coucou hello hi hey".split())


@dataclass
class BotReply:
    """What the bot says and what should happen next (contract: docs/live-chat.md).

    ``score`` (not in the contract; may be None) is the confidence measure compared to BOT_MIN_SCORE for
    knowledge answers, for the admin tester and the benchmark."""

    text: str
    sources: list[dict[str, str]] = field(default_factory=list)
    kind: Kind = "no_answer"
    confident: bool = False
    escalate_reason: str | None = None
    category: str | None = None
    priority: str | None = None
    language: str = "fr"
    score: float | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """What the conversation core stores on the bot's message (``Message.metadata``)."""
        out: dict[str, Any] = {"kind": self.kind, "confident": self.confident}
        if self.escalate_reason:
            out["escalate_reason"] = self.escalate_reason
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bot_min_score(model_name: str) -> float:
    """BOT_MIN_SCORE for the embedding model: its calibrated value, else the "default" (set by the BOT_MIN_SCORE
    variable), else the knowledge search's own minimum similarity for that model."""
    from apps.knowledge.selectors import min_similarity_for

    table = settings.BOT_MIN_SCORE
    value = table.get(model_name, table.get("default"))
    return float(value) if value is not None else min_similarity_for(model_name)


def bot_respond(*, conversation: Conversation | None, text: str) -> BotReply:
    """The bot's reply to the customer's ``text`` in ``conversation`` (None: no history, e.g. the admin tester).
    Read-only; never raises (see the module docstring)."""
    started = time.perf_counter()
    text = text if isinstance(text, str) else ""
    text = text.replace("\x00", "")[: settings.BOT_MAX_INPUT_CHARS]
    try:
        # A savepoint: a database error inside (a failed search query) must not abort the caller's transaction,
        # in which the conversation service goes on to store the reply.
        with transaction.atomic():
            reply = _respond(conversation, text)
    except Exception as exc:  # the customer must always get an answer; the error is logged without content
        logger.error(
            "bot reply failed",
            extra={"conversation_id": getattr(conversation, "pk", None), "error_type": type(exc).__name__},
        )
        lang = "fr"
        with contextlib.suppress(Exception):  # the language is a nicety here
            lang = language_of(text)
        reply = BotReply(text=replies.NO_ANSWER[lang], kind="no_answer", confident=False, language=lang)
    logger.info(
        "bot reply",
        extra={
            "conversation_id": getattr(conversation, "pk", None),
            "kind": reply.kind,
            "confident": reply.confident,
            "escalate_reason": reply.escalate_reason,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return reply


def _escalation(reason: str, lang: str, category: str | None, priority: str) -> BotReply:
    return BotReply(
        text=replies.ESCALATION[lang][reason],
        kind="escalation",
        confident=reason != "bot_failures",
        escalate_reason=reason,
        category=category,
        priority=priority,
        language=lang,
    )


def _topic(text: str, history: BotHistory) -> str:
    category = guess_category(text)
    for earlier in history.customer_texts:
        if category != "general":
            break
        category = guess_category(earlier)
    return category


def _respond(conversation: Conversation | None, text: str) -> BotReply:
    history = bot_history(conversation)
    lang = language_of(text, history.customer_texts)
    norm = normalise(text)

    # (a) escalation rules
    if history.last_bot_kind == "no_answer" and is_affirmative(norm):
        return _escalation("human_request", lang, _topic("", history), "MEDIUM")
    rule = escalation_for(
        text, negative_threshold=settings.BOT_NEGATIVE_THRESHOLD, urgent_threshold=settings.BOT_URGENT_THRESHOLD
    )
    if rule is not None:
        return _escalation(rule.reason, lang, rule.category or _topic(text, history), rule.priority)
    if history.failures >= settings.BOT_MAX_FAILURES:
        return _escalation("bot_failures", lang, _topic(text, history), "MEDIUM")

    # (b) smart replies, and messages with nothing to search
    tokens = words(norm)
    if not tokens:
        return BotReply(text=replies.EMPTY[lang], kind="smart", confident=True, language=lang)
    if history.last_bot_kind == "no_answer" and len(tokens) <= 3 and tokens[0] in _NEGATIVE_ANSWERS:
        return BotReply(text=replies.DECLINED[lang], kind="smart", confident=True, language=lang)
    match = smart_reply_match(text, language=lang)
    if match is not None:
        rule_lang = match.rule.language if match.rule.language in ("fr", "en") else lang
        sources = (
            [{"title": match.rule.source_title or match.rule.name, "url": match.rule.url}]
            if match.rule.source_title or match.rule.url
            else []
        )
        return BotReply(text=match.rule.answer, sources=sources, kind="smart", confident=True, language=rule_lang)

    # (c) knowledge base, (d) no confident answer
    reply = _knowledge_answer(text[: settings.BOT_MAX_QUERY_CHARS], lang)
    if not reply.confident and history.failures + 1 >= settings.BOT_MAX_FAILURES:
        return _escalation("bot_failures", lang, _topic(text, history), "MEDIUM")
    if tokens[0] in _GREETINGS:  # « bonjour, ma box ne marche plus »: greet back before answering
        reply.text = f"{replies.GREETING_PREFIX[reply.language]} {reply.text}"
    return reply


def _sources(hits: list[SearchHit]) -> list[dict[str, str]]:
    """Each document used, once, with a link a customer can open (its URL, else its help-centre page)."""
    from apps.knowledge.help import public_url

    seen: set[int] = set()
    out = []
    for hit in hits:
        if hit.document.id not in seen:
            seen.add(hit.document.id)
            out.append({"title": hit.document.title, "url": public_url(hit.document.id, hit.document.url)})
    return out


def _no_answer(lang: str, score: float | None = None) -> BotReply:
    return BotReply(text=replies.NO_ANSWER[lang], kind="no_answer", confident=False, language=lang, score=score)


def _knowledge_answer(query: str, lang: str) -> BotReply:
    from apps.ai.local.bot import extractive_answer
    from apps.ai.providers import embeddings_model_name, get_embeddings
    from apps.knowledge.help import internal_document_ids
    from apps.knowledge.selectors import knowledge_search

    if not " ".join(query.split()):
        return _no_answer(lang)
    # Documents tagged internal (procedures for agents) are for the console, never for customers.
    internal = internal_document_ids()
    hits = [h for h in knowledge_search(query, k=settings.BOT_TOP_K).hits if h.document.id not in internal]
    if not hits:
        return _no_answer(lang)
    threshold = bot_min_score(embeddings_model_name())
    top = hits[0]
    passages = hits[: settings.BOT_PASSAGES]
    extract = None
    if settings.LLM_PROVIDER != "openai" or top.similarity is None:
        extract = extractive_answer(
            query, [h.text for h in passages], get_embeddings(), max_sentences=settings.BOT_MAX_SENTENCES
        )
    # The confidence is the top passage's cosine similarity to the question (measured as the better separator of
    # answerable and off-topic questions, docs/benchmarks.md); a passage found by full-text search alone is judged
    # by its best sentence's.
    score = top.similarity if top.similarity is not None else (extract.similarity if extract else None)
    if score is None or score < threshold:
        return _no_answer(lang, score)
    if settings.LLM_PROVIDER == "openai":
        generated = _generated_answer(query, lang, hits)
        if generated is None:  # the model said the excerpts do not answer
            return _no_answer(lang, score)
        if generated:
            return BotReply(
                text=generated, sources=_sources(hits[:1]), kind="knowledge", confident=True, language=lang, score=score
            )
        # "": the call failed (timeout, circuit open...): the extractive answer stands in
        extract = extractive_answer(
            query, [h.text for h in passages], get_embeddings(), max_sentences=settings.BOT_MAX_SENTENCES
        )
    if extract is None:
        return _no_answer(lang, score)
    used = [passages[i] for i in extract.passages]
    return BotReply(
        text=extract.text, sources=_sources(used), kind="knowledge", confident=True, language=lang, score=score
    )


NO_ANSWER_MARK = "NO_ANSWER"


def _generated_answer(query: str, lang: str, passages: list[SearchHit]) -> str | None:
    """A grounded answer from the chat model (purpose "bot"), the question PII-redacted. None when the model says
    the excerpts do not answer; "" when the call failed."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from apps.ai.prompts import load_prompt
    from apps.ai.providers import get_chat_model
    from apps.core.privacy import redact

    context = "\n\n".join(
        f"[{i}] {hit.document.title}{' — ' + hit.document.section if hit.document.section else ''}\n{hit.text}"
        for i, hit in enumerate(passages, 1)
    )
    system = load_prompt("bot", lang).replace("{context}", context)
    try:
        result = get_chat_model("bot").invoke([SystemMessage(system), HumanMessage(redact(query))])
    except Exception as exc:
        logger.warning("bot generation failed; extractive answer used", extra={"error_type": type(exc).__name__})
        return ""
    content = result.content if isinstance(result.content, str) else ""
    answer = content.strip()
    if not answer:
        return ""
    if NO_ANSWER_MARK in answer:
        return None
    return answer
