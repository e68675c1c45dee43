"""Reads of the bot: which smart reply matches a message, and what the conversation says about the bot so far."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from apps.ai.local.text import STOPWORDS, words
from apps.bot.models import SmartReply
from apps.bot.rules import normalise

if TYPE_CHECKING:
    from apps.conversations.models import Conversation

# Words a greeting, thanks or goodbye may carry without being a question (« merci pour votre aide »,
# "thanks a lot, have a good one", « bonjour, j'ai une question »: the greeting invites the question itself):
# with `whole_message`, only these may remain beside the pattern.
_FILLER = frozenset(
    """
    aide reponse reponses infos info information informations beaucoup bcp lot much great super parfait perfect top
    genial cool nickel ok okay accord revoir bientot tard bonne bon journee soiree matin day good nice have everyone
    tous monde there again tout all help answer your rapide quick fast reply bye see soon later tchao ciao
    re encore avance advance so very vraiment really team equipe alize assistant bot robot madame monsieur
    question questions probleme problemes souci soucis demande renseignement renseignements besoin petite petit
    problem problems issue need ask quick small simple
    """.split()
)
MAX_WHOLE_MESSAGE_WORDS = 12


@dataclass(frozen=True)
class SmartMatch:
    rule: SmartReply
    pattern: str  # the line that matched


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # an invalid rule saved before validation existed must not break the bot
        return None


def _keyword_match(line: str, tokens: list[str]) -> list[str] | None:
    """The message tokens a keyword line consumed when every word of the line is present (a word ending in ``*``
    matches any word starting with it), else None."""
    used: list[str] = []
    for key in (k for k in re.split(r"[\s,;]+", normalise(line)) if k):
        if key.endswith("*"):
            stem = key[:-1]
            found = next((t for t in tokens if t.startswith(stem)), None)
        else:
            sub = words(key)
            # a key with an apostrophe or a dash is several tokens: all must be there
            found = key if sub and all(s in tokens for s in sub) else None
            if found:
                used.extend(sub)
                continue
        if found is None:
            return None
        used.append(found)
    return used


def _whole(tokens: list[str], used: list[str]) -> bool:
    if len(tokens) > MAX_WHOLE_MESSAGE_WORDS:
        return False
    tokens = [t for t in tokens if t not in used]
    tokens = [re.sub(r"^(?:[ldjmnstc]|qu)'", "", t) for t in tokens]  # j'ai -> ai, l'aide -> aide
    rest = [t for t in tokens if t not in STOPWORDS and t not in _FILLER and len(t) > 1]
    return not rest


def rule_matches(rule: SmartReply, text: str) -> str | None:
    """The pattern line of ``rule`` that matches ``text``, or None."""
    norm = normalise(text)
    tokens = words(norm)
    for line in rule.pattern_lines():
        if rule.match_type == SmartReply.MatchType.REGEX:
            regex = _regex(normalise(line) if line.isascii() else line)
            found = regex.search(norm) if regex else None
            if found is None:
                continue
            used = words(found.group(0))
        else:
            used_or_none = _keyword_match(line, tokens)
            if used_or_none is None:
                continue
            used = used_or_none
        if rule.whole_message and not _whole(tokens, used):
            continue
        return line
    return None


def smart_reply_matches(text: str, *, language: str | None = None, active_only: bool = True) -> list[SmartMatch]:
    """Every smart reply matching ``text``, best first: by priority, then the rules in ``language`` (or "any")
    before the others, then by name."""
    rules = SmartReply.objects.all()
    if active_only:
        rules = rules.filter(active=True)
    found = [SmartMatch(rule, line) for rule in rules if (line := rule_matches(rule, text)) is not None]

    def key(match: SmartMatch) -> tuple[Any, ...]:
        in_language = language is None or match.rule.language in (language, SmartReply.Language.ANY)
        return (-match.rule.priority, not in_language, match.rule.name)

    return sorted(found, key=key)


def smart_reply_match(text: str, *, language: str | None = None) -> SmartMatch | None:
    matches = smart_reply_matches(text, language=language)
    return matches[0] if matches else None


@dataclass(frozen=True)
class BotHistory:
    """What the conversation's earlier messages say about the bot: its non-confident answers since the last human
    involvement (an agent's message or an escalation), the kind of its last message, and the customer's earlier
    texts (for the language of very short messages)."""

    failures: int = 0
    last_bot_kind: str | None = None
    customer_texts: tuple[str, ...] = ()


HISTORY_WINDOW = 50


def bot_history(conversation: Conversation | None) -> BotHistory:
    """Reads the last HISTORY_WINDOW messages. The conversation core stores ``metadata={"kind", "confident"}`` on
    each bot message (docs/live-chat.md); a bot message whose ``confident`` is False counts as a failure."""
    if conversation is None or conversation.pk is None:
        return BotHistory()
    rows = list(
        conversation.messages.filter(role__in=["bot", "agent", "customer"])
        .order_by("-created_at", "-id")
        .values_list("role", "metadata", "text")[:HISTORY_WINDOW]
    )
    failures, last_kind, counting, seen_other = 0, None, True, False
    customer: list[str] = []
    for role, metadata, text in rows:
        meta = metadata if isinstance(metadata, dict) else {}
        if role == "customer":
            if len(customer) < 3:
                customer.append(text or "")
            continue
        if not seen_other:  # the message just before the customer's latest ones
            seen_other = True
            last_kind = str(meta.get("kind") or "") if role == "bot" else None
        if not counting:
            continue
        if role == "agent" or meta.get("kind") == "escalation":
            counting = False
        elif role == "bot" and meta.get("confident") is False:
            failures += 1
    return BotHistory(failures=failures, last_bot_kind=last_kind, customer_texts=tuple(customer))
