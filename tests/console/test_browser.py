"""The console in a real browser (Debian's headless Chromium through Playwright) against daphne: what htmx and
static/console/console.js do with the socket's fragments. Reuses tests/browser's live server and browser fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import daphne_server, launch_chromium, login_agent, new_page  # noqa: F401  # fixtures
from tests.conversations.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for this module (tests/browser's way, without its migration-data machinery: this test makes
    its own rows). Playwright's sync API runs an event loop in this thread while it is open, hence the module
    scope (later pytest-asyncio tests need theirs) and DJANGO_ALLOW_ASYNC_UNSAFE in this process only."""
    yield from launch_chromium()


def in_thread(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a service outside Playwright's thread: its events go out with async_to_sync, which refuses a thread
    that has a running event loop (and the ORM connection is per thread anyway)."""
    from django.db import connection

    def run() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_live_inbox_conversation_snippets_and_notes(
    daphne_server: Any,  # noqa: F811
    new_page: Any,  # noqa: F811
    agent_user: Any,
    other_agent: Any,
) -> None:
    from apps.console.models import Snippet
    from apps.conversations.services import conversation_escalate, message_post

    agent, watch = new_page()
    login_agent(agent, daphne_server.url, agent_user.username)
    expect(agent.locator("#socket-state")).to_have_attribute("data-state", "open")
    agent.evaluate("() => { window.__sameDocument = true; }")

    # An escalation elsewhere: the row and a notification appear without a reload.
    conversation = ConversationFactory(status="open", contact=ContactFactory(name="Nina Roux"))
    MessageFactory(conversation=conversation, text="Je veux un humain")
    in_thread(conversation_escalate, conversation=conversation, reason="human_request")
    row = agent.locator(f"[data-testid=inbox-item][data-conversation-id='{conversation.pk}']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Nina Roux")
    expect(agent.locator(f"#toast-conv-{conversation.pk}")).to_contain_text("Needs an agent")
    expect(agent.locator("[data-testid=notification]")).to_have_count(1)
    assert agent.evaluate("() => window.__sameDocument === true")

    # Opening it loads the pane (htmx), and the customer's new messages arrive live, escaped, once.
    row.click()
    messages = agent.locator(f"#messages-{conversation.pk} [data-testid=console-message]")
    expect(messages).to_have_count(2)  # the customer's and the escalation notice
    in_thread(message_post, conversation=conversation, role="customer", text=XSS)
    expect(messages).to_have_count(3)
    expect(messages.last.locator(".msg-text")).to_have_text(XSS)
    assert agent.locator("img[src='x']").count() == 0

    # Another agent's presence shows up when their console opens.
    colleague, _ = new_page()
    login_agent(colleague, daphne_server.url, other_agent.username)
    expect(agent.get_by_test_id("presence")).to_contain_text(other_agent.username)

    # A snippet expands as it is typed; the reply goes out and lands in the thread through the socket.
    # Its own snippet: an earlier transactional test's flush may have removed the seeded ones.
    retour, _ = Snippet.objects.update_or_create(
        shortcut="retour",
        defaults={"title": "Retour", "body": "Vous avez 30 jours pour retourner un produit.", "active": True},
    )
    box = agent.get_by_test_id("reply-input")
    box.click()
    box.press_sequentially("Bonjour ! /ret", delay=20)
    expect(agent.get_by_test_id("snippet-hint").first).to_contain_text("/retour")
    box.press_sequentially("our ", delay=20)
    expect(box).to_have_value(f"Bonjour ! {retour.body}")
    agent.get_by_test_id("reply-send").click()
    expect(agent.locator(f"#messages-{conversation.pk} [data-role=agent]")).to_contain_text(retour.body[:40])
    expect(agent.get_by_test_id("reply-input")).to_have_value("")
    expect(agent.get_by_test_id("conversation-assignee")).to_have_text(agent_user.username)

    # An internal note is shown as one.
    agent.get_by_test_id("reply-input").fill("Vérifier le remboursement")
    agent.get_by_test_id("note-send").click()
    note = agent.locator(f"#messages-{conversation.pk} [data-role=note]")
    expect(note).to_contain_text("Internal note")
    expect(note).to_contain_text("Vérifier le remboursement")

    # Closing updates the header.
    agent.get_by_test_id("conversation-close").click()
    expect(agent.get_by_test_id("conversation-status")).to_have_text("Closed")

    # Another tab re-tells the socket what the list shows: in "All", the closed conversation is gone (active
    # conversations only) and a new escalation is inserted at the top.
    agent.get_by_test_id("inbox-tab-all").click()
    expect(agent.get_by_test_id("inbox-tab-all")).to_have_attribute("aria-selected", "true")
    expect(row).to_have_count(0)
    newer = ConversationFactory(status="open")
    in_thread(conversation_escalate, conversation=newer, reason="refund")
    expect(agent.locator("[data-testid=inbox-item]").first).to_have_attribute("data-conversation-id", str(newer.pk))
    assert agent.evaluate("() => window.__sameDocument === true")

    assert watch.errors == [], watch.errors
    assert not [d for d in watch.dialogs if d.startswith("alert")]
