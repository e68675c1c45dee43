"""Copilot orchestration (SPEC §7; the flow is docs/copilot.md): triggers, viewers, streaming suggestions,
outcomes and per-conversation analytics.

Redis keys (REDIS_URL):
- ``supportdesk:copilot:latest:<conversation_id>``: id of the conversation's latest customer message (kept
  COPILOT_TRIGGER_TTL s). A suggestion in flight for an older message sees it and stops (cancellation).
- ``supportdesk:copilot:viewers:<conversation_id>``: sorted set of the console sockets that have the conversation
  open (member = channel name, score = expiry time); refreshed by the console's heartbeat.

Suggestion rows: created when generation starts (``suggestion.start`` carries the id) and either completed
(payload, latencies, tokens, cost; then ``suggestion.done``) or **deleted** — when the model is unavailable
(``suggestion.unavailable`` is sent), when a newer customer message superseded it, or on any other error. So a
stored row with ``total_ms`` set is always a whole suggestion; a row without it can only be left by a worker that
died mid-stream (the stats ignore such rows).

Logs carry ids, numbers and short codes only, never message or suggestion text.
"""

from __future__ import annotations

import difflib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.bot.rules import normalise
from apps.conversations.models import Conversation, Message
from apps.copilot import events
from apps.copilot.memory import ConversationBuffer, _analytics_row, context_build
from apps.copilot.models import ConversationAnalytics, Suggestion
from apps.copilot.types import (
    EMOTIONS,
    SENTIMENTS,
    ContextMessage,
    CopilotContext,
    Delta,
    Done,
    FieldDelta,
    OutputSuggestion,
    ReplyDelta,
)
from apps.core.clients import redis_client
from apps.core.db import pooled_connection_release
from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

URGENT_RETENTION = "URGENT_RETENTION"
EDITED_MIN_RATIO = 0.6  # difflib ratio from which a sent text counts as an edited variant
_LATEST_KEY = "supportdesk:copilot:latest:{}"
_VIEWERS_KEY = "supportdesk:copilot:viewers:{}"
_IDLE_CHECK_S = 0.25  # while the model is silent, how often a stream checks for a newer customer message


class CopilotUnavailable(ApplicationError):
    """The model could not answer (error, timeout, open circuit): REST answers 503."""

    status_code = 503
    code = "copilot_unavailable"


# --------------------------------------------------------------------------- trivial messages

_TRIVIAL_WORDS = frozenset(
    """ok okay oki okey k kk daccord dac accord merci beaucoup bien bcp mille fois thanks thank you thx ty
    tks cheers cool super parfait top great perfect nice noted entendu vu ca marche good bye au revoir bonne
    journee soiree a plus tard bientot yes yep oui ouais voila alright fine ah oh lol tres much so""".split()
)
_TRIVIAL_MAX_CHARS = 40
_LETTERS = re.compile(r"[^\W_]+")


def message_is_trivial(text: str) -> bool:
    """True for acknowledgements with nothing to analyse: "ok", "merci", "thanks", "d'accord", "👍", "ok merci
    beaucoup !", punctuation or emoji only. A message with any other word ("non", "ok mais ça ne marche pas") is
    not trivial."""
    norm = normalise(text or "")
    if len(norm) > _TRIVIAL_MAX_CHARS:
        return False
    tokens = _LETTERS.findall(norm.replace("d'accord", "daccord"))
    return all(t in _TRIVIAL_WORDS for t in tokens)  # no token at all: emoji or punctuation only


# --------------------------------------------------------------------------- triggers and viewers

_SET_MAX = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""


def copilot_trigger_set(*, conversation_id: int, message_id: int) -> None:
    """Record ``message_id`` as the conversation's latest customer message (never moves backwards)."""
    redis_client().eval(
        _SET_MAX, 1, _LATEST_KEY.format(conversation_id), str(message_id), str(settings.COPILOT_TRIGGER_TTL)
    )


def copilot_trigger_latest(*, conversation_id: int) -> int | None:
    value = redis_client().get(_LATEST_KEY.format(conversation_id))
    return int(value) if value else None


def _superseded(conversation_id: int, message_id: int) -> bool:
    """A newer customer message exists. Redis unreachable: not superseded (the suggestion goes on)."""
    try:
        latest = copilot_trigger_latest(conversation_id=conversation_id)
    except Exception as exc:
        logger.warning("copilot: trigger check failed", extra={"error": type(exc).__name__})
        return False
    return latest is not None and latest > message_id


def copilot_viewer_add(*, conversation_id: int, socket_id: str) -> None:
    """The console socket ``socket_id`` (its channel name) has the conversation open, for COPILOT_VIEWER_TTL s
    unless refreshed. Suggestions are generated only for conversations with a viewer."""
    key = _VIEWERS_KEY.format(conversation_id)
    ttl = settings.COPILOT_VIEWER_TTL
    pipe = redis_client().pipeline()
    pipe.zadd(key, {socket_id: time.time() + ttl})
    pipe.expire(key, ttl)
    pipe.execute()


def copilot_viewer_refresh(*, conversation_id: int, socket_id: str) -> None:
    """The console's heartbeat: the socket still has the conversation open (re-registers it if it had expired)."""
    copilot_viewer_add(conversation_id=conversation_id, socket_id=socket_id)


def copilot_viewer_remove(*, conversation_id: int, socket_id: str) -> None:
    """The socket left the conversation or disconnected."""
    redis_client().zrem(_VIEWERS_KEY.format(conversation_id), socket_id)


def copilot_has_viewers(*, conversation_id: int) -> bool:
    """At least one console socket has the conversation open (expired registrations are dropped)."""
    key = _VIEWERS_KEY.format(conversation_id)
    pipe = redis_client().pipeline()
    pipe.zremrangebyscore(key, "-inf", time.time())
    pipe.zcard(key)
    _removed, count = pipe.execute()
    return bool(count)


def copilot_message_received(*, conversation_id: int, message_id: int) -> None:
    """A customer message was committed (called by the conversation core after commit, on every channel).

    Records it as the latest trigger, enqueues ``suggestion_generate`` when an agent has the conversation open and
    ``analytics_update`` unless the message is trivial. Raises whatever Redis or the broker raise: the caller
    (apps.conversations.services) logs and swallows it, so message flow never depends on the copilot."""
    from apps.copilot import tasks

    row = Message.objects.filter(pk=message_id, conversation_id=conversation_id).values_list("text", flat=True)
    text = row.first()
    if text is None:
        return
    copilot_trigger_set(conversation_id=conversation_id, message_id=message_id)
    watched = copilot_has_viewers(conversation_id=conversation_id)
    if watched:
        tasks.suggestion_generate.delay(conversation_id, message_id)
    trivial = message_is_trivial(text)
    if not trivial:
        # Delayed, and skipped when a newer customer message came meanwhile (that one's analysis runs instead): a
        # burst of messages costs one analysis, and it never competes with the suggestion the agent is waiting for.
        tasks.analytics_update.apply_async((conversation_id, message_id), countdown=settings.COPILOT_ANALYTICS_DELAY)
    logger.info(
        "copilot: message received",
        extra={"conversation_id": conversation_id, "message_id": message_id, "watched": watched, "trivial": trivial},
    )


def copilot_conversation_closed(*, conversation_id: int) -> None:
    """The conversation closed: its analytics are brought up to date (SPEC §7, "at close")."""
    from apps.copilot import tasks

    tasks.analytics_update.delay(conversation_id)


# --------------------------------------------------------------------------- streaming relay


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _chunk_of(delta: ReplyDelta | FieldDelta) -> dict[str, Any]:
    if isinstance(delta, ReplyDelta):
        return {"field": "reply", "index": delta.index, "text": delta.text}
    return {"field": delta.name, "index": delta.index, "value": _jsonable(delta.value)}


class _Cancelled(Exception):
    pass


class _Relay:
    """Relays a delta stream as ``suggestion.chunk`` events: the first at once, the next ones coalesced (consecutive
    text of one reply joined) and sent at most COPILOT_COALESCE_MS after they arrived. The stream runs in a thread
    of its own so that a pending chunk is sent on time even while the model is silent. Between sends it asks
    ``cancelled()``; a cancelled relay stops reading (the stream is closed when it next yields)."""

    def __init__(self, *, conversation_id: int, suggestion_id: int, started: float) -> None:
        self.conversation_id = conversation_id
        self.suggestion_id = suggestion_id
        self.started = started
        self.first_token_ms: int | None = None
        self.chunks_sent = 0
        self.reply_started = False
        self._pending: list[dict[str, Any]] = []

    def _send(self, chunk: dict[str, Any]) -> None:
        self.reply_started = self.reply_started or chunk["field"] == "reply"
        events.suggestion_chunk(
            conversation_id=self.conversation_id,
            suggestion_id=self.suggestion_id,
            field=chunk["field"],
            text=chunk.get("text", ""),
            value=chunk.get("value"),
            index=chunk.get("index"),
        )
        self.chunks_sent += 1
        if self.first_token_ms is None:
            self.first_token_ms = int((time.perf_counter() - self.started) * 1000)

    def _add(self, chunk: dict[str, Any]) -> None:
        last = self._pending[-1] if self._pending else None
        if (
            last is not None
            and chunk["field"] == "reply"
            and last["field"] == "reply"
            and last["index"] == chunk["index"]
        ):
            last["text"] += chunk["text"]
        else:
            self._pending.append(chunk)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for chunk in pending:
            self._send(chunk)

    def run(self, stream: Callable[[], Iterator[Delta]], *, cancelled: Callable[[], bool]) -> Done | None:
        """The stream's Done, or None when ``cancelled()`` became true. Re-raises the stream's exceptions; a stream
        that ends without Done raises RuntimeError."""
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def produce() -> None:
            iterator: Iterator[Delta] | None = None
            try:
                iterator = stream()
                for delta in iterator:
                    inbox.put(("delta", delta))
                    if stop.is_set() or isinstance(delta, Done):
                        break
            except BaseException as exc:  # handed to the consumer, which re-raises it
                inbox.put(("error", exc))
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception as exc:
                        logger.debug("copilot: stream close failed", extra={"error": type(exc).__name__})
                inbox.put(("end", None))
                connections.close_all()  # this thread's own connections (LLMCall rows), never the caller's

        coalesce = max(0.0, settings.COPILOT_COALESCE_MS / 1000)
        producer = threading.Thread(target=produce, name=f"copilot-stream-{self.suggestion_id}", daemon=True)
        producer.start()
        due: float | None = None
        try:
            while True:
                wait = _IDLE_CHECK_S if due is None else max(0.0, due - time.perf_counter())
                try:
                    kind, item = inbox.get(timeout=wait)
                except queue.Empty:
                    if self._pending:
                        self._flush()
                        due = None
                    if cancelled():
                        return None
                    continue
                if kind == "error":
                    raise item
                if kind == "end":
                    raise RuntimeError("the suggestion stream ended without Done")
                if isinstance(item, Done):
                    self._flush()
                    return item
                if not isinstance(item, ReplyDelta | FieldDelta):
                    continue
                chunk = _chunk_of(item)
                first_reply = chunk["field"] == "reply" and not self.reply_started
                if (self.first_token_ms is None and not self._pending) or first_reply:
                    # The first chunk, and the first text of a reply (what the agent waits for), go out at once.
                    self._flush()
                    self._send(chunk)
                    due = None
                    if cancelled():
                        return None
                    continue
                self._add(chunk)
                now = time.perf_counter()
                if due is None:
                    due = now + coalesce
                if now >= due:
                    self._flush()
                    due = None
                    if cancelled():
                        return None
        finally:
            stop.set()


# --------------------------------------------------------------------------- suggestions


def _usage(done: Done, *, provider: str, since: Any) -> tuple[int, int, Decimal]:
    """(prompt tokens, completion tokens, cost) of one generation: the stream's own usage when it reports one; else
    the copilot's LLMCall rows recorded during the generation (an approximation when several conversations are
    generated at the same moment); 0 with the local provider."""
    if done.usage is not None:
        return (
            int(done.usage.prompt_tokens),
            int(done.usage.completion_tokens),
            Decimal(str(done.usage.cost_usd)).quantize(Decimal("0.000001")),
        )
    if provider == "local":
        return 0, 0, Decimal(0)
    from apps.ai.models import LLMCall

    totals = LLMCall.objects.filter(
        purpose__startswith="copilot", created_at__gte=since, created_at__lte=timezone.now() + timedelta(seconds=1)
    ).aggregate(p=Sum("prompt_tokens"), c=Sum("completion_tokens"), cost=Sum("cost_usd"))
    return int(totals["p"] or 0), int(totals["c"] or 0), Decimal(totals["cost"] or 0)


def suggestion_generate(*, conversation_id: int, message_id: int) -> Suggestion | None:
    """Generate and stream the suggestion for customer message ``message_id`` (docs/copilot.md, flow 2).

    Returns the stored Suggestion, or None when nothing was stored: the message or conversation is gone, no console
    has the conversation open any more, a newer customer message superseded it (before or during the stream), or
    the model was unavailable
    (``suggestion.unavailable`` sent, reason "error" | "timeout" | "circuit_open"). Any other error deletes the
    row, sends ``suggestion.unavailable`` with reason "error" and is re-raised."""
    from apps.ai import copilot as ai_copilot

    started = time.perf_counter()
    started_at = timezone.now()
    message = (
        Message.objects.select_related("conversation__contact")
        .filter(pk=message_id, conversation_id=conversation_id)
        .first()
    )
    ids = {"conversation_id": conversation_id, "message_id": message_id}
    if message is None or _superseded(conversation_id, message_id):
        logger.info("copilot: suggestion skipped", extra={**ids, "why": "gone" if message is None else "superseded"})
        return None
    if not copilot_has_viewers(conversation_id=conversation_id):  # the agent left before the worker got to it
        logger.info("copilot: suggestion skipped", extra={**ids, "why": "unwatched"})
        return None
    context = context_build(message.conversation, trigger_message=message)
    context_ms = int((time.perf_counter() - started) * 1000)
    if _superseded(conversation_id, message_id):
        logger.info("copilot: suggestion skipped", extra={**ids, "why": "superseded"})
        return None
    provider = settings.LLM_PROVIDER
    suggestion = Suggestion.objects.create(
        conversation_id=conversation_id, trigger_message_id=message_id, provider=provider
    )
    events.suggestion_start(conversation_id=conversation_id, suggestion_id=suggestion.pk, trigger_message_id=message_id)
    pooled_connection_release()  # not needed while the model streams (the thread borrows one again after)
    relay = _Relay(conversation_id=conversation_id, suggestion_id=suggestion.pk, started=started)
    try:
        done = relay.run(
            lambda: ai_copilot.suggestion_stream(context), cancelled=lambda: _superseded(conversation_id, message_id)
        )
    except ai_copilot.LLMUnavailable as exc:
        Suggestion.objects.filter(pk=suggestion.pk).delete()
        events.suggestion_unavailable(conversation_id=conversation_id, reason=exc.reason)
        logger.warning("copilot: suggestion unavailable", extra={**ids, "reason": exc.reason})
        return None
    except Exception as exc:
        Suggestion.objects.filter(pk=suggestion.pk).delete()
        events.suggestion_unavailable(conversation_id=conversation_id, reason="error")
        logger.error("copilot: suggestion failed", extra={**ids, "error": type(exc).__name__})
        raise
    if done is None:
        Suggestion.objects.filter(pk=suggestion.pk).delete()
        logger.info("copilot: suggestion cancelled", extra={**ids, "chunks": relay.chunks_sent})
        return None
    total_ms = int((time.perf_counter() - started) * 1000)
    output = done.suggestion
    stored_provider = (done.provider or provider)[:20]
    prompt_tokens, completion_tokens, cost = _usage(done, provider=stored_provider, since=started_at)
    with transaction.atomic():
        suggestion.payload = output.as_dict()
        suggestion.confidence = max(0.0, min(1.0, float(output.confidence)))
        suggestion.silent = bool(output.silent)
        suggestion.provider = stored_provider
        suggestion.first_token_ms = relay.first_token_ms if relay.first_token_ms is not None else total_ms
        suggestion.total_ms = total_ms
        suggestion.prompt_tokens = prompt_tokens
        suggestion.completion_tokens = completion_tokens
        suggestion.cost_usd = cost
        suggestion.save()
        events.suggestion_done(conversation_id=conversation_id, suggestion_id=suggestion.pk)
    logger.info(
        "copilot: suggestion done",
        extra={
            **ids,
            "suggestion_id": suggestion.pk,
            "provider": stored_provider,
            "silent": suggestion.silent,
            "context_ms": context_ms,
            "first_token_ms": suggestion.first_token_ms,
            "total_ms": total_ms,
            "chunks": relay.chunks_sent,
        },
    )
    return suggestion


def suggestion_collect(context: CopilotContext) -> OutputSuggestion:
    """The whole suggestion for ``context``, synchronously (the REST API): the stream read to its Done. Raises
    CopilotUnavailable (503) when the model is unavailable or the stream ends without Done."""
    from apps.ai import copilot as ai_copilot

    try:
        for delta in ai_copilot.suggestion_stream(context):
            if isinstance(delta, Done):
                return delta.suggestion
    except ai_copilot.LLMUnavailable as exc:
        logger.warning("copilot: suggestion unavailable (api)", extra={"reason": exc.reason})
        raise CopilotUnavailable("The copilot is unavailable; try again later.", extra={"reason": exc.reason}) from exc
    raise CopilotUnavailable("The copilot gave no suggestion; try again later.", extra={"reason": "error"})


def suggestions_for_messages(
    *, messages: list[ContextMessage], conversation: Conversation | None = None, languages: list[str | None]
) -> list[OutputSuggestion]:
    """One OutputSuggestion per message, analysed in order as one conversation (each message's context is the
    stored conversation's, if given, then the messages before it). ``languages[i]``: message i's language, None
    to detect it. Writes nothing but the stored conversation's running summary. Raises CopilotUnavailable (the
    first message's, in order, whose model was unavailable).

    The contexts are built first, in order (a suggestion never feeds the next context); then, with a remote model,
    up to COPILOT_BATCH_CONCURRENCY suggestions are asked for at once, so that 100 messages do not take 100 model
    calls end to end. The `local` provider computes in this process: one at a time."""
    base = context_build(conversation) if conversation is not None else None
    buffer = ConversationBuffer(base)
    contexts = []
    for message, language in zip(messages, languages, strict=True):
        buffer.append(message)
        contexts.append(buffer.context(language=language))
    workers = 1 if settings.LLM_PROVIDER == "local" else min(len(contexts), settings.COPILOT_BATCH_CONCURRENCY)
    if workers <= 1:
        return [suggestion_collect(context) for context in contexts]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copilot-batch") as pool:
        futures = [pool.submit(_collect_in_thread, context) for context in contexts]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:  # after a failure: the suggestions not yet asked for are not asked for
                future.cancel()


def _collect_in_thread(context: CopilotContext) -> OutputSuggestion:
    try:
        return suggestion_collect(context)
    finally:
        connections.close_all()  # this thread's own (LLMCall rows)


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def suggestion_outcome_of(payload: dict[str, Any], sent_text: str | None) -> str:
    """ "accepted" when ``sent_text`` is one of the reply variants (whitespace and case aside), "edited" when it is
    similar to one (difflib ratio ≥ 0.6), else "ignored"; None (dismissed) → "ignored"."""
    if sent_text is None:
        return Suggestion.Outcome.IGNORED
    sent = _normalised(sent_text)
    variants = [_normalised(str(r.get("text", ""))) for r in payload.get("replies", []) if isinstance(r, dict)]
    variants = [v for v in variants if v]
    if not sent or not variants:
        return Suggestion.Outcome.IGNORED
    if sent in variants:
        return Suggestion.Outcome.ACCEPTED
    best = max(difflib.SequenceMatcher(None, sent, v).ratio() for v in variants)
    return Suggestion.Outcome.EDITED if best >= EDITED_MIN_RATIO else Suggestion.Outcome.IGNORED


def suggestion_outcome_record(*, suggestion_id: int, agent: Any, sent_text: str | None) -> Suggestion | None:
    """Record what the agent did with a suggestion: sent ``sent_text`` (accepted / edited / ignored, see
    suggestion_outcome_of) or dismissed it (None → ignored). Idempotent: the first decision stands, later calls
    change nothing. Returns the row, or None for an unknown (or deleted) suggestion."""
    suggestion = Suggestion.objects.filter(pk=suggestion_id).first()
    if suggestion is None or suggestion.outcome != Suggestion.Outcome.PENDING:
        return suggestion
    outcome = suggestion_outcome_of(suggestion.payload or {}, sent_text)
    now = timezone.now()
    agent_id = getattr(agent, "pk", None)
    Suggestion.objects.filter(pk=suggestion_id, outcome=Suggestion.Outcome.PENDING).update(
        outcome=outcome, agent_id=agent_id, decided_at=now, updated_at=now
    )
    suggestion.refresh_from_db()
    logger.info("copilot: outcome", extra={"suggestion_id": suggestion_id, "outcome": suggestion.outcome})
    return suggestion


# --------------------------------------------------------------------------- analytics


def _field(model_field: str, value: Any) -> str:
    limit = getattr(ConversationAnalytics._meta.get_field(model_field), "max_length", None) or 300
    return " ".join(str(value or "").split())[:limit]


def analytics_update(*, conversation_id: int, message_id: int | None = None) -> ConversationAnalytics | None:
    """Infer and store the conversation's analytics, then send ``analytics.updated``. ``churn_risk`` above
    COPILOT_CHURN_ALERT tags the conversation and its open tickets URGENT_RETENTION, sends ``copilot.alert`` and
    logs a critical line (ids and risk only) — once per conversation. Returns None for an unknown conversation, one
    without messages, or when ``message_id`` (the customer message that asked for it) is no longer the latest.
    Raises apps.ai.copilot.LLMUnavailable (the task retries once)."""
    from apps.ai import copilot as ai_copilot

    if message_id is not None and _superseded(conversation_id, message_id):
        logger.info("copilot: analytics skipped", extra={"conversation_id": conversation_id, "why": "superseded"})
        return None
    conversation = Conversation.objects.select_related("contact").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    context = context_build(conversation, with_passages=False)
    if not context.messages:
        return None
    pooled_connection_release()  # during the model's call
    result = ai_copilot.analytics_infer(context)
    churn = max(0, min(100, int(result.churn_risk)))
    with transaction.atomic():
        row = _analytics_row(conversation_id)
        row = ConversationAnalytics.objects.select_for_update().get(pk=row.pk)
        row.intent = _field("intent", result.intent)
        row.sentiment = result.sentiment if result.sentiment in SENTIMENTS else "neutral"
        row.emotion = result.emotion if result.emotion in EMOTIONS else "neutral"
        row.summary = _field("summary", result.summary)
        row.churn_risk = churn
        row.next_action = _field("next_action", result.next_action)
        row.save(update_fields=["intent", "sentiment", "emotion", "summary", "churn_risk", "next_action", "updated_at"])
        events.analytics_updated(conversation_id=conversation_id)
        if churn > settings.COPILOT_CHURN_ALERT:
            _urgent_retention(conversation_id, churn)
    return row


def _urgent_retention(conversation_id: int, churn: int) -> None:
    """Inside the caller's transaction. Once per conversation: an already tagged one changes nothing."""
    from apps.conversations.services import conversation_tags_add
    from apps.tickets.services import tickets_for_conversation_tag

    if not conversation_tags_add(conversation_id=conversation_id, tags=[URGENT_RETENTION]):
        return
    tickets = tickets_for_conversation_tag(conversation_id=conversation_id, tag=URGENT_RETENTION)
    events.copilot_alert(conversation_id=conversation_id, kind="urgent_retention", churn_risk=churn)
    logger.critical(
        "churn risk above threshold",
        extra={"conversation_id": conversation_id, "churn_risk": churn, "tickets_tagged": tickets},
    )
