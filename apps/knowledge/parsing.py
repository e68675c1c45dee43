"""Turn knowledge files into plain-text documents split into sections (SPEC §9). Pure: no database, no network.

Supported formats, chosen by file extension:

- ``.md`` / ``.markdown``: optional front matter (``title``, ``category``, ``tags``, ``url``, ``language``),
  sections split at ATX (``#``..``######``) and setext headings, Markdown syntax stripped lightly;
- ``.json``: a FAQ, a list of ``{question, answer, category?, tags?, language?, url?}``; one document per entry;
- ``.html`` / ``.htm``: stdlib ``html.parser``; sections split at ``h1``–``h3``; navigation, scripts and the like
  are ignored;
- ``.pdf``: ``pypdf`` text extraction, one section per page titled ``Page N``;
- ``.txt``: the first line is the title, the rest one section.

Every returned document has at least one section and every section has non-empty text: a file that yields
no text raises ``ParseError``. Section text is whitespace-normalised plain text: one space between words,
lines kept, paragraphs separated by exactly one blank line (``\\n\\n``), no control characters (NUL included,
which PostgreSQL refuses in text columns).

Language is, in order: an explicit declaration in the file (front matter ``language``, a FAQ entry's
``language``), the file name (``x.fr.md``, ``x.en.json``), ``<html lang>`` for HTML, else ``detect_language``.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

from django.utils.text import slugify

from apps.ai.local.text import detect_language
from apps.core.exceptions import ApplicationError

MAX_FILE_BYTES = 20 * 1024 * 1024
TITLE_MAX_CHARS = 300  # Document.title and Chunk.section are CharField(max_length=300)
LANGUAGES = ("fr", "en")

_EXTENSION_KINDS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".json": "faq",
}
_EXTENSIONS_ORDER = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".json")
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_EXTENSION_KINDS)


class ParseError(ApplicationError):
    """A file could not be turned into a document; ``reason`` is short human text for the admin or the CLI.

    Part of the ``ApplicationError`` family, so an API view that lets it through answers 400.
    """

    code = "unparseable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedFormat(ParseError):
    """The file's extension is not one of ``SUPPORTED_EXTENSIONS``."""

    status_code = 415
    code = "unsupported_format"


@dataclass(frozen=True)
class Section:
    """A titled part of a document. ``title`` may be empty (the introduction before the first heading)."""

    title: str
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """One knowledge document, ready to be chunked.

    ``source`` is its stable identity (the file path relative to the ingested root, plus ``#<n>-<slug>`` for a
    FAQ entry); ``content_hash`` is the sha256 of the raw file bytes, or for a FAQ entry of that entry's
    canonical JSON, so an unchanged document can be skipped on re-ingestion.
    """

    source: str
    title: str
    kind: str
    language: str
    sections: list[Section]
    content_hash: str
    category: str = ""
    tags: tuple[str, ...] = ()
    url: str = ""

    @property
    def text(self) -> str:
        """The whole document as plain text: sections in order, each titled one preceded by its title."""
        return "\n\n".join(f"{s.title}\n\n{s.text}" if s.title else s.text for s in self.sections)


# --------------------------------------------------------------------------------------------------------------
# Entry points


def parse_bytes(data: bytes, filename: str, *, source: str | None = None) -> list[ParsedDocument]:
    """Parse the content of one file. ``filename`` gives the format (its extension) and maybe the language
    (``x.fr.md``); ``source`` defaults to ``filename``.

    Returns one document, or one per entry for a FAQ file (never an empty list).
    Raises ``UnsupportedFormat`` for an unknown extension and ``ParseError`` for a file that is empty, larger
    than 20 MB, malformed, or yields no text.
    """
    name = PurePosixPath(filename.replace("\\", "/")).name
    kind = _kind_for(name)
    if len(data) > MAX_FILE_BYTES:
        raise ParseError(
            f"file too large ({len(data) / 1024 / 1024:.1f} MB, limit {MAX_FILE_BYTES // 1024 // 1024} MB)"
        )
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise ParseError("empty file")
    source = source if source is not None else filename
    content_hash = hashlib.sha256(data).hexdigest()
    file_language = _language_from_name(name)
    if kind == "pdf":
        return [_parse_pdf(data, name=name, source=source, content_hash=content_hash, language=file_language)]
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    if not _normalise(text):
        raise ParseError("empty file")
    if kind == "faq":
        return _parse_faq(text, source=source, language=file_language)
    if kind == "markdown":
        return [_parse_markdown(text, name=name, source=source, content_hash=content_hash, language=file_language)]
    if kind == "html":
        return [_parse_html(text, name=name, source=source, content_hash=content_hash, language=file_language)]
    return [_parse_text(text, source=source, content_hash=content_hash, language=file_language)]


def parse_path(path: Path, *, root: Path | None = None) -> list[ParsedDocument]:
    """Parse the file at ``path``. The documents' ``source`` is the path relative to ``root`` in POSIX form
    (``guides/reset.fr.md``), or the bare file name without ``root``. Symbolic links are not resolved.

    Raises ``ValueError`` when ``path`` is not under ``root`` (a caller bug), ``UnsupportedFormat`` before
    reading a file with an unknown extension, and ``ParseError`` for an unreadable or too large file and
    everything ``parse_bytes`` raises.
    """
    if root is not None:
        source = Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    else:
        source = path.name
    _kind_for(path.name)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ParseError(f"file too large ({size / 1024 / 1024:.1f} MB, limit {MAX_FILE_BYTES // 1024 // 1024} MB)")
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read file ({exc.strerror or exc.__class__.__name__})") from exc
    return parse_bytes(data, path.name, source=source)


# --------------------------------------------------------------------------------------------------------------
# Shared helpers


def _kind_for(name: str) -> str:
    ext = PurePosixPath(name).suffix.lower()
    if ext not in _EXTENSION_KINDS:
        shown = ext or "(none)"
        raise UnsupportedFormat(f"unsupported extension {shown} (supported: {' '.join(_EXTENSIONS_ORDER)})")
    return _EXTENSION_KINDS[ext]


def _language_from_name(name: str) -> str | None:
    suffixes = PurePosixPath(name).suffixes
    if len(suffixes) >= 2 and suffixes[-2].lower() in (".fr", ".en"):
        return suffixes[-2][1:].lower()
    return None


def _title_from_name(name: str) -> str:
    """``reset-password.fr.md`` -> ``Reset password``."""
    stem = PurePosixPath(name).stem
    if _language_from_name(name):
        stem = stem[:-3]
    pretty = re.sub(r"[-_\s]+", " ", stem).strip()
    return _clean_title(pretty[:1].upper() + pretty[1:]) or "Untitled"


def _normalise_language(value: str) -> str | None:
    """``FR`` / ``fr-FR`` / ``en_GB`` -> ``fr`` / ``en``; anything else -> None."""
    code = value.strip().lower()[:2]
    return code if code in LANGUAGES else None


def _decode(data: bytes) -> str:
    """UTF-8 (BOM tolerated), UTF-16 with a BOM, else Windows-1252, else Latin-1 (which never fails)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_SPACES_RE = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# Control characters (NUL included), zero-width space, BOM, soft hyphen.
_INVISIBLE_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff\u00ad]")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def _normalise(text: str) -> str:
    """Clean plain text: single spaces, stripped lines, paragraphs separated by exactly one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _INVISIBLE_RE.sub("", _SPACES_RE.sub(" ", text))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", text).strip()


def _clean_title(text: str) -> str:
    """One line, single spaces, at most TITLE_MAX_CHARS (cut at a word, with an ellipsis)."""
    title = " ".join(_normalise(text).split())
    if len(title) > TITLE_MAX_CHARS:
        cut = title[: TITLE_MAX_CHARS - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return title


def _finish_sections(raw: list[tuple[str, str]], doc_title: str) -> list[Section]:
    """Normalise, drop empty sections, untitle a section whose heading repeats the document title, and merge
    adjacent sections that end up with the same title (the intro and the ``# Title`` body, typically)."""
    sections: list[Section] = []
    for title, text in raw:
        body = _normalise(text)
        if not body:
            continue
        heading = _clean_title(title)
        if heading.casefold() == doc_title.casefold():
            heading = ""
        if sections and sections[-1].title == heading:
            sections[-1] = Section(heading, f"{sections[-1].text}\n\n{body}")
        else:
            sections.append(Section(heading, body))
    return sections


def _document(
    *,
    source: str,
    title: str,
    kind: str,
    language: str | None,
    sections: list[Section],
    content_hash: str,
    category: str = "",
    tags: tuple[str, ...] = (),
    url: str = "",
    empty_reason: str = "no text content",
) -> ParsedDocument:
    if not sections:
        raise ParseError(empty_reason)
    return ParsedDocument(
        source=source,
        title=title,
        kind=kind,
        language=language or detect_language(title + "\n" + "\n".join(s.text for s in sections)),
        sections=sections,
        content_hash=content_hash,
        category=category.strip(),
        tags=_clean_tags(tags),
        url=url.strip(),
    )


def _clean_tags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Single-spaced, non-empty, first spelling kept when two differ only by case."""
    kept: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        cleaned = " ".join(tag.split())
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            kept.append(cleaned)
    return tuple(kept)


# --------------------------------------------------------------------------------------------------------------
# Plain text


_TEXT_TITLE_MAX = 150  # a longer first line is a paragraph (soft-wrapped text), not a title


def _parse_text(text: str, *, source: str, content_hash: str, language: str | None) -> ParsedDocument:
    """Title = the first non-empty line; the rest is one untitled section. A first line longer than 150
    characters, or the only line of the file, is also kept in the body so no text is lost."""
    body = _normalise(text)
    first, _, rest = body.partition("\n")
    rest = rest.strip()
    if len(first) > _TEXT_TITLE_MAX or not rest:
        rest = body
    title = _clean_title(first if len(first) <= _TEXT_TITLE_MAX else _shorten(first, 80))
    return _document(
        source=source,
        title=title,
        kind="text",
        language=language,
        sections=[Section("", rest)],
        content_hash=content_hash,
    )


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


# --------------------------------------------------------------------------------------------------------------
# Markdown


_FM_KEY_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:(?:\s+(.*))?$")
_FM_ITEM_RE = re.compile(r"^\s*-\s+(.*)$")


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """Split ``---`` front matter off ``text``. Only ``key: value``, ``key: [a, b]`` and ``key:`` followed by
    ``- item`` lines are understood; a block with anything else is not front matter (a horizontal rule) and is
    left in the text."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        return {}, text
    meta: dict[str, str | list[str]] = {}
    list_key: str | None = None
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _FM_ITEM_RE.match(line)
        if item and list_key is not None:
            value = meta[list_key]
            if isinstance(value, list):
                value.append(_unquote(item.group(1)))
            continue
        match = _FM_KEY_RE.match(line.rstrip())
        if not match:
            return {}, text
        key, value_text = match.group(1).lower(), (match.group(2) or "").strip()
        if not value_text:
            meta[key], list_key = [], key
        elif value_text.startswith("[") and value_text.endswith("]"):
            meta[key], list_key = [_unquote(v) for v in value_text[1:-1].split(",") if v.strip()], None
        else:
            meta[key], list_key = _unquote(value_text), None
    return meta, "\n".join(lines[end + 1 :])


def _meta_str(meta: dict[str, str | list[str]], key: str) -> str:
    value = meta.get(key, "")
    return ", ".join(value) if isinstance(value, list) else value


def _meta_list(meta: dict[str, str | list[str]], key: str) -> tuple[str, ...]:
    value = meta.get(key, [])
    return tuple(value) if isinstance(value, list) else tuple(v.strip() for v in value.split(","))


_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_REF_DEF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$")
_QUOTE_RE = re.compile(r"^\s*(?:>\s?)+")
_BULLET_RE = re.compile(r"^(\s*)[*+•]\s+")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)

_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1")
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_REF_LINK_RE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK_RE = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>")
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_EM_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_PLACEHOLDER_RE = re.compile("\ue000(\\d+)\ue001")


def _markdown_inline(line: str) -> str:
    """Strip inline Markdown: links and images keep their text, emphasis and code marks go, HTML tags go.
    Code spans and backslash escapes are protected from the emphasis rules (``__init__`` stays whole)."""
    protected: list[str] = []

    def protect(value: str) -> str:
        protected.append(value)
        return f"\ue000{len(protected) - 1}\ue001"

    line = _CODE_SPAN_RE.sub(lambda m: protect(m.group(2).strip()), line)
    line = _ESCAPE_RE.sub(lambda m: protect(m.group(1)), line)
    line = _IMAGE_RE.sub(r"\1", line)
    line = _LINK_RE.sub(r"\1", line)
    line = _REF_LINK_RE.sub(r"\1", line)
    line = _AUTOLINK_RE.sub(lambda m: protect(m.group(1)), line)
    line = _TAG_RE.sub("", line)
    for pattern in (_STRONG_RE, _STRONG_RE, _EM_STAR_RE, _EM_UNDERSCORE_RE, _STRIKE_RE):
        line = pattern.sub(lambda m: m.group(m.lastindex or 0), line)
    return _PLACEHOLDER_RE.sub(lambda m: protected[int(m.group(1))], line)


def _markdown_line(line: str) -> str | None:
    """One line of prose with inline Markdown stripped; "" for a horizontal rule (a paragraph break), None for
    a line to drop (reference definition, table separator)."""
    if _REF_DEF_RE.match(line) or ("|" in line and _TABLE_SEP_RE.match(line)):
        return None
    if _HR_RE.match(line):
        return ""
    line = _QUOTE_RE.sub("", line)
    line = _BULLET_RE.sub(r"\1- ", line)
    stripped = line.strip()
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        line = " | ".join(cell.strip() for cell in stripped[1:-1].split("|"))
    return _markdown_inline(line)


def _markdown_blocks(body: str) -> list[tuple[int, str, list[str]]]:
    """(heading level, heading text, body lines) in order; level 0 / "" is the text before the first heading.
    Fenced code is kept verbatim and never read as headings."""
    blocks: list[tuple[int, str, list[str]]] = [(0, "", [])]
    fence: str | None = None
    previous_is_text = False  # the previous line could be the text of a setext heading
    for line in _COMMENT_RE.sub("", body).split("\n"):
        current = blocks[-1][2]
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            else:
                current.append(line)
            previous_is_text = False
            continue
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            fence = fence_match.group(1)
            current.append("")
            previous_is_text = False
            continue
        atx = _ATX_RE.match(line)
        if atx:
            blocks.append((len(atx.group(1)), _markdown_inline(atx.group(2)), []))
            previous_is_text = False
            continue
        setext = _SETEXT_RE.match(line)
        if setext and previous_is_text and current:
            heading = current.pop()
            blocks.append((1 if setext.group(1)[0] == "=" else 2, heading, []))
            previous_is_text = False
            continue
        cleaned = _markdown_line(line)
        if cleaned is not None:
            current.append(cleaned)
        previous_is_text = bool(cleaned and cleaned.strip()) and not _LIST_ITEM_RE.match(line) and "|" not in line
    return blocks


def _parse_markdown(text: str, *, name: str, source: str, content_hash: str, language: str | None) -> ParsedDocument:
    """Title: front matter ``title``, else the first level-1 heading, else the file name. A section per
    heading (any level), titled with the heading text; text before the first heading, and the body of a
    heading that repeats the document title, form the untitled introduction."""
    meta, body = _front_matter(text.lstrip("\ufeff"))
    blocks = _markdown_blocks(body)
    first_h1 = next((heading for level, heading, _ in blocks if level == 1 and heading.strip()), "")
    title = _clean_title(_meta_str(meta, "title")) or _clean_title(first_h1) or _title_from_name(name)
    declared = _meta_str(meta, "language") or _meta_str(meta, "lang")
    if declared.strip() and _normalise_language(declared) is None:
        raise ParseError(f'unsupported language "{declared}" in front matter (expected fr or en)')
    sections = _finish_sections([(heading, "\n".join(lines)) for _, heading, lines in blocks], title)
    return _document(
        source=source,
        title=title,
        kind="markdown",
        language=_normalise_language(declared) or language,
        sections=sections,
        content_hash=content_hash,
        category=_meta_str(meta, "category"),
        tags=_meta_list(meta, "tags"),
        url=_meta_str(meta, "url"),
    )


# --------------------------------------------------------------------------------------------------------------
# FAQ JSON


_FAQ_SLUG_MAX = 60


def _faq_slug(question: str) -> str:
    slug = slugify(question)[:_FAQ_SLUG_MAX].strip("-")
    if len(slugify(question)) > _FAQ_SLUG_MAX and "-" in slug:
        slug = slug.rsplit("-", 1)[0]
    return slug or "entry"


def _faq_field(entry: dict[str, Any], key: str, index: int, *, required: bool = False) -> str:
    value = entry.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ParseError(f'entry {index}: "{key}" must be a string')
    if required and not value.strip():
        raise ParseError(f'entry {index}: missing or empty "{key}"')
    return value


def _parse_faq(text: str, *, source: str, language: str | None) -> list[ParsedDocument]:
    """One document per entry, in file order. Entries are numbered from 1, in sources
    (``faq.json#3-how-do-i-reset-my-password``) and in error messages. Answers may use inline Markdown
    (links, emphasis), which is stripped like in Markdown files. Raises ``ParseError`` for invalid JSON, a root
    that is not a non-empty list, or any malformed entry (the whole file is refused, naming the entry)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, list):
        raise ParseError(f"a FAQ file must be a JSON list of {{question, answer}} objects, not {_json_type(data)}")
    if not data:
        raise ParseError("the FAQ file has no entries")
    documents = []
    for index, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise ParseError(f"entry {index}: expected an object with question and answer, got {_json_type(entry)}")
        question = _faq_field(entry, "question", index, required=True)
        answer = _faq_field(entry, "answer", index, required=True)
        category = _faq_field(entry, "category", index)
        url = _faq_field(entry, "url", index)
        tags_value = entry.get("tags") or []
        if isinstance(tags_value, str):
            tags: tuple[str, ...] = tuple(tags_value.split(","))
        elif isinstance(tags_value, list) and all(isinstance(t, str) for t in tags_value):
            tags = tuple(tags_value)
        else:
            raise ParseError(f'entry {index}: "tags" must be a list of strings')
        entry_language = _faq_field(entry, "language", index)
        declared = _normalise_language(entry_language) if entry_language.strip() else None
        if entry_language.strip() and declared is None:
            raise ParseError(f'entry {index}: unsupported language "{entry_language}" (expected fr or en)')
        title = _clean_title(question)
        body = "\n".join(_markdown_line(line) or "" for line in answer.split("\n"))
        canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        documents.append(
            _document(
                source=f"{source}#{index}-{_faq_slug(question)}",
                title=title,
                kind="faq",
                language=declared or language,
                sections=[Section(title, _normalise(body))] if _normalise(body) else [],
                content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
                category=category,
                tags=tags,
                url=url,
                empty_reason=f'entry {index}: missing or empty "answer"',
            )
        )
    return documents


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --------------------------------------------------------------------------------------------------------------
# HTML


_HTML_IGNORED = frozenset({"script", "style", "nav", "header", "footer", "noscript", "svg", "template", "iframe"})
_HTML_CONTAINERS = frozenset({"article", "main"})
_HTML_HEADINGS = frozenset({"h1", "h2", "h3"})
_HTML_PARAGRAPH_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "aside", "blockquote", "pre", "ul", "ol", "dl", "table",
        "figure", "figcaption", "form", "fieldset", "address", "details", "summary", "h4", "h5", "h6", "hr",
    }
)  # fmt: skip
_HTML_LINE_BLOCKS = frozenset({"li", "tr", "dt", "dd", "caption", "option", "legend"})
_HTML_CELLS = frozenset({"td", "th"})
_WHITESPACE_RE = re.compile(r"\s+")


class _HtmlText(HTMLParser):
    """Collect visible text as (heading, text) sections. Entities are decoded by the base parser
    (``convert_charrefs``). ``header`` is ignored only outside ``article``/``main``, where it is site chrome; an
    article's own header holds its title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title_parts: list[str] = []
        self.first_h1 = ""
        self.lang = ""
        self.canonical = ""
        self.og_url = ""
        self.sections: list[tuple[str, list[str]]] = [("", [])]
        self._ignored: list[str] = []
        self._containers = 0
        self._in_title = False
        self._title_done = False
        self._heading: str | None = None
        self._heading_parts: list[str] = []
        self._pre = 0

    def _emit(self, text: str) -> None:
        (self._heading_parts if self._heading else self.sections[-1][1]).append(text)

    def _close_heading(self) -> None:
        if self._heading is None:
            return
        heading = " ".join("".join(self._heading_parts).split())
        if self._heading == "h1" and not self.first_h1:
            self.first_h1 = heading
        self._heading, self._heading_parts = None, []
        self.sections.append((heading, []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if self._ignored:
            if tag in _HTML_IGNORED:
                self._ignored.append(tag)
            return
        if tag == "html" and not self.lang:
            self.lang = attributes.get("lang", "") or attributes.get("xml:lang", "")
        elif tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.canonical = self.canonical or attributes.get("href", "")
        elif tag == "meta" and attributes.get("property", "").lower() == "og:url":
            self.og_url = self.og_url or attributes.get("content", "")
        if tag in _HTML_IGNORED and not (tag == "header" and self._containers):
            self._ignored.append(tag)
            return
        if tag in _HTML_CONTAINERS:
            self._containers += 1
        if tag == "title" and not self._title_done:
            self._in_title = True
        elif tag in _HTML_HEADINGS:
            self._close_heading()  # an unclosed heading ends where the next one starts
            self._heading, self._heading_parts = tag, []
        elif tag in _HTML_PARAGRAPH_BLOCKS:
            self._close_heading()
            self._emit("\n\n")
        elif tag in _HTML_LINE_BLOCKS or tag == "br":
            self._emit("\n")
        elif tag in _HTML_CELLS:
            self._emit(" ")
        if tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_IGNORED:  # <svg/>: nothing to skip
            return
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "link", "meta", "img", "input"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._ignored:
            if tag in self._ignored:  # also closes ignored elements left open inside it
                while self._ignored.pop() != tag:
                    pass
            return
        if tag == "title" and self._in_title:
            self._in_title, self._title_done = False, True
        elif tag == self._heading:
            self._close_heading()
        elif tag in _HTML_PARAGRAPH_BLOCKS:
            self._emit("\n\n")
        if tag in _HTML_CONTAINERS and self._containers:
            self._containers -= 1
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._ignored:
            return
        if self._in_title:
            self.title_parts.append(data)
            return
        self._emit(data if self._pre else _WHITESPACE_RE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._close_heading()


def _parse_html(text: str, *, name: str, source: str, content_hash: str, language: str | None) -> ParsedDocument:
    """Title: ``<title>``, else the first ``<h1>``, else the file name. A section per ``h1``–``h3`` titled with
    the heading text. ``script``, ``style``, ``nav``, ``header`` (outside ``article``/``main``), ``footer``,
    ``noscript``, ``svg``, ``template`` and ``iframe`` are skipped; block elements break lines, ``<p>`` and the
    like separate paragraphs. ``url`` is ``<link rel=canonical>`` or ``og:url`` when present."""
    parser = _HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; anything it still raises means a broken file
        raise ParseError(f"unreadable HTML ({exc.__class__.__name__})") from exc
    title = _clean_title("".join(parser.title_parts)) or _clean_title(parser.first_h1) or _title_from_name(name)
    sections = _finish_sections([(heading, "".join(parts)) for heading, parts in parser.sections], title)
    return _document(
        source=source,
        title=title,
        kind="html",
        language=language or _normalise_language(parser.lang),
        sections=sections,
        content_hash=content_hash,
        url=parser.canonical or parser.og_url,
    )


# --------------------------------------------------------------------------------------------------------------
# PDF


def _short(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or exc.__class__.__name__
    return message if len(message) <= 120 else message[:119] + "…"


def _parse_pdf(data: bytes, *, name: str, source: str, content_hash: str, language: str | None) -> ParsedDocument:
    """One section per page with text, titled ``Page N`` (a citation then names the page). Title: the
    ``/Title`` metadata, else the first line of text. pypdf runs in non-strict mode and every exception it
    raises is turned into ``ParseError``: ``corrupt PDF (...)``, ``encrypted PDF (password required)``,
    ``no extractable text (scanned PDF?)``. A page whose extraction fails is skipped."""
    if b"%PDF-" not in data[:1024]:
        raise ParseError("corrupt PDF (no %PDF header)")
    # Imported here: only PDF ingestion pays for pypdf.
    from pypdf import PasswordType, PdfReader

    pages: list[str] = []
    metadata_title = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise ParseError("encrypted PDF (password required)")
            page_objects = list(reader.pages)
        except ParseError:
            raise
        except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...) on bad files
            if "decrypt" in str(exc).lower() or "password" in str(exc).lower():
                raise ParseError("encrypted PDF (password required)") from exc
            raise ParseError(f"corrupt PDF ({_short(exc)})") from exc
        if not page_objects:
            raise ParseError("corrupt PDF (no pages)")
        try:
            metadata = reader.metadata
            metadata_title = str(metadata.title or "") if metadata is not None else ""
        except Exception:  # broken metadata must not cost the text
            metadata_title = ""
        for page in page_objects:
            try:
                pages.append(page.extract_text() or "")
            except Exception:
                pages.append("")
    raw = [(f"Page {number}", text) for number, text in enumerate(pages, start=1)]
    sections = [Section(title, body) for title, body in ((t, _normalise(x)) for t, x in raw) if body]
    first_line = sections[0].text.split("\n", 1)[0] if sections else ""
    title = _clean_title(metadata_title) or _clean_title(_shorten(first_line, 120)) or _title_from_name(name)
    return _document(
        source=source,
        title=title,
        kind="pdf",
        language=language,
        sections=sections,
        content_hash=content_hash,
        empty_reason="no extractable text (scanned PDF?)",
    )
