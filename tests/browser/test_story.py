"""Issue 5's story, end to end in two browsers (a customer on the demo page, an agent on /console/), with the
live server, the real Celery worker and the demo knowledge base:

bonjour → instant smart reply; a question of the eval set → an answer with a source link; "je veux parler à un
humain" → the conversation appears in the agent's inbox without a reload; the agent replies, the customer sees
it; the agent closes → the survey; the rating is stored; the worker labels the conversation. Text that looks like
HTML stays text in the widget and in the console.

Each step is named (`step`) so a failure says which part of the story broke. The console hooks are the
`data-testid`s agreed in docs/live-chat.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login_agent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.timeout(420),
]

XSS = "<img src=x onerror=alert(1)>"
QUESTION_SOURCE = ("paiement.fr.md", "Moyens de paiement acceptés")


@contextmanager
def step(name: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # re-raised with the story step in front, same type when possible
        raise AssertionError(f"story step «{name}» failed: {exc}") from exc


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def eval_question() -> str:
    """A customer's question from the knowledge base's evaluation set, whose answer is in a known section."""
    from apps.core.demo import DEMO_KNOWLEDGE_DIR

    questions = json.loads((DEMO_KNOWLEDGE_DIR / "eval" / "questions.json").read_text())
    source, section = QUESTION_SOURCE
    return next(q["question"] for q in questions if (q["source"], q.get("section")) == (source, section))


@pytest.fixture
def demo_knowledge(transactional_db: Any) -> int:
    from apps.core.demo import DEMO_KNOWLEDGE_DIR
    from apps.knowledge.services import knowledge_ingest_paths

    report = knowledge_ingest_paths([DEMO_KNOWLEDGE_DIR])
    assert report.count("failed") == 0
    return report.count("ingested")


def widget_messages(page: Any, role: str) -> Any:
    return page.locator(f"[data-testid=widget-message][data-role={role}]")


def open_conversation_in_console(agent: Any, conversation_id: int) -> Any:
    item = agent.locator(f"[data-testid=inbox-item][data-conversation-id='{conversation_id}']")
    expect(item).to_be_visible(timeout=20_000)
    item.first.click()
    return item


def test_customer_bot_agent_survey_and_labels(
    daphne_server: Any, celery_worker_process: Any, new_page: Any, demo_knowledge: int, agent_user: Any
) -> None:
    from apps.conversations.models import Conversation

    base = daphne_server.url
    customer, customer_watch = new_page()
    agent, agent_watch = new_page()

    with step("the agent logs in and opens the console"):
        login_agent(agent, base, agent_user.username)
        agent.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    with step("the customer opens the widget on the demo page"):
        customer.goto(f"{base}/widget/demo/")
        customer.get_by_test_id("widget-bubble").click()
        expect(customer.get_by_test_id("widget-input")).to_be_enabled()
        expect(customer.get_by_test_id("widget-status")).to_have_text("Assistant virtuel")
        stored = customer.evaluate("key => localStorage.getItem(key)", f"supportdesk.widget:{base}")
        conversation_id = int(json.loads(stored)["conversation_id"])

    with step("bonjour gets an instant smart reply"):
        customer.get_by_test_id("widget-input").fill("bonjour")
        customer.get_by_test_id("widget-send").click()
        reply = widget_messages(customer, "bot")
        expect(reply).to_have_count(1, timeout=5_000)
        expect(reply.first.locator(".sd-text")).not_to_be_empty()
        expect(reply.first.get_by_test_id("message-source")).to_have_count(0)

    with step("a knowledge-base question gets an answer with a source link"):
        customer.get_by_test_id("widget-input").fill(eval_question())
        customer.get_by_test_id("widget-send").click()
        expect(widget_messages(customer, "bot")).to_have_count(2, timeout=30_000)
        answer = widget_messages(customer, "bot").nth(1)
        links = answer.locator("a[data-testid=message-source]")
        expect(links.first).to_be_visible()
        href = links.first.get_attribute("href") or ""
        assert href.startswith(("http://", "https://")), f"a source is a web link: {href!r}"
        assert customer.request.get(href).ok, f"the source {href} opens"
        titles = " ".join(links.all_text_contents())
        assert "Paiement" in titles or QUESTION_SOURCE[1] in titles, f"sources shown: {titles!r}"
        expect(customer.get_by_test_id("widget-status")).to_have_text("Assistant virtuel")

    with step("asking for a human escalates and the agent's inbox shows it without a reload"):
        customer.get_by_test_id("widget-input").fill("je veux parler à un humain")
        customer.get_by_test_id("widget-send").click()
        expect(customer.get_by_test_id("widget-status")).to_have_text("Un conseiller va vous répondre", timeout=15_000)
        expect(customer.get_by_test_id("widget-human")).to_be_hidden()
        expect(agent.locator(f"[data-testid=inbox-item][data-conversation-id='{conversation_id}']")).to_be_visible(
            timeout=20_000
        )
        assert agent.evaluate("() => window.__sameDocument === true"), "the inbox updated live, not by a reload"
        wait_for(
            lambda: Conversation.objects.get(pk=conversation_id).status == Conversation.Status.ESCALATED,
            10,
            "the escalated status in the database",
        )

    with step("text that looks like HTML stays text in the widget and in the console"):
        customer.get_by_test_id("widget-input").fill(XSS)
        customer.get_by_test_id("widget-send").click()
        expect(widget_messages(customer, "customer").last.locator(".sd-text")).to_have_text(XSS)
        expect(widget_messages(customer, "customer").last).to_have_attribute("data-id", re.compile(r"\S"))
        open_conversation_in_console(agent, conversation_id)
        in_console = agent.locator("[data-testid=console-message][data-role=customer]").filter(has_text=XSS)
        expect(in_console).to_have_count(1, timeout=15_000)
        assert agent.locator("img[src='x']").count() == 0
        assert customer.locator("#supportdesk-widget img").count() == 0
        customer.wait_for_timeout(300)  # an onerror handler would have run by now
        assert customer_watch.dialogs == [] and [d for d in agent_watch.dialogs if d.startswith("alert")] == []

    with step("the agent replies and the customer sees it"):
        text = "Bonjour, je suis Claire du service client. Je regarde votre dossier."
        agent.get_by_test_id("reply-input").fill(text)
        agent.get_by_test_id("reply-send").click()
        expect(widget_messages(customer, "agent").filter(has_text=text)).to_have_count(1, timeout=15_000)
        expect(agent.locator("[data-testid=console-message][data-role=agent]").filter(has_text=text)).to_have_count(1)

    with step("the agent closes the conversation and the customer gets the survey"):
        agent.get_by_test_id("conversation-close").click()
        expect(customer.get_by_test_id("csat-form")).to_be_visible(timeout=15_000)
        expect(customer.get_by_test_id("widget-status")).to_have_text("Conversation terminée")
        expect(customer.get_by_test_id("widget-input")).to_be_hidden()

    with step("the rating is stored"):
        expect(customer.get_by_test_id("csat-submit")).to_be_disabled()
        customer.locator("[data-testid=csat-star][data-rating='4']").click()
        customer.get_by_test_id("csat-comment").fill("Rapide et efficace")
        customer.get_by_test_id("csat-submit").click()
        expect(customer.get_by_test_id("csat-thanks")).to_be_visible()
        wait_for(
            lambda: Conversation.objects.get(pk=conversation_id).csat_rating == 4, 15, "the rating in the database"
        )
        assert Conversation.objects.get(pk=conversation_id).csat_comment == "Rapide et efficace"

    with step("the real worker labels the closed conversation"):
        from apps.labels.models import ConversationLabel

        wait_for(
            lambda: ConversationLabel.objects.filter(conversation_id=conversation_id).exists(),
            90,
            "labels on the closed conversation",
        )

    assert customer_watch.errors == [], customer_watch.errors
    assert agent_watch.errors == [], agent_watch.errors


def test_typing_shows_on_both_sides(daphne_server: Any, new_page: Any, agent_user: Any) -> None:
    base = daphne_server.url
    customer, _ = new_page()
    agent, _ = new_page()
    login_agent(agent, base, agent_user.username)

    customer.goto(f"{base}/widget/demo/")
    customer.get_by_test_id("widget-bubble").click()
    expect(customer.get_by_test_id("widget-input")).to_be_enabled()
    customer.get_by_test_id("widget-human").click()
    expect(customer.get_by_test_id("widget-status")).to_have_text("Un conseiller va vous répondre", timeout=15_000)
    stored = customer.evaluate("key => localStorage.getItem(key)", f"supportdesk.widget:{base}")
    conversation_id = int(json.loads(stored)["conversation_id"])

    open_conversation_in_console(agent, conversation_id)
    typing = customer.get_by_test_id("widget-typing")
    expect(typing).to_be_hidden()
    agent.get_by_test_id("reply-input").press_sequentially("Je regarde", delay=50)
    expect(typing).to_be_visible(timeout=10_000)
    expect(typing).to_have_text("Un conseiller écrit…")

    # The other way: the customer types (the widget sends a throttled {"type": "typing"}), the console shows it.
    agent_typing = agent.locator(f"#typing-{conversation_id}[data-testid=typing]")
    expect(agent_typing).not_to_contain_text("typing")
    customer.get_by_test_id("widget-input").press_sequentially("Ma box", delay=50)
    expect(agent_typing).to_contain_text("The customer is typing")
