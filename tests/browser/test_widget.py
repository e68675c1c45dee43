"""The chat widget (static/widget/widget.js) on the demo page, against the live server: the pre-chat form, text
that is never HTML, history restored on reload, reconnecting after the server restarts, and host CSS that does
not leak in. Protocol: SPEC §6; behaviour agreed in docs/live-chat.md."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.timeout(240),
]

XSS = "<img src=x onerror=alert(1)>"
# Another site, on an origin outside ALLOWED_HOSTS (Chromium maps *.test to 127.0.0.1), that embeds the widget
# served by the live server: it must be listed in WIDGET_ALLOWED_ORIGINS.
OTHER_SITE = f"http://shop.test:{free_port()}"
LIVE_SERVER_ENV = {"WIDGET_ALLOWED_ORIGINS": OTHER_SITE}


def stored_session(page: Any, base_url: str) -> dict[str, Any] | None:
    raw = page.evaluate("key => localStorage.getItem(key)", f"supportdesk.widget:{base_url}")
    return json.loads(raw) if raw else None


def open_widget(page: Any, base_url: str, query: str = "") -> None:
    page.goto(f"{base_url}/widget/demo/{query}")
    page.get_by_test_id("widget-bubble").click()
    expect(page.get_by_test_id("widget-panel")).to_be_visible()


def test_prechat_form_validates_phone_and_email_in_the_browser(daphne_server: Any, new_page: Any) -> None:
    page, watch = new_page()
    session_requests: list[str] = []
    page.on("request", lambda r: session_requests.append(r.url) if "/api/widget/sessions" in r.url else None)
    open_widget(page, daphne_server.url, "?prechat=required")

    form = page.get_by_test_id("prechat-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("widget-input")).to_be_hidden()
    page.get_by_test_id("prechat-submit").click()
    expect(form).to_contain_text("obligatoire")  # name and phone are required in this mode
    page.get_by_test_id("prechat-name").fill("Camille Martin")
    page.get_by_test_id("prechat-phone").fill("appelez-moi")
    page.get_by_test_id("prechat-email").fill("camille@")
    page.get_by_test_id("prechat-submit").click()
    expect(page.get_by_test_id("prechat-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("prechat-email")).to_have_attribute("aria-invalid", "true")
    expect(form).to_contain_text("téléphone invalide")
    expect(form).to_contain_text("e-mail invalide")
    assert session_requests == [], "invalid details must not reach the server"
    assert stored_session(page, daphne_server.url) is None
    assert watch.errors == []


def test_prechat_details_start_a_session_with_the_contact(daphne_server: Any, new_page: Any) -> None:
    from apps.conversations.models import Conversation

    page, watch = new_page()
    open_widget(page, daphne_server.url, "?prechat=on")
    page.get_by_test_id("prechat-name").fill("Camille Martin")
    page.get_by_test_id("prechat-phone").fill("+33 6 39 98 12 34")
    page.get_by_test_id("prechat-email").fill("camille@alize.example")
    page.get_by_test_id("prechat-submit").click()

    expect(page.get_by_test_id("widget-input")).to_be_enabled()
    expect(page.get_by_test_id("prechat-form")).to_have_count(0)
    session = stored_session(page, daphne_server.url)
    assert session and session["token"]
    conversation = Conversation.objects.select_related("contact").get(pk=session["conversation_id"])
    assert conversation.channel == "widget"
    assert conversation.contact is not None
    assert (conversation.contact.name, conversation.contact.email) == ("Camille Martin", "camille@alize.example")
    assert re.sub(r"\D", "", conversation.contact.phone).endswith("639981234")
    assert watch.errors == []


def test_the_contact_form_continues_into_the_chat(daphne_server: Any, new_page: Any) -> None:
    """/contact/ opens a ticket, then its page embeds the widget with the request's context token: the chat opens
    by itself on a conversation that already has the customer's request."""
    page, watch = new_page()
    page.goto(f"{daphne_server.url}/contact/")
    form = page.get_by_test_id("contact-form")
    form.locator("[name=name]").fill("Camille Martin")
    form.locator("[name=phone]").fill("+33 6 39 98 12 34")
    form.locator("[name=message]").fill("Ma box clignote en rouge depuis ce matin.")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("contact-ticket")).to_be_visible()

    expect(page.get_by_test_id("widget-panel")).to_be_visible()  # data-open="true"
    request = page.locator("[data-testid=widget-message][data-role=customer]")
    expect(request).to_have_count(1)
    expect(request.locator(".sd-text")).to_have_text("Ma box clignote en rouge depuis ce matin.")
    session = stored_session(page, daphne_server.url)
    assert session and session["context"], "the session remembers which request it continues"
    expect(page.locator("[data-testid=widget-message][data-role=system]")).to_contain_text("#")  # the ticket number
    page.get_by_test_id("widget-input").fill("Et elle ne redémarre pas.")
    page.get_by_test_id("widget-send").click()
    expect(request).to_have_count(2)
    expect(request.last).to_have_attribute("data-id", re.compile(r"\d"))  # stored in the same conversation
    assert watch.errors == []


def test_text_is_never_html_and_the_history_survives_a_reload(daphne_server: Any, new_page: Any) -> None:
    page, watch = new_page()
    open_widget(page, daphne_server.url)
    expect(page.get_by_test_id("widget-input")).to_be_enabled()
    page.get_by_test_id("widget-input").fill(XSS)
    page.get_by_test_id("widget-send").click()
    page.get_by_test_id("widget-input").fill("bonjour")  # sent before the first one is answered
    page.get_by_test_id("widget-send").click()

    mine = page.locator("[data-testid=widget-message][data-role=customer]")
    expect(mine).to_have_count(2)
    expect(mine.first.locator(".sd-text")).to_have_text(XSS)
    for n in (0, 1):
        expect(mine.nth(n)).to_have_attribute("data-id", re.compile(r"\d"))  # confirmed by the server's echo
    expect(page.locator("[data-testid=widget-message][data-role=bot]")).to_have_count(2, timeout=30_000)
    assert page.locator("#supportdesk-widget img").count() == 0
    before = page.locator("[data-testid=widget-message]").evaluate_all(
        "els => els.map(e => [e.dataset.role, e.dataset.id, e.querySelector('.sd-text').textContent])"
    )
    ids = [int(m[1]) for m in before]
    assert ids == sorted(ids), f"shown in the server's order: {before}"
    session = stored_session(page, daphne_server.url)
    assert session and session["token"]

    page.reload()
    page.get_by_test_id("widget-bubble").click()
    messages = page.locator("[data-testid=widget-message]")
    expect(messages).to_have_count(len(before))
    after = messages.evaluate_all(
        "els => els.map(e => [e.dataset.role, e.dataset.id, e.querySelector('.sd-text').textContent])"
    )
    assert after == before, "the same conversation, in order, from the server's history"
    assert stored_session(page, daphne_server.url) == session
    assert page.locator("#supportdesk-widget img").count() == 0
    assert watch.dialogs == [] and watch.errors == []


def test_the_widget_reconnects_after_the_server_restarts(daphne_server: Any, new_page: Any) -> None:
    page, watch = new_page()
    open_widget(page, daphne_server.url)
    status = page.get_by_test_id("widget-status")
    expect(status).to_have_text("Assistant virtuel")

    daphne_server.stop()
    expect(status).to_contain_text("Connexion perdue")
    daphne_server.start()
    expect(status).to_have_text("Assistant virtuel", timeout=45_000)

    page.get_by_test_id("widget-input").fill("bonjour")
    page.get_by_test_id("widget-input").press("Enter")
    expect(page.locator("[data-testid=widget-message][data-role=bot]").first).to_be_visible(timeout=30_000)
    expect(page.locator("[data-testid=widget-message][data-role=customer]")).to_have_count(1)
    assert watch.errors == []


def test_host_page_css_does_not_reach_the_widget(daphne_server: Any, new_page: Any) -> None:
    """The demo page styles every button with uppercase text and a dashed red border; the widget's are untouched."""
    page, _ = new_page()
    open_widget(page, daphne_server.url)
    send = page.get_by_test_id("widget-send")
    style = send.evaluate("b => { const s = getComputedStyle(b); return [s.textTransform, s.borderTopStyle]; }")
    assert style == ["none", "none"]
    host_button = page.evaluate(
        "() => { const b = document.createElement('button'); document.body.append(b);"
        " const s = getComputedStyle(b); return [s.textTransform, s.borderTopStyle]; }"
    )
    assert host_button == ["uppercase", "dashed"], "the host page's CSS is really there"
    # Keyboard: Escape closes the panel and gives the focus back to the bubble.
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("widget-panel")).to_be_hidden()
    expect(page.get_by_test_id("widget-bubble")).to_be_focused()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_site(daphne_server: Any, tmp_path: Path) -> Iterator[str]:
    """A plain static page on another origin with nothing but the one tag, as a customer's site would have."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another shop</title></head>'
        "<body><h1>Another shop</h1>"
        f'<script src="{daphne_server.url}/static/widget/widget.js" data-lang="en" data-prechat="off" async></script>'
        "</body></html>"
    )
    server = ThreadingHTTPServer(
        ("127.0.0.1", int(OTHER_SITE.rsplit(":", 1)[1])), functools.partial(_QuietHandler, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{OTHER_SITE}/index.html"
    server.shutdown()
    server.server_close()


def test_one_tag_on_another_site(daphne_server: Any, other_site: str, new_page: Any) -> None:
    page, watch = new_page()
    page.goto(other_site)
    page.get_by_test_id("widget-bubble").click()
    expect(page.get_by_test_id("widget-status")).to_have_text("Virtual assistant")  # data-lang="en"
    page.get_by_test_id("widget-input").fill("hello")
    page.get_by_test_id("widget-input").press("Enter")
    expect(page.locator("[data-testid=widget-message][data-role=bot]").first).to_be_visible(timeout=30_000)
    session = stored_session(page, daphne_server.url)  # kept by the customer's site, keyed by the server
    assert session and session["conversation_id"]
    assert watch.errors == []


def _in_thread(fn: Any, **kwargs: Any) -> Any:
    """Call a service outside Playwright's thread: its events go out through async_to_sync, which refuses a thread
    with a running event loop."""
    from django.db import connection

    def run() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_sources_are_links_only_when_they_are_web_addresses(daphne_server: Any, new_page: Any) -> None:
    from apps.conversations.models import Conversation
    from apps.conversations.services import message_post

    page, watch = new_page()
    open_widget(page, daphne_server.url)
    expect(page.get_by_test_id("widget-status")).to_have_text("Assistant virtuel")
    session = stored_session(page, daphne_server.url)
    assert session
    conversation = Conversation.objects.get(pk=session["conversation_id"])
    sources = [
        {"title": "Paiement et facturation", "url": "https://aide.alize.example/paiement#cheques"},
        {"title": "Piège", "url": "javascript:alert(1)"},
        {"title": "Horaires", "url": ""},
    ]
    _in_thread(
        message_post, conversation=conversation, role="bot", text="Les chèques ne sont plus acceptés.", sources=sources
    )

    bot = page.locator("[data-testid=widget-message][data-role=bot]")
    expect(bot).to_have_count(1)
    shown = bot.get_by_test_id("message-source")
    expect(shown).to_have_text(["Paiement et facturation", "Piège", "Horaires"])
    links = bot.locator("a[data-testid=message-source]")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://aide.alize.example/paiement#cheques")
    expect(links).to_have_attribute("target", "_blank")
    expect(links).to_have_attribute("rel", "noopener noreferrer")
    assert watch.errors == []
