"""The copilot in a real browser with the `openai` provider pointed at the local OpenAI-compatible stub
(tests/stubs/openai_stub.py): daphne, the copilot's worker (queue "copilot", thread pool) on the stub, the demo
knowledge base (local embeddings) and Debian's Chromium.

- The stub streams its JSON answer slowly: the first reply token is on the agent's screen before the stub has
  finished sending (the page's Date.now() against the stub's end of stream, both on this machine's clock).
- The stub is down: the panel says "Copilot unavailable" while the customer's messages still reach the console and
  the agent can still reply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import child_env_without_unsafe, login_agent
from tests.browser.test_copilot import NEW_DONE, RECORDER, _ask
from tests.browser.test_story import demo_knowledge, wait_for  # noqa: F401  # a fixture
from tests.conftest import WorkerProcess, _purge_queues
from tests.conversations.factories import ContactFactory, ConversationFactory
from tests.stubs.openai_stub import OpenAIStub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.timeout(420),
]

QUESTION = "Quels moyens de paiement acceptez-vous ?"
TOKEN_DELAY = 0.04  # seconds between the stub's streamed pieces (about 100 pieces: some 4 s in all)
ANSWER = json.dumps(
    {
        "confidence": 0.9,
        "replies": [
            {
                "text": "Nous acceptons la carte bancaire, PayPal et le virement ; les chèques ne sont plus acceptés. [1]",
                "sources": [1],
            },
            {"text": "Bonjour ! Vous pouvez régler par carte bancaire ou par PayPal sur le site. [1]", "sources": [1]},
        ],
        "questions": ["Quel moyen de paiement souhaitez-vous utiliser ?", "Votre commande est-elle déjà passée ?"],
        "signals_detected": [],
        "recommended_direction": "Expliquer les moyens de paiement acceptés.",
        "priority": "low",
        "next_best_actions": ["Envoyer le lien de l'article", "Proposer le paiement en plusieurs fois"],
        "sentiment_trend": "stable",
    },
    ensure_ascii=False,
)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    stub = OpenAIStub(reply=ANSWER, token_delay=TOKEN_DELAY).start()
    yield stub
    stub.stop()


@pytest.fixture
def openai_worker(stub: OpenAIStub, django_db_blocker: Any) -> Iterator[WorkerProcess]:
    """The copilot's worker on the stub (embeddings stay local: the demo knowledge base is indexed with them)."""
    _purge_queues()
    with django_db_blocker.unblock():
        env = child_env_without_unsafe(
            LLM_PROVIDER="openai", LLM_API_KEY="sk-test-stub", LLM_BASE_URL=stub.url, EMBEDDINGS_PROVIDER="local"
        )
    worker = WorkerProcess(f"copilot-openai-{stub.port}", env, concurrency=4, queues="copilot", pool="threads")
    yield worker
    worker.stop()


def _open(new_page: Any, base_url: str, username: str, conversation: Any) -> tuple[Any, Any]:
    from apps.copilot.services import copilot_has_viewers

    page, watch = new_page()
    login_agent(page, base_url, username)
    page.goto(f"{base_url}/console/c/{conversation.pk}/")
    expect(page.locator("#socket-state")).to_have_attribute("data-state", "open")
    wait_for(lambda: copilot_has_viewers(conversation_id=conversation.pk), 10, "the console to register as a viewer")
    return page, watch


def test_the_first_reply_token_is_on_screen_before_the_model_has_finished(
    daphne_server: Any,
    stub: OpenAIStub,
    openai_worker: WorkerProcess,
    new_page: Any,
    demo_knowledge: int,  # noqa: F811
    agent_user: Any,
) -> None:
    conversation = ConversationFactory(status="escalated", channel="widget", contact=ContactFactory(name="Paul"))
    agent, watch = _open(new_page, daphne_server.url, agent_user.username, conversation)
    agent.evaluate(RECORDER)

    # `sent` includes the fresh worker's first knowledge search (loading the embedding model): the comparison
    # that matters is with the stub's own stream.
    sent = _ask(conversation, QUESTION)
    agent.wait_for_function(NEW_DONE, arg="", timeout=60_000)
    expect(agent.locator("#copilot-panel")).to_have_attribute("data-state", "done")
    suggestion_id = agent.locator("#copilot-panel").get_attribute("data-suggestion-id")

    # The stub's streamed answers (the analytics call is not streamed): the suggestion's is the last one.
    assert stub.streams, "the stub streamed nothing"
    record = stub.streams[-1]
    assert record.finished is not None and not record.aborted
    # perf_counter (the stub's clock) to milliseconds since the epoch (the page's Date.now()).
    offset_ms = time.time() * 1000 - time.perf_counter() * 1000
    stub_started, stub_finished = record.started * 1000 + offset_ms, record.finished * 1000 + offset_ms

    frames = agent.evaluate("() => window.__frames.map(({key, ...s}) => s)")
    with_text = [s for s in frames if s["id"] == suggestion_id and s["chars"] > 0]
    assert with_text, f"no reply text was painted: {frames}"
    first_token = with_text[0]["t"]
    growing = sorted({s["chars"] for s in with_text if s["t"] < stub_finished})
    print(
        "\ncopilot (openai stub, %.0f ms/piece):" % (TOKEN_DELAY * 1000),
        f"stub stream {stub_started - sent:.0f} → {stub_finished - sent:.0f} ms after the message;",
        f"first reply token on screen at {first_token - sent:.0f} ms ({first_token - stub_started:.0f} ms into the stream),",
        f"{stub_finished - first_token:.0f} ms before the stub's end;",
        f"{len(growing)} painted reply lengths before that end",
    )
    assert first_token < stub_finished, "the first reply token was shown only after the model had finished"
    assert len(growing) >= 3, f"the reply did not grow on screen while the model was sending: {growing}"

    # The final panel: the variants, the cited passage as a link opening in a new tab, the ghost text.
    expect(agent.locator("#copilot-reply-0")).to_contain_text("Nous acceptons la carte bancaire")
    expect(agent.locator("#copilot-citations-0 a").first).to_have_attribute("target", "_blank")
    expect(agent.get_by_test_id("copilot-ghost")).to_be_visible()
    assert watch.errors == [], watch.errors


def test_with_the_model_down_the_copilot_says_unavailable_and_the_chat_goes_on(
    daphne_server: Any,
    stub: OpenAIStub,
    openai_worker: WorkerProcess,
    new_page: Any,
    demo_knowledge: int,  # noqa: F811
    agent_user: Any,
) -> None:
    stub.down = True
    conversation = ConversationFactory(status="escalated", channel="widget", contact=ContactFactory(name="Lou"))
    agent, watch = _open(new_page, daphne_server.url, agent_user.username, conversation)
    messages = agent.locator(f"#messages-{conversation.pk} [data-role=customer]")
    before = messages.count()

    _ask(conversation, QUESTION)
    expect(messages).to_have_count(before + 1)
    expect(agent.get_by_test_id("copilot-unavailable")).to_be_visible(timeout=60_000)
    expect(agent.get_by_test_id("copilot-unavailable")).to_have_text("Copilot unavailable — the chat keeps working.")
    assert stub.requests, "the worker never called the model"

    # The conversation itself keeps working both ways.
    _ask(conversation, "Vous êtes toujours là ?")
    expect(messages).to_have_count(before + 2)
    expect(messages.last).to_contain_text("Vous êtes toujours là ?")
    box = agent.get_by_test_id("reply-input")
    box.fill("Oui, je regarde cela pour vous.")
    agent.get_by_test_id("reply-send").click()
    expect(agent.locator(f"#messages-{conversation.pk} [data-role=agent]")).to_contain_text("je regarde cela")
    assert watch.errors == [], watch.errors
