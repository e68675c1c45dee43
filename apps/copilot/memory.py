"""The copilot's conversation memory (SPEC §7, docs/copilot.md): what a suggestion or an analysis is built from.

- the last COPILOT_VERBATIM_MESSAGES (50) messages verbatim: customer → "client", agent and bot → "agent";
  internal notes and system messages are never part of it;
- older messages folded into ``ConversationAnalytics.running_summary`` by ``apps.ai.copilot.summary_fold``,
  each message once: ``ConversationAnalytics.folded_until`` is the id of the newest message folded (the
  watermark); a fold that fails (LLMUnavailable) leaves both unchanged and the next context tries again;
- key entities (names, amounts, dates, order numbers) by regular expressions over the whole conversation;
- knowledge passages for the latest customer message (``knowledge_search``, internal documents included: only
  agents see suggestions);
- the customer's language (``apps.bot.rules.language_of``).

Never logs message content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.bot.rules import language_of
from apps.conversations.models import Conversation, Message
from apps.copilot.models import ConversationAnalytics
from apps.copilot.types import ContextMessage, CopilotContext, Passage, Speaker

logger = logging.getLogger(__name__)

_SPEAKERS: dict[str, Speaker] = {
    Message.Role.CUSTOMER: "client",
    Message.Role.AGENT: "agent",
    Message.Role.BOT: "agent",
}
ENTITY_KINDS = ("names", "amounts", "dates", "order_numbers")
ENTITIES_MAX = 10  # per kind, the most recent kept

# ----------------------------------------------------------------------------------------------- entities

_NUM = r"\d{1,3}(?:[ \u00a0.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?:[$€£]\s?(?:{_NUM})|(?:{_NUM})\s?(?:€|\$|£|(?:eur|euros?|usd|dollars?|gbp|livres? sterling)\b))",
    re.IGNORECASE,
)
_MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"
    r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
    rf"|\b\d{{1,2}}(?:er|st|nd|rd|th)?\s+(?:{_MONTHS})(?:\s+\d{{4}})?\b"
    rf"|\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b",
    re.IGNORECASE,
)
_ORDER = re.compile(
    r"(?i:\b(?:commande|order|cmd|facture|invoice|dossier|référence|reference|ref|numéro|numero|n°|no\.)|#)"
    r"\s*(?i:n°|no\.?|number|numéro|numero|#|:)?\s*(?P<id>[A-Za-z]{0,4}-?\d[A-Za-z0-9-]{2,})"
)
_CAP = r"[A-ZÀ-Ý][a-zà-ÿ'-]+"
_NAME = re.compile(
    rf"(?i:\b(?:je m'appelle|je m’appelle|moi c'est|my name is|this is))\s+(?P<a>{_CAP}(?:\s+{_CAP})?)"
    rf"|\b(?:M\.|Mme|Mlle|Mr\.?|Mrs\.?|Ms\.?|Monsieur|Madame)\s+(?P<b>{_CAP}(?:\s+{_CAP})?)"
)


def _keep(found: list[str], value: str) -> None:
    value = " ".join(value.split()).strip(" .,;:")
    if value and value.lower() not in (v.lower() for v in found):
        found.append(value)


def entities_extract(texts: Iterable[str], *, names: Sequence[str] = ()) -> dict[str, list[str]]:
    """Names, amounts, dates and order numbers mentioned in ``texts`` (in order of appearance, deduplicated case-
    insensitively, the last ENTITIES_MAX of each kind). ``names`` (e.g. the contact's) come first."""
    out: dict[str, list[str]] = {kind: [] for kind in ENTITY_KINDS}
    for name in names:
        _keep(out["names"], name)
    for text in texts:
        for match in _NAME.finditer(text):
            _keep(out["names"], match.group("a") or match.group("b"))
        for match in _AMOUNT.finditer(text):
            _keep(out["amounts"], match.group(0))
        for match in _DATE.finditer(text):
            _keep(out["dates"], match.group(0))
        for match in _ORDER.finditer(text):
            _keep(out["order_numbers"], match.group("id"))
    return {kind: values[-ENTITIES_MAX:] for kind, values in out.items()}


# ----------------------------------------------------------------------------------------------- passages


def passages_for(query: str) -> list[Passage]:
    """Knowledge passages for ``query`` (COPILOT_PASSAGES of them), internal documents included, each with a URL an
    agent can open (the document's, else its help-centre page, else — internal documents are not published — its
    admin page). A failing search gives no passages (logged without content): a suggestion may still be made."""
    from django.urls import reverse

    from apps.knowledge.help import internal_document_ids, public_url
    from apps.knowledge.selectors import knowledge_search

    query = " ".join(query.split())[: settings.BOT_MAX_QUERY_CHARS]
    if not query:
        return []
    try:
        hits = knowledge_search(query, k=settings.COPILOT_PASSAGES).hits
        internal = internal_document_ids() if hits else set()
    except Exception as exc:  # retrieval is an input among others; never the reason a suggestion fails
        logger.warning("copilot: knowledge search failed", extra={"error": type(exc).__name__})
        return []
    passages = []
    for hit in hits:
        doc = hit.document
        if doc.id in internal:
            url = doc.url or reverse("admin:knowledge_document_change", args=[doc.id])
        else:
            url = public_url(doc.id, doc.url)
        title = f"{doc.title} — {doc.section}" if doc.section and doc.section != doc.title else doc.title
        passages.append(Passage(chunk_id=hit.chunk_id, title=title, url=url, text=hit.text, similarity=hit.similarity))
    return passages


# ----------------------------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class _Row:
    id: int
    role: str
    text: str


def _rows(conversation_id: int) -> list[_Row]:
    return [
        _Row(pk, role, text)
        for pk, role, text in Message.objects.filter(conversation_id=conversation_id, role__in=list(_SPEAKERS))
        .order_by("created_at", "id")
        .values_list("id", "role", "text")
        if text.strip()
    ]


def _context_message(row: _Row) -> ContextMessage:
    return ContextMessage(speaker=_SPEAKERS[row.role], text=row.text)


def _analytics_row(conversation_id: int) -> ConversationAnalytics:
    try:
        with transaction.atomic():
            row, _created = ConversationAnalytics.objects.get_or_create(conversation_id=conversation_id)
    except IntegrityError:  # created meanwhile by another worker
        row = ConversationAnalytics.objects.get(conversation_id=conversation_id)
    return row


def summary_fold_older(*, conversation_id: int, older: list[_Row], language: str) -> str:
    """The running summary covering ``older`` (the messages before the verbatim window), folding in those newer
    than the watermark. Two workers folding at once: the first to write wins (conditional update), the other
    uses the stored summary. LLMUnavailable leaves the summary as it was (and is logged, no content)."""
    from apps.ai import copilot as ai_copilot

    analytics = _analytics_row(conversation_id)
    pending = [r for r in older if r.id > analytics.folded_until]
    if not pending:
        return analytics.running_summary
    try:
        folded = ai_copilot.summary_fold(analytics.running_summary, [_context_message(r) for r in pending], language)
    except ai_copilot.LLMUnavailable as exc:
        logger.warning(
            "copilot: summary fold unavailable", extra={"conversation_id": conversation_id, "reason": exc.reason}
        )
        return analytics.running_summary
    written = ConversationAnalytics.objects.filter(pk=analytics.pk, folded_until=analytics.folded_until).update(
        running_summary=folded, folded_until=pending[-1].id, updated_at=timezone.now()
    )
    if not written:
        analytics.refresh_from_db(fields=["running_summary", "folded_until"])
        return analytics.running_summary
    return folded


def context_build(
    conversation: Conversation, *, trigger_message: Message | None = None, with_passages: bool = True
) -> CopilotContext:
    """The CopilotContext of ``conversation`` as of ``trigger_message`` (its messages up to and including it;
    None: all of them). ``with_passages=False``: no knowledge search (the analytics do not need one). Writes only
    the running summary and its watermark (see the module docstring)."""
    rows = _rows(conversation.pk)
    if trigger_message is not None:
        cut = next((i for i, r in enumerate(rows) if r.id == trigger_message.pk), None)
        if cut is not None:
            rows = rows[: cut + 1]
    window = max(1, settings.COPILOT_VERBATIM_MESSAGES)
    verbatim, older = rows[-window:], rows[:-window]
    customer = [r.text for r in rows if r.role == Message.Role.CUSTOMER]
    latest = customer[-1] if customer else ""
    language = language_of(latest, customer[-6:-1]) if latest else _conversation_language(conversation)
    summary = summary_fold_older(conversation_id=conversation.pk, older=older, language=language) if older else ""
    contact_name = conversation.contact.name if conversation.contact_id and conversation.contact else ""
    return CopilotContext(
        messages=[_context_message(r) for r in verbatim],
        summary=summary,
        entities=entities_extract([r.text for r in rows], names=[contact_name] if contact_name else []),
        passages=passages_for(latest) if with_passages else [],
        language=language,
    )


def _conversation_language(conversation: Conversation) -> str:
    lang = str((conversation.metadata or {}).get("language") or settings.LANGUAGE_CODE)[:2]
    return lang if lang in ("fr", "en") else "fr"


class ConversationBuffer:
    """A conversation held in memory (the REST API's input messages, after a stored conversation's context when
    one is given): messages are appended in order and ``context()`` gives the CopilotContext after the last one.
    Nothing is written. Messages leaving the verbatim window are folded into the summary once each; passages are
    retrieved once per distinct latest client message."""

    def __init__(self, base: CopilotContext | None = None) -> None:
        self.messages: list[ContextMessage] = list(base.messages) if base else []
        self.summary = base.summary if base else ""
        self.entities: dict[str, list[str]] = {k: list(v) for k, v in (base.entities if base else {}).items()}
        self.language = base.language if base else None
        self._client: list[str] = [m.text for m in self.messages if m.speaker == "client"]
        self._passages: tuple[str, list[Passage]] | None = None
        if base is not None and self._client:
            self._passages = (self._client[-1], list(base.passages))

    def append(self, message: ContextMessage) -> None:
        self.messages.append(message)
        if message.speaker == "client":
            self._client.append(message.text)
        for kind, values in entities_extract([message.text]).items():
            for value in values:
                _keep(self.entities.setdefault(kind, []), value)
        self.entities = {kind: values[-ENTITIES_MAX:] for kind, values in self.entities.items()}

    def context(self, *, language: str | None = None) -> CopilotContext:
        """The context after the last appended message; ``language`` None: detected from the client's messages."""
        from apps.ai import copilot as ai_copilot

        latest = self._client[-1] if self._client else ""
        lang = language or (language_of(latest, self._client[-6:-1]) if latest else (self.language or "fr"))
        window = max(1, settings.COPILOT_VERBATIM_MESSAGES)
        older = self.messages[:-window]
        if older:
            try:
                self.summary = ai_copilot.summary_fold(self.summary, older, lang)
                self.messages = self.messages[-window:]
            except ai_copilot.LLMUnavailable as exc:  # folded next time; the window is only longer meanwhile
                logger.warning("copilot: summary fold unavailable", extra={"reason": exc.reason})
        if self._passages is None or self._passages[0] != latest:
            self._passages = (latest, passages_for(latest))
        return CopilotContext(
            messages=list(self.messages[-window:]),
            summary=self.summary,
            entities={k: list(v) for k, v in self.entities.items()},
            passages=list(self._passages[1]),
            language=lang,
        )
