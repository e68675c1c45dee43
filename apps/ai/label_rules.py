"""The label rules of SPEC §5.6, applied to every model's output (the `openai` provider's and the offline one's).

A label is 1–3 words, lowercase, made of letters only (French accents kept), single spaces, at most 40
characters, and it is not a stop word or a run of stop words. This module is the safety net: whatever a model
answers, only strings obeying these rules come out of it. Output that can be repaired is normalised
(capitals, emoji, quotes, trailing punctuation, leading/trailing stop words, order numbers); output that looks
like an instruction, a URL, code, markup or JSON is rejected, never repaired, because repairing it would let a
prompt injection choose the label.

Decisions (documented here because callers rely on them):

- Text is NFKC-normalised (which implies NFC: "é" stays "é", accents are never stripped; ligatures, full-width
  and styled letters are folded to plain ones), then lower-cased.
- No digits at all. Words containing a digit ("4512", "4g", "v2") are dropped at the edges of a label
  ("commande 4512" -> "commande"); a digit word *between* two words makes the label ambiguous and it is rejected.
- French elisions are removed ("l'application" -> "application"), English clitics too ("customer's" ->
  "customer"), other apostrophes are dropped ("can't" -> "cant", a stop word).
- Hyphenated words are split ("carte-sim" -> "carte sim", "mot-de-passe" -> "mot de passe"), except a
  two-part word whose first part has at most two letters, which is joined ("e-mail" -> "email", "wi-fi" -> "wifi").
- Stop words (`apps.ai.local.text.STOPWORDS`, French and English) and one-letter words are stripped from the
  edges; inside a label they are kept when they join content words ("mot de passe" stays "mot de passe").
  A label longer than three words after that is rejected, not truncated.
- The generic catch-all labels "autre" / "other" are accepted on their own although they are stop words:
  they are what the offline extractor returns when a conversation has no topic (see `FALLBACK_LABELS`).
- `normalise_labels` treats commas, semicolons and line breaks as separators between labels.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from apps.ai.local.text import STOPWORDS, strip_accents

LABEL_MAX_WORDS = 3
LABELS_MAX = 5
LABELS_MIN = 1
LABEL_MAX_CHARS = 40

# Anything longer is a sentence or a paragraph, not a label: rejected before any work is done on it.
RAW_LABEL_MAX_CHARS = 200

FALLBACK_LABELS: dict[str, str] = {"fr": "autre", "en": "other"}
_FALLBACK_WORDS = frozenset(FALLBACK_LABELS.values())

# What a valid label looks like; checked on every output, so the rules hold by construction.
LABEL_RE = re.compile(r"[^\W\d_]+(?: [^\W\d_]+){0,2}")

# Characters that only occur in code, markup, JSON, URLs, e-mail addresses, templates or role prefixes
# ("system: ..."). Checked on the NFKC form, so full-width look-alikes are caught too.
_STRUCTURAL_CHARS = frozenset("`{}[]()<>\\|=$#*_~^@/:&")
_SEPARATORS_RE = re.compile(r"[,;\n\r\u2028\u2029]+")
_URL_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|\bwww\.)", re.IGNORECASE)
_DOTTED_RE = re.compile(r"\w\.\w")  # domains, file names, attribute access ("os.system", "x.json")
_BULLET_RE = re.compile(r"^\s*(?:[-+•]|\d+[.)])\s")  # a markdown list item
_CLI_FLAG_RE = re.compile(r"(?:^|\s)--?[^\W\d_]")

# Words that only appear in a label when someone is talking *to the model*: instructions, roles, formats. A label
# containing one is rejected whole. Compared without accents.
BLOCKED_WORDS = frozenset(
    """
    ignore ignorez ignorer ignoring ignored disregard oubliez instruction instructions consigne consignes
    prompt prompts system override overrides jailbreak roleplay pretend assistant chatgpt gpt openai llm
    output json markdown html xml yaml script javascript python sql repondez reponds affiche affichez ecris
    ecrivez respond
    """.split()
)
# Words that name the task rather than a topic: fine inside a label ("return label"), meaningless as the whole of
# one ("label", "tags").
META_WORDS = frozenset("label labels etiquette etiquettes tag tags category categories categorie topic topics".split())

_APOSTROPHE_TRANSLATION = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "ʹ": "'", "´": "'", "‐": "-", "‑": "-"})
_TOKEN_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_ELISION_RE = re.compile(r"^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu)'")
_CLITIC_RE = re.compile(r"'(?:s|ll|re|ve|m|d)$")


def prepare_text(text: str) -> str:
    """NFKC, lower case, NFC again, typographic apostrophes and hyphens unified.

    Combining marks left after NFC are stray (nothing to compose with): they are not word characters, so the
    tokeniser treats them as separators and no label ever contains one.
    """
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text).lower())
    return text.translate(_APOSTROPHE_TRANSLATION)


@lru_cache(maxsize=8192)
def plain_word(word: str) -> str:
    """``word`` without accents (cached: the extractor compares every word of a conversation this way)."""
    return strip_accents(word)


def _token_words(token: str) -> list[str]:
    """Words of one token of prepared text (see the module docstring for elisions and hyphens)."""
    if "'" in token:
        token = _ELISION_RE.sub("", token)
        token = _CLITIC_RE.sub("", token).replace("'", "")
    if "-" not in token:
        return [token] if token else []
    parts = [p for p in token.split("-") if p]
    if len(parts) == 2 and len(parts[0]) <= 2 and parts[0] not in STOPWORDS:
        return ["".join(parts)]
    return parts


def segments(text: str) -> list[list[str]]:
    """Runs of normalised words of ``text``: a run is broken by any punctuation, symbol or emoji between words.

    Words are lower-case; words containing digits are kept (callers decide what to do with them).
    """
    prepared = prepare_text(text)
    runs: list[list[str]] = []
    current: list[str] = []
    end = 0
    for match in _TOKEN_RE.finditer(prepared):
        gap = prepared[end : match.start()]
        if current and gap.strip():
            runs.append(current)
            current = []
        current.extend(_token_words(match.group()))
        end = match.end()
    if current:
        runs.append(current)
    return runs


def label_words(text: str) -> list[str]:
    """All normalised words of ``text`` in order, as labels see them (digit words included)."""
    return [w for run in segments(text) for w in run]


def is_blocked_word(word: str) -> bool:
    """True for words that only make sense as instructions to a model ("ignore", "system", "json", ...)."""
    return plain_word(word) in BLOCKED_WORDS


def is_filler_word(word: str) -> bool:
    """Words that cannot start or end a label: stop words, one-letter words, words with digits."""
    return len(word) < 2 or word in STOPWORDS or not word.isalpha()


def _looks_structural(folded: str) -> bool:
    """``folded`` (NFKC text) contains code, markup, JSON, a URL, a list bullet or a command-line flag."""
    return (
        any(c in _STRUCTURAL_CHARS for c in folded)
        or _URL_RE.search(folded) is not None
        or _DOTTED_RE.search(folded) is not None
        or _BULLET_RE.match(folded) is not None
        or _CLI_FLAG_RE.search(folded) is not None
    )


def is_valid_label(label: str) -> bool:
    """The output contract: 1–3 letter-only words, lowercase, NFC, single spaces, ≤ LABEL_MAX_CHARS."""
    return (
        len(label) <= LABEL_MAX_CHARS
        and LABEL_RE.fullmatch(label) is not None
        and label == label.lower()
        and label == unicodedata.normalize("NFC", label)
    )


def normalise_label(raw: object) -> str | None:
    """One raw label -> a label obeying SPEC §5.6, or None when it cannot be made valid.

    None for: non-strings; strings over RAW_LABEL_MAX_CHARS; several labels in one string (comma, semicolon,
    line break); code, markup, JSON, URLs, e-mail addresses, list bullets, command-line flags; any instruction or
    format word (`BLOCKED_WORDS`); only task words such as "label" or "tags" (`META_WORDS`); nothing left after stripping stop words; more than LABEL_MAX_WORDS words or
    LABEL_MAX_CHARS characters after stripping (never truncated); a digit word between two words.
    Never raises.
    """
    if not isinstance(raw, str) or len(raw) > RAW_LABEL_MAX_CHARS:
        return None
    folded = unicodedata.normalize("NFKC", raw)
    if _SEPARATORS_RE.search(folded) or _looks_structural(folded):
        return None
    words = label_words(raw)
    if any(is_blocked_word(w) for w in words):
        return None
    if len(words) == 1 and words[0] in _FALLBACK_WORDS:
        return words[0]
    start, end = 0, len(words)
    while start < end and is_filler_word(words[start]):
        start += 1
    while end > start and is_filler_word(words[end - 1]):
        end -= 1
    kept = words[start:end]
    if not kept or len(kept) > LABEL_MAX_WORDS or not all(w.isalpha() for w in kept):
        return None
    if all(plain_word(w) in META_WORDS or w in STOPWORDS for w in kept):
        return None
    label = " ".join(kept)
    return label if is_valid_label(label) else None


def _singular(word: str) -> str:
    """A crude French/English singular used only to compare labels ("paiements" ~ "paiement")."""
    if len(word) <= 3:
        return word
    if word.endswith("eaux"):
        word = word[:-1]
    elif word.endswith("aux"):
        word = word[:-3] + "al"
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("ux", "s")) and not word.endswith("ss"):
        word = word[:-1]
    # "adresse"/"address", "boxe"/"box": a final mute e does not make two labels different.
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def label_key(label: str) -> tuple[str, ...]:
    """Two labels with the same key are duplicates (case, accents and singular/plural ignored)."""
    return tuple(_singular(plain_word(w)) for w in label.split())


def _raw_pieces(raw: object) -> Iterator[object]:
    items: list[object]
    if isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        return
    for item in items:
        if isinstance(item, str):
            folded = unicodedata.normalize("NFKC", item)
            yield from (piece for piece in _SEPARATORS_RE.split(folded) if piece.strip())
        else:
            yield item


def normalise_labels(raw: object, limit: int = LABELS_MAX) -> list[str]:
    """Raw model output -> at most ``min(limit, LABELS_MAX)`` valid, distinct labels, in their original order.

    ``raw`` is a list/tuple of labels or one string of labels separated by commas, semicolons or line breaks
    (list items are split the same way). Every piece goes through `normalise_label`; invalid ones are dropped.
    Duplicates (same `label_key`: case, accents, singular/plural) keep the first occurrence. Anything else
    (None, numbers, dicts, ...) gives []. The result may be empty: the caller decides what that means.
    """
    limit = max(0, min(limit, LABELS_MAX))
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    if limit == 0:
        return out
    for piece in _raw_pieces(raw):
        label = normalise_label(piece)
        if label is None:
            continue
        key = label_key(label)
        if key in seen:
            continue
        seen.add(key)
        out.append(label)
        if len(out) >= limit:
            break
    return out
