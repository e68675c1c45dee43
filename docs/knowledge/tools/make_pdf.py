"""Write a small, valid PDF 1.4 from a plain-text source (standard library only).

Usage: python make_pdf.py [SOURCE.txt] [OUTPUT.pdf]
Defaults: guide-box.fr.txt next to this script -> ../guide-box.fr.pdf.

Source format: the first line is the document title; every line starting with "# " opens a new page
whose heading is the rest of the line; paragraphs are separated by blank lines, and a line starting
with "1. ", "2. "... starts a new paragraph. Text is set in Helvetica with WinAnsiEncoding (cp1252),
so French accents, « », œ and € work without embedding a font. The output is deterministic (no
dates), so re-running the script on an unchanged source gives the same bytes.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

PAGE_W, PAGE_H = 595, 842  # A4 in points
MARGIN = 60
BODY_SIZE, BODY_LEADING = 10.5, 15.0
HEAD_SIZE, TITLE_SIZE = 15.0, 19.0
PARA_GAP = 6.0

# Helvetica advance widths (1/1000 em) for ASCII 32..126, from the standard Adobe font metrics.
_ASCII_WIDTHS = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]  # fmt: skip
_EXTRA_WIDTHS = {"«": 556, "»": 556, "€": 556, "’": 222, "‘": 222, "–": 556, "—": 1000, "œ": 944, "Œ": 1000}
_NUMBERED = re.compile(r"^\d+\. ")


def char_width(ch: str) -> int:
    if ch in _EXTRA_WIDTHS:
        return _EXTRA_WIDTHS[ch]
    base = unicodedata.normalize("NFD", ch)[0]
    code = ord(base)
    return _ASCII_WIDTHS[code - 32] if 32 <= code <= 126 else 556


def text_width(text: str, size: float, bold: bool = False) -> float:
    factor = 1.06 if bold else 1.0  # Helvetica-Bold is slightly wider; good enough for wrapping.
    return sum(char_width(c) for c in text) * size / 1000 * factor


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, size, bold) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsi (cp1252) bytes, with ( ) and backslash escaped."""
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf_text_string(text: str) -> bytes:
    """A PDF text string for the Info dictionary: UTF-16BE with a byte-order mark, as hex."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def parse_source(source: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """Return (title, [(page heading, paragraphs)])."""
    lines = source.splitlines()
    title = lines[0].strip()
    pages: list[tuple[str, list[str]]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("# "):
            flush()
            paragraphs = []
            pages.append((stripped[2:].strip(), paragraphs))
        elif not stripped:
            flush()
        else:
            if _NUMBERED.match(stripped):
                flush()
            current.append(stripped)
    flush()
    if not pages:
        raise ValueError("the source has no page: start each page with a line '# Heading'")
    return title, pages


def page_stream(title: str, heading: str, paragraphs: list[str], number: int, total: int) -> bytes:
    width = PAGE_W - 2 * MARGIN
    ops: list[bytes] = [b"BT"]
    y = PAGE_H - MARGIN

    def line(text: str, font: bytes, size: float, x: float = MARGIN) -> None:
        ops.append(b"/%s %.1f Tf 1 0 0 1 %.2f %.2f Tm %s Tj" % (font, size, x, y, pdf_string(text)))

    if number == 1:
        y -= TITLE_SIZE
        for text in wrap(title, TITLE_SIZE, width, bold=True):
            line(text, b"F2", TITLE_SIZE)
            y -= TITLE_SIZE * 1.3
        y -= 8
    y -= HEAD_SIZE
    for text in wrap(heading, HEAD_SIZE, width, bold=True):
        line(text, b"F2", HEAD_SIZE)
        y -= HEAD_SIZE * 1.3
    y -= 4
    for paragraph in paragraphs:
        numbered = _NUMBERED.match(paragraph)
        indent = 14.0 if numbered else 0.0
        for i, text in enumerate(wrap(paragraph, BODY_SIZE, width - indent)):
            x = MARGIN + (indent if i > 0 else 0.0)
            line(text, b"F1", BODY_SIZE, x)
            y -= BODY_LEADING
            if y < MARGIN + 30:
                raise ValueError(f"page {number} ({heading!r}) is too long for one page")
        y -= PARA_GAP
    footer = f"{title} – page {number}/{total}"
    y = MARGIN - 20
    line(footer, b"F1", 8.0, PAGE_W - MARGIN - text_width(footer, 8.0))
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def build_pdf(title: str, pages: list[tuple[str, list[str]]]) -> bytes:
    n = len(pages)
    # Object numbers: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then page/content pairs.
    page_ids = [6 + 2 * i for i in range(n)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % p for p in page_ids), n),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        5: b"<< /Title %s /Author %s /Producer (docs/knowledge/tools/make_pdf.py) >>"
        % (pdf_text_string(title), pdf_text_string("Alizé (entreprise fictive)")),
    }
    for i, (heading, paragraphs) in enumerate(pages):
        page_id, content_id = page_ids[i], page_ids[i] + 1
        stream = page_stream(title, heading, paragraphs, i + 1, n)
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % (PAGE_W, PAGE_H, content_id)
        )
        objects[content_id] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref_at = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at)
    return bytes(out)


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    source = Path(argv[1]) if len(argv) > 1 else here / "guide-box.fr.txt"
    output = Path(argv[2]) if len(argv) > 2 else here.parent / "guide-box.fr.pdf"
    title, pages = parse_source(source.read_text(encoding="utf-8"))
    output.write_bytes(build_pdf(title, pages))
    print(f"{output}: {len(pages)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
