"""The demo host page and the widget file as a customer site gets them (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

from django.test import Client

WIDGET = Path(__file__).resolve().parents[2] / "static" / "widget" / "widget.js"


def test_demo_page_embeds_the_widget_with_one_tag(client: Client) -> None:
    response = client.get("/widget/demo/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Alizé" in html
    tags = re.findall(r"<script\b[^>]*>", html)
    assert len(tags) == 1, tags  # the page's only script is the widget's tag
    assert 'src="/static/widget/widget.js"' in tags[0]
    assert 'data-lang="fr"' in tags[0] and 'data-prechat="off"' in tags[0]


def test_demo_page_options_are_whitelisted(client: Client) -> None:
    html = client.get("/widget/demo/", {"lang": "en", "prechat": '"><script>alert(1)</script>'}).content.decode()
    assert 'data-lang="en"' in html and 'data-prechat="off"' in html
    assert "alert(1)" not in html
    assert 'data-prechat="required"' in client.get("/widget/demo/?prechat=required").content.decode()


def test_widget_is_served_and_small(client: Client) -> None:
    response = client.get("/static/widget/widget.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    assert body == WIDGET.read_bytes()
    assert len(body) < 30_000, f"widget.js is {len(body)} bytes; the budget is 30 KB"


def test_widget_never_builds_html_from_strings() -> None:
    source = WIDGET.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, f"widget.js uses {sink}"
