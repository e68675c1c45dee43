"""Knowledge files -> documents and sections (`apps.knowledge.parsing`, SPEC §9). No database needed."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from apps.knowledge.models import Document
from apps.knowledge.parsing import (
    SUPPORTED_EXTENSIONS,
    ParsedDocument,
    ParseError,
    UnsupportedFormat,
    parse_bytes,
    parse_path,
)

# ---------------------------------------------------------------------------------------------------- helpers


def make_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A minimal valid PDF: one text line per entry, Helvetica with WinAnsiEncoding (so "é" is one byte)."""

    def pdf_string(text: str) -> bytes:
        return b"(" + text.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    page_ids = []
    for lines in pages:
        stream = b"\n".join([b"BT /F1 12 Tf 14 TL 72 720 Td", *(pdf_string(line) + b" Tj T*" for line in lines), b"ET"])
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % len(objects)
        )
        page_ids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % i for i in page_ids),
        len(page_ids),
    )
    info = b""
    if title is not None:
        objects.append(b"<< /Title " + pdf_string(title) + b" >>")
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)


def encrypt_pdf(data: bytes, *, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def only(docs: list[ParsedDocument]) -> ParsedDocument:
    assert len(docs) == 1
    return docs[0]


def reason_of(data: bytes, filename: str) -> str:
    with pytest.raises(ParseError) as excinfo:
        parse_bytes(data, filename)
    return excinfo.value.reason


FRENCH = "Bonjour, pour changer votre mot de passe, allez dans les paramètres de votre compte et suivez les étapes."
ENGLISH = "Hello, to change your password please open the settings of your account and follow the steps."


# ---------------------------------------------------------------------------------------------------- formats


def test_supported_extensions_map_to_document_kinds() -> None:
    assert {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".json"} == SUPPORTED_EXTENSIONS
    samples = {
        "a.md": b"# A\n\ntext",
        "a.markdown": b"# A\n\ntext",
        "a.txt": b"A\n\ntext",
        "a.html": b"<h1>A</h1><p>text</p>",
        "a.htm": b"<h1>A</h1><p>text</p>",
        "a.pdf": make_pdf([["A text"]]),
        "a.json": b'[{"question": "A?", "answer": "text"}]',
    }
    kinds = {name: only(parse_bytes(data, name)).kind for name, data in samples.items()}
    assert set(kinds.values()) == set(Document.Kind.values)
    assert kinds["a.json"] == Document.Kind.FAQ
    assert kinds["a.htm"] == Document.Kind.HTML


def test_extension_is_case_insensitive() -> None:
    assert only(parse_bytes(b"# Guide\n\nSome text.", "GUIDE.MD")).kind == "markdown"


@pytest.mark.parametrize("filename", ["notes.docx", "archive.tar.gz", "README"])
def test_unknown_extension_is_refused_with_the_supported_list(filename: str) -> None:
    with pytest.raises(UnsupportedFormat) as excinfo:
        parse_bytes(b"some text", filename)
    reason = excinfo.value.reason
    assert reason.startswith("unsupported extension")
    assert ".md .markdown .txt .html .htm .pdf .json" in reason
    assert isinstance(excinfo.value, ParseError)  # callers catching ParseError also catch it


def test_parse_errors_are_application_errors_for_the_api() -> None:
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as excinfo:
        parse_bytes(b"", "a.md")
    assert excinfo.value.status_code == 400
    assert excinfo.value.detail == "empty file"


@pytest.mark.parametrize("filename", ["a.md", "a.txt", "a.html", "a.pdf", "a.json"])
@pytest.mark.parametrize("data", [b"", b"   \n\t \r\n  ", b"\xef\xbb\xbf  \n"])
def test_empty_files_are_refused(filename: str, data: bytes) -> None:
    assert reason_of(data, filename) == "empty file"


def test_files_over_20_mb_are_refused() -> None:
    reason = reason_of(b"a" * (20 * 1024 * 1024 + 1), "big.txt")
    assert "too large" in reason
    assert "20 MB" in reason


def test_content_hash_is_the_sha256_of_the_raw_bytes() -> None:
    data = b"# Guide\n\nSome text."
    assert only(parse_bytes(data, "g.md")).content_hash == hashlib.sha256(data).hexdigest()
    assert only(parse_bytes(data + b" ", "g.md")).content_hash != hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------- Markdown


GUIDE_MD = """# Reset your password

If you forgot your password, you can reset it yourself.

## From the app

1. Open the [Settings](https://example.com/settings "Settings page") screen.
2. Tap **Security**, then *Reset password*.
* Wait for the ~~SMS~~ e-mail.

```bash
# this is a shell comment, not a heading
reset --user __me__
```

## From the website

Use `forgot_password` on the login page; snake_case_names stay whole.
![diagram](img/flow.png)

### Still stuck?
> Contact us at <https://example.com/contact>.
"""


def test_markdown_sections_follow_headings() -> None:
    doc = only(parse_bytes(GUIDE_MD.encode(), "guide.md"))
    assert doc.kind == "markdown"
    assert doc.title == "Reset your password"
    assert [s.title for s in doc.sections] == ["", "From the app", "From the website", "Still stuck?"]
    assert doc.sections[0].text == "If you forgot your password, you can reset it yourself."


def test_markdown_syntax_is_stripped_lightly() -> None:
    doc = only(parse_bytes(GUIDE_MD.encode(), "guide.md"))
    app, website, stuck = doc.sections[1].text, doc.sections[2].text, doc.sections[3].text
    assert "1. Open the Settings screen." in app
    assert "https://example.com/settings" not in app
    assert "2. Tap Security, then Reset password." in app
    assert "- Wait for the SMS e-mail." in app.split("\n")  # bullets stay lines
    # Code fences: the code is kept as text, its "# comment" is not a heading and keeps its underscores.
    assert "# this is a shell comment, not a heading\nreset --user __me__" in app
    assert "```" not in app
    assert website.startswith("Use forgot_password on the login page; snake_case_names stay whole.")
    assert "diagram" in website
    assert "img/flow.png" not in website
    assert stuck == "Contact us at https://example.com/contact."


def test_markdown_title_falls_back_to_the_file_name() -> None:
    doc = only(parse_bytes(b"## Delivery times\n\nParcels leave the same day.", "shipping_and-returns.en.md"))
    assert doc.title == "Shipping and returns"
    assert doc.sections[0].title == "Delivery times"


def test_markdown_setext_headings() -> None:
    doc = only(parse_bytes(b"Guide\n=====\n\nIntro text.\n\nFirst part\n----------\n\nBody text.", "g.md"))
    assert doc.title == "Guide"
    assert [(s.title, s.text) for s in doc.sections] == [("", "Intro text."), ("First part", "Body text.")]


def test_markdown_front_matter() -> None:
    data = b"""---
title: "Refunds: how long?"
category: Billing
tags: [refund, 'payment', refund]
url: https://help.example.com/refunds
language: en
---
# Remboursements

Le remboursement arrive sous 14 jours sur votre compte.
"""
    doc = only(parse_bytes(data, "remboursements.fr.md"))
    assert doc.title == "Refunds: how long?"
    assert doc.category == "Billing"
    assert doc.tags == ("refund", "payment")
    assert doc.url == "https://help.example.com/refunds"
    assert doc.language == "en"  # declared in the file: wins over the file name and the text
    assert doc.sections[0].title == "Remboursements"  # not the title: a section of its own
    assert "title:" not in doc.sections[0].text


def test_markdown_front_matter_with_block_list_tags() -> None:
    data = b'---\ncategory: Account\ntags:\n  - login\n  - "2fa"\n---\nSome text about logging in.'
    doc = only(parse_bytes(data, "login.md"))
    assert doc.tags == ("login", "2fa")
    assert doc.category == "Account"
    assert doc.sections[0].text == "Some text about logging in."


def test_a_leading_horizontal_rule_is_not_front_matter() -> None:
    data = b"---\nThis is prose, not: yaml at all because of this line.\n\n---\nMore text."
    doc = only(parse_bytes(data, "notes.md"))
    assert doc.category == ""
    assert "This is prose" in doc.sections[0].text
    assert "More text." in doc.sections[0].text


def test_markdown_front_matter_with_an_unknown_language_is_refused() -> None:
    assert "unsupported language" in reason_of(b"---\nlanguage: de\n---\nHallo Welt.", "de.md")


def test_markdown_with_headings_only_has_no_text() -> None:
    assert reason_of(b"# Title\n\n## Empty\n", "empty.md") == "no text content"


# ---------------------------------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("filename", "data", "language"),
    [
        ("guide.fr.md", ENGLISH, "fr"),  # the name wins over the text
        ("guide.EN.md", FRENCH, "en"),
        ("guide.md", ENGLISH, "en"),  # detected
        ("guide.md", FRENCH, "fr"),
        ("notes.en.txt", FRENCH, "en"),
        ("notes.txt", f"Title\n\n{ENGLISH}", "en"),
        ("page.html", f"<p>{ENGLISH}</p>", "en"),
        ("page.fr.html", f"<p>{ENGLISH}</p>", "fr"),
    ],
)
def test_language_from_the_file_name_else_detected(filename: str, data: str, language: str) -> None:
    assert only(parse_bytes(data.encode(), filename)).language == language


def test_html_lang_attribute_is_used_before_detection() -> None:
    doc = only(parse_bytes(f'<html lang="en-GB"><body><p>{FRENCH}</p></body></html>'.encode(), "page.html"))
    assert doc.language == "en"


# ---------------------------------------------------------------------------------------------------- FAQ JSON


FAQ = [
    {
        "question": "Comment réinitialiser mon mot de passe ?",
        "answer": "Allez dans [Paramètres](https://example.com/p) puis **Sécurité**.\n\nUn e-mail vous est envoyé.",
        "category": "Compte",
        "tags": ["mot de passe", "connexion"],
        "url": "https://example.com/faq/reset",
    },
    {"question": "How do I track my order?", "answer": "Open My orders in your account.", "language": "en"},
    {"question": "Quels sont les délais ?", "answer": "Deux à quatre jours ouvrés.", "tags": "livraison, délais"},
]


def test_faq_gives_one_document_per_entry() -> None:
    docs = parse_bytes(json.dumps(FAQ).encode(), "faq.json")
    assert [d.kind for d in docs] == ["faq", "faq", "faq"]
    assert [d.source for d in docs] == [
        "faq.json#1-comment-reinitialiser-mon-mot-de-passe",
        "faq.json#2-how-do-i-track-my-order",
        "faq.json#3-quels-sont-les-delais",
    ]
    first = docs[0]
    assert first.title == FAQ[0]["question"]
    assert first.sections == [
        type(first.sections[0])(
            FAQ[0]["question"], "Allez dans Paramètres puis Sécurité.\n\nUn e-mail vous est envoyé."
        )
    ]
    assert (first.category, first.tags, first.url) == ("Compte", ("mot de passe", "connexion"), FAQ[0]["url"])
    assert first.language == "fr"  # detected
    assert docs[1].language == "en"  # declared
    assert docs[2].tags == ("livraison", "délais")  # comma-separated string accepted


def test_faq_language_from_the_file_name_unless_the_entry_says_otherwise() -> None:
    docs = parse_bytes(json.dumps(FAQ).encode(), "faq.en.json")
    assert [d.language for d in docs] == ["en", "en", "en"]
    entry = {"question": "Where is my parcel?", "answer": "In transit.", "language": "FR"}
    assert only(parse_bytes(json.dumps([entry]).encode(), "faq.en.json")).language == "fr"


def test_faq_hash_is_per_entry() -> None:
    before = parse_bytes(json.dumps(FAQ).encode(), "faq.json")
    changed = [FAQ[0], {**FAQ[1], "answer": "Open My orders, then Track."}, FAQ[2]]
    after = parse_bytes(json.dumps(changed, indent=2).encode(), "faq.json")  # reformatted file, too
    assert [b.content_hash == a.content_hash for b, a in zip(before, after, strict=True)] == [True, False, True]
    canonical = json.dumps(FAQ[0], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert before[0].content_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_faq_source_is_prefixed_by_the_given_source() -> None:
    docs = parse_bytes(json.dumps(FAQ[:1]).encode(), "faq.json", source="help/faq.json")
    assert docs[0].source == "help/faq.json#1-comment-reinitialiser-mon-mot-de-passe"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[\n  {"question": "A?",\n   "answer": }\n]', "invalid JSON at line 3"),
        (b'{"question": "A?", "answer": "B"}', "must be a JSON list"),
        (b"[]", "no entries"),
        (b'[{"question": "A?", "answer": "B"}, "oops"]', "entry 2: expected an object"),
        (b'[{"question": "A?", "answer": "B"}, {"question": "C?"}]', 'entry 2: missing or empty "answer"'),
        (b'[{"question": "  ", "answer": "B"}]', 'entry 1: missing or empty "question"'),
        (b'[{"question": "A?", "answer": 42}]', 'entry 1: "answer" must be a string'),
        (b'[{"question": "A?", "answer": "B", "tags": [1, 2]}]', 'entry 1: "tags" must be a list of strings'),
        (b'[{"question": "A?", "answer": "B", "language": "de"}]', 'entry 1: unsupported language "de"'),
    ],
)
def test_bad_faq_files_are_refused_with_the_reason(data: bytes, expected: str) -> None:
    assert expected in reason_of(data, "faq.json")


# ---------------------------------------------------------------------------------------------------- HTML


PAGE_HTML = """<!DOCTYPE html>
<html lang="fr">
<head>
  <title>Aide &amp; support &ndash; Livraison</title>
  <link rel="canonical" href="https://help.example.com/livraison">
  <style>body { color: red; }</style>
  <script>var tracking = "SECRET_SCRIPT";</script>
</head>
<body>
  <header class="site"><a href="/">SITE_HEADER</a></header>
  <nav><ul><li>NAV_HOME</li><li>NAV_HELP</li></ul></nav>
  <main>
    <article>
      <header><h1>Délais de livraison</h1></header>
      <p>Les commandes passées avant 14&nbsp;h sont
         expédiées le jour même.</p>
      <ul><li>Standard : 2 à 4 jours</li><li>Express : 24 h</li></ul>
      <h2>Suivi   du colis</h2>
      <p>Un e-mail avec le numéro<br>de suivi est envoyé.</p>
      <noscript>NOSCRIPT_TEXT</noscript>
      <svg><title>SVG_TITLE</title><text>SVG_TEXT</text></svg>
      <h3>Colis perdu</h3>
      <div>Contactez-nous &lt;vite&gt;.</div>
    </article>
  </main>
  <footer>FOOTER_TEXT</footer>
</body>
</html>"""


def test_html_sections_and_text() -> None:
    doc = only(parse_bytes(PAGE_HTML.encode(), "livraison.html"))
    assert doc.kind == "html"
    assert doc.title == "Aide & support – Livraison"
    assert doc.url == "https://help.example.com/livraison"
    assert doc.language == "fr"
    assert [s.title for s in doc.sections] == ["Délais de livraison", "Suivi du colis", "Colis perdu"]
    assert doc.sections[0].text == (
        "Les commandes passées avant 14 h sont expédiées le jour même.\n\nStandard : 2 à 4 jours\nExpress : 24 h"
    )
    assert doc.sections[1].text == "Un e-mail avec le numéro\nde suivi est envoyé."
    assert doc.sections[2].text == "Contactez-nous <vite>."


def test_html_ignores_scripts_styles_navigation_and_chrome() -> None:
    doc = only(parse_bytes(PAGE_HTML.encode(), "livraison.html"))
    everything = doc.title + "\n" + "\n".join(f"{s.title}\n{s.text}" for s in doc.sections)
    for hidden in ("SECRET_SCRIPT", "color: red", "SITE_HEADER", "NAV_HOME", "NOSCRIPT", "SVG_", "FOOTER_TEXT"):
        assert hidden not in everything


def test_html_title_falls_back_to_the_first_h1() -> None:
    doc = only(parse_bytes(b"<body><p>Intro.</p><h1>Returns</h1><p>Within 30 days.</p></body>", "r.htm"))
    assert doc.title == "Returns"
    # The heading that gives the title is not repeated as a section title.
    assert [(s.title, s.text) for s in doc.sections] == [("", "Intro.\n\nWithin 30 days.")]


def test_html_without_visible_text_is_refused() -> None:
    assert reason_of(b"<html><head><script>x()</script></head><body><nav>Menu</nav></body></html>", "a.html") == (
        "no text content"
    )


# ---------------------------------------------------------------------------------------------------- PDF


def test_pdf_text_per_page_with_accents() -> None:
    data = make_pdf(
        [
            ["Guide de démarrage", "Première étape : ouvrez l'application (version 2)."],
            [],  # a blank page gives no section
            ["Deuxième étape : créez votre compte."],
        ],
        title="Mon guide",
    )
    doc = only(parse_bytes(data, "guide.pdf"))
    assert doc.kind == "pdf"
    assert doc.title == "Mon guide"
    assert doc.language == "fr"
    assert [s.title for s in doc.sections] == ["Page 1", "Page 3"]
    assert doc.sections[0].text == "Guide de démarrage\nPremière étape : ouvrez l'application (version 2)."
    assert doc.sections[1].text == "Deuxième étape : créez votre compte."
    assert doc.content_hash == hashlib.sha256(data).hexdigest()


def test_pdf_title_falls_back_to_the_first_line() -> None:
    doc = only(parse_bytes(make_pdf([["Returns policy", "You can return any product within 30 days."]]), "r.pdf"))
    assert doc.title == "Returns policy"
    assert doc.language == "en"


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9])
def test_truncated_pdf_is_refused_as_corrupt(keep: float) -> None:
    data = make_pdf([["Some text on the page."]])
    assert reason_of(data[: int(len(data) * keep)], "broken.pdf").startswith("corrupt PDF")


def test_bytes_that_are_not_a_pdf_are_refused() -> None:
    assert reason_of(b"PK\x03\x04 this is a zip file", "fake.pdf") == "corrupt PDF (no %PDF header)"


def test_pdf_without_text_is_reported_as_probably_scanned() -> None:
    assert reason_of(make_pdf([[], []]), "scan.pdf") == "no extractable text (scanned PDF?)"


def test_password_protected_pdf_is_refused() -> None:
    data = encrypt_pdf(make_pdf([["Confidential text."]]), user_password="secret")
    assert reason_of(data, "locked.pdf") == "encrypted PDF (password required)"


def test_pdf_encrypted_without_a_user_password_is_read() -> None:
    data = encrypt_pdf(make_pdf([["Readable by anyone."]]), user_password="")
    assert only(parse_bytes(data, "open.pdf")).sections[0].text == "Readable by anyone."


# ---------------------------------------------------------------------------------------------------- plain text


def test_plain_text_title_and_paragraphs() -> None:
    data = b"  Opening hours  \n\nWe are open\nfrom 9 to 18.   \n\n\n\nClosed   on Sundays.\r\n"
    doc = only(parse_bytes(data, "hours.txt"))
    assert doc.kind == "text"
    assert doc.title == "Opening hours"
    assert [(s.title, s.text) for s in doc.sections] == [("", "We are open\nfrom 9 to 18.\n\nClosed on Sundays.")]


def test_plain_text_single_line_keeps_its_text() -> None:
    doc = only(parse_bytes(b"The shop is closed on Sundays.", "closed.txt"))
    assert doc.title == "The shop is closed on Sundays."
    assert doc.sections[0].text == "The shop is closed on Sundays."


def test_plain_text_long_first_line_is_not_lost() -> None:
    paragraph = "word " * 60 + "end."
    doc = only(parse_bytes(paragraph.encode(), "para.txt"))
    assert len(doc.title) <= 80
    assert doc.sections[0].text == " ".join(paragraph.split())


def test_latin1_and_cp1252_text_is_decoded() -> None:
    data = "Café crème\n\nL’été, ça coûte 5 € — naïf.".encode("cp1252")
    doc = only(parse_bytes(data, "menu.txt"))
    assert doc.title == "Café crème"
    assert doc.sections[0].text == "L’été, ça coûte 5 € — naïf."
    # 0x81 is undefined in cp1252: Latin-1 then, and the C1 control character is dropped.
    doc = only(parse_bytes(b"Caf\xe9\n\nna\xefve \x81text", "latin.txt"))
    assert (doc.title, doc.sections[0].text) == ("Café", "naïve text")


def test_utf8_bom_and_control_characters_are_removed() -> None:
    doc = only(parse_bytes("\ufeffTitre\n\nTexte\x00 avec\u00a0espace insécable.".encode(), "t.txt"))
    assert (doc.title, doc.sections[0].text) == ("Titre", "Texte avec espace insécable.")


# ---------------------------------------------------------------------------------------------------- parse_path


def test_parse_path_source_is_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "guides").mkdir()
    guide = tmp_path / "guides" / "reset.en.md"
    guide.write_text("# Reset\n\nOpen the settings.", encoding="utf-8")
    faq = tmp_path / "guides" / "faq.json"
    faq.write_text(json.dumps(FAQ[:2]), encoding="utf-8")

    assert only(parse_path(guide, root=tmp_path)).source == "guides/reset.en.md"
    assert only(parse_path(guide)).source == "reset.en.md"
    assert [d.source for d in parse_path(faq, root=tmp_path)] == [
        "guides/faq.json#1-comment-reinitialiser-mon-mot-de-passe",
        "guides/faq.json#2-how-do-i-track-my-order",
    ]
    assert only(parse_path(guide, root=tmp_path)).content_hash == hashlib.sha256(guide.read_bytes()).hexdigest()


def test_parse_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read file"):
        parse_path(tmp_path / "missing.md")
    with pytest.raises(UnsupportedFormat):
        parse_path(tmp_path / "missing.docx")  # refused by its name, before reading
    with pytest.raises(ValueError):
        parse_path(tmp_path / "a.md", root=tmp_path / "elsewhere")


# ---------------------------------------------------------------------------------------------------- robustness


def _check_documents(docs: list[ParsedDocument]) -> None:
    assert docs
    for doc in docs:
        assert doc.sections
        assert doc.title
        assert doc.language in ("fr", "en")
        assert len(doc.title) <= 300
        for section in doc.sections:
            assert section.text
            assert section.text == section.text.strip()
            assert "\n\n\n" not in section.text
            assert "\x00" not in section.text


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), extension=st.sampled_from(sorted(SUPPORTED_EXTENSIONS)))
def test_any_bytes_give_documents_or_a_parse_error(data: bytes, extension: str) -> None:
    try:
        docs = parse_bytes(data, f"fuzz{extension}")
    except ParseError as exc:
        assert exc.reason
    else:
        _check_documents(docs)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300))
def test_any_pdf_like_or_markup_text_gives_documents_or_a_parse_error(text: str) -> None:
    for filename, data in (
        ("x.md", f"# {text}\n\n## {text}\n{text}".encode()),
        ("x.html", f"<h1>{text}</h1><p>{text}</p><h2>{text}".encode()),
        ("x.pdf", b"%PDF-1.4\n" + text.encode()),
    ):
        try:
            docs = parse_bytes(data, filename)
        except ParseError as exc:
            assert exc.reason
        else:
            _check_documents(docs)


words = st.text(alphabet="abcdefghijéèçàôù'-", min_size=1, max_size=10)


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.lists(words, min_size=1, max_size=12).map(" ".join) | st.just(""),
        min_size=1,
        max_size=30,
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_plain_text_loses_no_word(lines: list[str], newline: str) -> None:
    source = newline.join(lines)
    expected = source.split()
    if not expected:
        return
    doc = only(parse_bytes(source.encode(), "t.txt"))
    body = doc.sections[0].text.split()
    assert body == expected or [*doc.title.split(), *body] == expected
