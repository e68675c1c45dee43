"""The copilot in the console socket over the real Redis channel layer (docs/copilot.md, "Console"): opening a
conversation joins its copilot group and registers the socket as a viewer; suggestion and analytics events become
the panel's hx-swap-oob fragments for the sockets that have that conversation open, escaped; alerts reach every
console with ids and the risk only."""

from __future__ import annotations

import re
from typing import Any

import pytest

# Closes its connection afterwards, so no test leaves one open in asgiref's shared thread.
from channels.db import database_sync_to_async as sync_to_async

from tests.console.test_consumer import XSS, _connect, _drain, _html_until, _request
from tests.conversations.factories import ConversationFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ESCAPED_XSS = "&lt;img src=x onerror=alert(1)&gt;"


def _viewers(conversation_id: int) -> set[str]:
    """The registry as docs/copilot.md describes it: a sorted set of channel names (score: expiry)."""
    from apps.core.clients import redis_client

    members = redis_client().zrange(f"supportdesk:copilot:viewers:{conversation_id}", 0, -1)
    return {m.decode() if isinstance(m, bytes) else str(m) for m in members}


def _suggestion(conversation: Any, payload: dict[str, Any] | None, **fields: Any) -> Any:
    """A stored suggestion; ``payload`` None: one still streaming (no total_ms yet)."""
    from apps.copilot.models import Suggestion

    if payload is None:
        return Suggestion.objects.create(conversation=conversation, **fields)
    times = {"first_token_ms": 40, "total_ms": 120}
    return Suggestion.objects.create(conversation=conversation, payload=payload, **(times | fields))


def _payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "replies": [
            {
                "text": "Vous avez 30 jours pour retourner votre téléphone.",
                "citations": [
                    {"title": "Retours", "url": "https://help.example.com/retours", "chunk_id": 1},
                    {"title": "Piège", "url": "javascript:alert(1)", "chunk_id": 2},
                ],
            },
            {"text": XSS, "citations": []},
        ],
        "questions": ["Quelle est la date d'achat ?", "Le colis est-il ouvert ?"],
        "signals_detected": ["refund"],
        "recommended_direction": "Proposer l'étiquette de retour",
        "priority": "high",
        "confidence": 0.82,
        "next_best_actions": ["Envoyer l'étiquette"],
        "sentiment_trend": "declining",
        "silent": False,
    }
    return payload | overrides


async def test_events_reach_only_the_sockets_that_have_the_conversation_open(
    agent_user: Any, other_agent: Any, flush_redis: None
) -> None:
    from apps.copilot import events

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    elsewhere = await sync_to_async(ConversationFactory)(status="escalated")
    watching = await _connect(agent_user)
    other = await _connect(other_agent)
    idle = await _connect(other_agent)
    await _request(watching, {"type": "open", "conversation_id": conversation.pk})
    await _request(other, {"type": "open", "conversation_id": elsewhere.pk})
    assert len(await sync_to_async(_viewers)(conversation.pk)) == 1
    assert len(await sync_to_async(_viewers)(elsewhere.pk)) == 1

    await sync_to_async(events.suggestion_start)(
        conversation_id=conversation.pk, suggestion_id=41, trigger_message_id=1
    )
    await sync_to_async(events.suggestion_chunk)(
        conversation_id=conversation.pk, suggestion_id=41, field="reply", index=0, text="Bonjour, "
    )
    html = await _html_until(watching, "beforeend:#copilot-reply-0")
    # The start fragment replaces the whole panel with an empty, streaming one that has a container per variant.
    assert re.search(r'id="copilot-panel"[^>]*data-state="streaming"', html)
    assert 'data-suggestion-id="41"' in html
    assert all(f'id="copilot-reply-{n}"' in html for n in range(3))
    assert '<div hx-swap-oob="beforeend:#copilot-reply-0">Bonjour, </div>' in html
    for socket in (other, idle):
        assert not [h for h in await _drain(socket) if "copilot" in h]

    # Leaving the conversation leaves its copilot too (and the viewer registry).
    await _request(watching, {"type": "open", "conversation_id": None})
    assert await sync_to_async(_viewers)(conversation.pk) == set()
    await sync_to_async(events.suggestion_unavailable)(conversation_id=conversation.pk, reason="timeout")
    assert not [h for h in await _drain(watching) if "copilot" in h]
    for socket in (watching, other, idle):
        await socket.disconnect()


async def test_closing_the_socket_unregisters_the_viewer(agent_user: Any, flush_redis: None) -> None:
    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    await _request(console, {"type": "open", "conversation_id": conversation.pk})
    assert len(await sync_to_async(_viewers)(conversation.pk)) == 1
    await console.disconnect()
    assert await sync_to_async(_viewers)(conversation.pk) == set()


async def test_chunks_are_escaped(agent_user: Any) -> None:
    from apps.copilot import events

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    await _request(console, {"type": "open", "conversation_id": conversation.pk})
    send = sync_to_async(events.suggestion_chunk)
    await send(conversation_id=conversation.pk, suggestion_id=7, field="reply", index=1, text=XSS)
    await send(conversation_id=conversation.pk, suggestion_id=7, field="questions", value=[XSS, "Et ensuite ?"])
    await send(
        conversation_id=conversation.pk,
        suggestion_id=7,
        field="citations",
        index=1,
        value=[{"title": XSS, "url": "javascript:alert(1)", "chunk_id": 3}],
    )
    await send(conversation_id=conversation.pk, suggestion_id=7, field="recommended_direction", value=XSS)
    # Not fields of a suggestion, or out of range: nothing is drawn (suggestion.done redraws the panel anyway).
    await send(conversation_id=conversation.pk, suggestion_id=7, field="panel", value="x")
    await send(conversation_id=conversation.pk, suggestion_id=7, field="reply", index=9, text="perdu")
    await send(conversation_id=conversation.pk, suggestion_id=7, field="priority", value="critical")
    html = await _html_until(console, 'id="copilot-priority"')
    html += "".join(await _drain(console))
    assert f'<div hx-swap-oob="beforeend:#copilot-reply-1">{ESCAPED_XSS}</div>' in html
    assert re.search(r'id="copilot-questions"[^>]*hx-swap-oob="true"', html)
    assert re.search(r'id="copilot-citations-1"[^>]*hx-swap-oob="true"', html)
    assert re.search(r'id="copilot-recommended_direction"[^>]*hx-swap-oob="true"', html)
    assert html.count(ESCAPED_XSS) == 4
    assert "<img" not in html and "javascript:" not in html
    assert "perdu" not in html and "copilot-panel" not in html
    await console.disconnect()


async def test_done_draws_the_stored_suggestion_and_a_stale_one_is_dropped(agent_user: Any) -> None:
    from apps.copilot import events

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    stale = await sync_to_async(_suggestion)(conversation, _payload(replies=[{"text": "Ancienne", "citations": []}]))
    suggestion = await sync_to_async(_suggestion)(conversation, _payload(), confidence=0.82)
    console = await _connect(agent_user)
    await _request(console, {"type": "open", "conversation_id": conversation.pk})
    # A done that arrives after a newer suggestion started leaves the panel to the newer one.
    await sync_to_async(events.suggestion_done)(conversation_id=conversation.pk, suggestion_id=stale.pk)
    assert not [h for h in await _drain(console) if "copilot-panel" in h]

    await sync_to_async(events.suggestion_done)(conversation_id=conversation.pk, suggestion_id=suggestion.pk)
    html = await _html_until(console, 'id="copilot-panel"')
    assert re.search(r'id="copilot-panel"[^>]*data-state="done"', html) and 'data-ghost="1"' in html
    assert re.search(r'<button type="button" class="copilot-reply" id="copilot-reply-0"[^>]*>Vous avez 30 jours', html)
    assert (
        f'id="copilot-reply-1" data-testid="copilot-variant" title="Put this reply in the reply box">{ESCAPED_XSS}'
        in html
    )
    assert 'href="https://help.example.com/retours" target="_blank" rel="noopener noreferrer"' in html
    assert "javascript:" not in html and ">Piège</li>" in html  # shown, not as a link
    for shown in ("Quelle est la date d&#x27;achat ?", "refund", "Proposer l&#x27;étiquette", "82 %", "declining"):
        assert shown in html
    assert "<img" not in html and "Ancienne" not in html
    await console.disconnect()


async def test_silent_and_unavailable(agent_user: Any) -> None:
    from apps.copilot import events

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    silent = await sync_to_async(_suggestion)(
        conversation, _payload(replies=[], silent=True, confidence=0.2), silent=True, confidence=0.2
    )
    console = await _connect(agent_user)
    await _request(console, {"type": "open", "conversation_id": conversation.pk})
    await sync_to_async(events.suggestion_done)(conversation_id=conversation.pk, suggestion_id=silent.pk)
    html = await _html_until(console, 'id="copilot-panel"')
    assert "No confident suggestion" in html and 'data-state="silent"' in html
    assert "copilot-reply" not in html and "data-ghost" not in html

    await sync_to_async(events.suggestion_unavailable)(conversation_id=conversation.pk, reason="circuit_open")
    html = await _html_until(console, 'id="copilot-panel"')
    assert "Copilot unavailable" in html and 'data-state="unavailable"' in html
    await console.disconnect()


async def test_analytics_and_the_urgent_retention_alert(agent_user: Any, other_agent: Any) -> None:
    from apps.copilot import events
    from apps.copilot.models import ConversationAnalytics

    conversation = await sync_to_async(ConversationFactory)(status="escalated", tags=["URGENT_RETENTION"])
    await sync_to_async(ConversationAnalytics.objects.create)(
        conversation=conversation,
        intent="résiliation",
        sentiment="negative",
        emotion="anger",
        summary=f"Veut résilier {XSS}",
        churn_risk=91,
        next_action="Appeler le client",
    )
    watching = await _connect(agent_user)
    elsewhere = await _connect(other_agent)
    await _request(watching, {"type": "open", "conversation_id": conversation.pk})

    def analytics_then_alert() -> None:
        events.analytics_updated(conversation_id=conversation.pk)
        events.copilot_alert(conversation_id=conversation.pk, kind="urgent_retention", churn_risk=91)

    await sync_to_async(analytics_then_alert)()
    html = await _html_until(watching, 'data-testid="notification"')
    html += "".join(await _drain(watching))
    assert re.search(r'id="copilot-analytics"[^>]*hx-swap-oob="true"', html)
    for shown in ("résiliation", "negative", "anger", "91/100", "Appeler le client", "URGENT_RETENTION"):
        assert shown in html
    assert f"Veut résilier {ESCAPED_XSS}" in html and "<img" not in html

    # Every console gets the alert, with the conversation's id and the risk only.
    other_html = await _html_until(elsewhere, 'data-testid="notification"')
    other_html += "".join(await _drain(elsewhere))
    assert "copilot-analytics" not in other_html
    toast = re.search(r'<div class="toast toast-urgent".*?</div>', other_html, re.S)
    assert toast is not None
    assert f"Conversation #{conversation.pk}" in toast.group(0) and "churn risk 91/100" in toast.group(0)
    assert "résilier" not in other_html and "Appeler" not in other_html
    for socket in (watching, elsewhere):
        await socket.disconnect()


async def test_a_user_who_lost_the_agent_role_does_not_join_the_copilot(agent_user: Any, flush_redis: None) -> None:
    from apps.copilot import events

    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    console = await _connect(agent_user)
    await sync_to_async(agent_user.groups.clear)()
    answer = await _request(console, {"type": "open", "conversation_id": conversation.pk})
    assert answer["code"] == "forbidden"
    assert await sync_to_async(_viewers)(conversation.pk) == set()
    await sync_to_async(events.suggestion_start)(
        conversation_id=conversation.pk, suggestion_id=1, trigger_message_id=None
    )
    assert not [h for h in await _drain(console) if "copilot" in h]
    await console.disconnect()


async def test_a_suggestion_is_read_once_for_every_console_of_the_process(
    agent_user: Any, other_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.console import consumers, selectors
    from apps.copilot import events

    consumers._memo.clear()
    reads: list[int] = []
    real = selectors.copilot_panel_done

    def counting(*, conversation_id: int, suggestion_id: int) -> Any:
        reads.append(suggestion_id)
        return real(conversation_id=conversation_id, suggestion_id=suggestion_id)

    monkeypatch.setattr(selectors, "copilot_panel_done", counting)
    conversation = await sync_to_async(ConversationFactory)(status="escalated")
    suggestion = await sync_to_async(_suggestion)(conversation, _payload())
    consoles = [await _connect(user) for user in (agent_user, other_agent, agent_user)]
    for console in consoles:
        await _request(console, {"type": "open", "conversation_id": conversation.pk})
    await sync_to_async(events.suggestion_done)(conversation_id=conversation.pk, suggestion_id=suggestion.pk)
    for console in consoles:
        assert "Vous avez 30 jours" in await _html_until(console, 'id="copilot-panel"')
        await console.disconnect()
    assert reads == [suggestion.pk], "the suggestion is read once for the three consoles"
