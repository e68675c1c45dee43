"""The copilot in the console's pages (docs/copilot.md, "Console"): the panel on the conversation page, the reply
form's suggestion_id and the outcome it records, Esc's dismissal, and the supervisors' statistics page."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from apps.conversations.models import Message
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"
VARIANT = "Vous avez 30 jours pour retourner votre téléphone."


def _suggestion(conversation: Any, **fields: Any) -> Any:
    from apps.copilot.models import Suggestion

    payload = {
        "replies": [
            {"text": VARIANT, "citations": [{"title": "Retours", "url": "/help/3/", "chunk_id": 3}]},
            {"text": f"Bonjour {XSS}", "citations": []},
        ],
        "questions": ["Quand l'avez-vous reçu ?", "Est-il ouvert ?"],
        "priority": "medium",
        "confidence": 0.7,
        "sentiment_trend": "stable",
        "silent": False,
    }
    values = {"payload": payload, "confidence": 0.7, "first_token_ms": 30, "total_ms": 90} | fields
    return Suggestion.objects.create(conversation=conversation, **values)


def _panel(html: str) -> str:
    start = html.index('id="copilot-panel"')
    return html[start : html.index('id="copilot-analytics"', start)]


def test_the_conversation_page_shows_the_latest_suggestion_and_analytics(
    agent_client: Client, conversation: Any, settings: Any
) -> None:
    from apps.copilot.models import ConversationAnalytics

    _suggestion(conversation, payload={"replies": [{"text": "Plus ancienne", "citations": []}], "silent": False})
    latest = _suggestion(conversation)
    ConversationAnalytics.objects.create(
        conversation=conversation, intent="retour", sentiment="negative", churn_risk=35, summary=f"Retour {XSS}"
    )
    settings.LLM_PROVIDER = "local"
    html = agent_client.get(f"/console/c/{conversation.pk}/").content.decode()
    panel = _panel(html)
    assert f'data-suggestion-id="{latest.pk}"' in panel and 'data-ghost="1"' in panel
    assert VARIANT in panel and "Plus ancienne" not in panel
    assert "Bonjour &lt;img src=x onerror=alert(1)&gt;" in panel and "<img" not in html
    assert 'href="/help/3/" target="_blank"' in panel
    assert "Quand l&#x27;avez-vous reçu ?" in panel
    analytics = html[html.index('id="copilot-analytics"') :]
    assert "retour" in analytics and "35/100" in analytics and "URGENT_RETENTION" not in analytics
    # The reply form names the suggestion on screen; the offline badge says the copilot is local.
    assert re.search(rf'name="suggestion_id" value="{latest.pk}"', html)
    assert 'data-testid="copilot-offline"' in html

    settings.LLM_PROVIDER = "openai"
    html = agent_client.get(f"/console/c/{conversation.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="copilot-offline"' not in html and 'id="copilot-panel"' in html


def test_without_suggestion_a_placeholder_and_urgent_retention_shows(agent_client: Client) -> None:
    conversation = ConversationFactory(status="escalated", tags=["URGENT_RETENTION"])
    html = agent_client.get(f"/console/c/{conversation.pk}/").content.decode()
    panel = _panel(html)
    assert 'data-state="none"' in panel and 'data-testid="copilot-placeholder"' in panel
    assert 'name="suggestion_id" value=""' in html
    assert 'data-testid="copilot-urgent"' in html


def test_a_suggestion_being_generated_and_a_decided_one_give_no_ghost(agent_client: Client, conversation: Any) -> None:
    decided = _suggestion(conversation, outcome="accepted")
    html = agent_client.get(f"/console/c/{conversation.pk}/").content.decode()
    assert f'data-suggestion-id="{decided.pk}"' in html and "data-ghost" not in html
    assert 'name="suggestion_id" value=""' in html

    streaming = _suggestion(conversation, payload={}, total_ms=None, first_token_ms=None)
    html = agent_client.get(f"/console/c/{conversation.pk}/").content.decode()
    panel = _panel(html)
    assert 'data-state="streaming"' in panel and f'data-suggestion-id="{streaming.pk}"' in panel
    assert all(f'id="copilot-reply-{n}"' in panel for n in range(3))


def test_sending_a_suggested_reply_records_accepted(agent_client: Client, conversation: Any) -> None:
    suggestion = _suggestion(conversation)
    url = f"/console/c/{conversation.pk}/reply/"
    response = agent_client.post(url, {"kind": "reply", "text": VARIANT, "suggestion_id": str(suggestion.pk)})
    assert response.status_code == 200
    suggestion.refresh_from_db()
    assert suggestion.outcome == "accepted"
    # The fresh reply box names no suggestion: this one is decided.
    assert 'name="suggestion_id" value=""' in response.content.decode()


def test_a_note_records_nothing_and_an_edited_reply_is_edited(agent_client: Client, conversation: Any) -> None:
    suggestion = _suggestion(conversation)
    url = f"/console/c/{conversation.pk}/reply/"
    agent_client.post(url, {"kind": "note", "text": VARIANT, "suggestion_id": str(suggestion.pk)})
    suggestion.refresh_from_db()
    assert suggestion.outcome == "pending"
    edited = VARIANT.replace("30 jours", "trente jours") + " Bonne journée !"
    agent_client.post(url, {"kind": "reply", "text": edited, "suggestion_id": str(suggestion.pk)})
    suggestion.refresh_from_db()
    assert suggestion.outcome == "edited"


def test_a_failing_outcome_record_does_not_fail_the_reply(
    agent_client: Client, conversation: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from apps.copilot import services

    def broken(**kwargs: Any) -> None:
        raise RuntimeError(f"boom {kwargs['sent_text']}")

    monkeypatch.setattr(services, "suggestion_outcome_record", broken)
    suggestion = _suggestion(conversation)
    response = agent_client.post(
        f"/console/c/{conversation.pk}/reply/", {"kind": "reply", "text": VARIANT, "suggestion_id": str(suggestion.pk)}
    )
    assert response.status_code == 200
    assert Message.objects.filter(conversation=conversation, role="agent", text=VARIANT).exists()
    assert "copilot outcome not recorded" in caplog.text
    assert VARIANT not in caplog.text  # no content in the logs


def test_a_refused_reply_keeps_the_suggestion_id(agent_client: Client, conversation: Any) -> None:
    suggestion = _suggestion(conversation)
    response = agent_client.post(
        f"/console/c/{conversation.pk}/reply/", {"kind": "reply", "text": "  ", "suggestion_id": str(suggestion.pk)}
    )
    assert response.status_code == 422
    assert f'name="suggestion_id" value="{suggestion.pk}"' in response.content.decode()
    suggestion.refresh_from_db()
    assert suggestion.outcome == "pending"


def test_dismissing_records_ignored(agent_client: Client, client: Client, plain_user: Any, conversation: Any) -> None:
    suggestion = _suggestion(conversation)
    assert agent_client.post("/console/copilot/dismiss/", {"suggestion_id": "x"}).status_code == 400
    assert agent_client.post("/console/copilot/dismiss/", {"suggestion_id": "999999"}).status_code == 404
    client.force_login(plain_user)
    assert client.post("/console/copilot/dismiss/", {"suggestion_id": str(suggestion.pk)}).status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.outcome == "pending"
    assert agent_client.post("/console/copilot/dismiss/", {"suggestion_id": str(suggestion.pk)}).status_code == 204
    suggestion.refresh_from_db()
    assert suggestion.outcome == "ignored"


def test_the_stats_page_is_for_supervisors(
    client: Client, agent_client: Client, supervisor_user: Any, plain_user: Any
) -> None:
    url = "/console/stats/copilot/"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert agent_client.get(url).status_code == 403
    assert 'data-testid="copilot-stats-link"' not in agent_client.get("/console/").content.decode()
    client.force_login(plain_user)
    assert client.get(url).status_code == 403

    first, second = ConversationFactory(), ConversationFactory()
    for conversation, first_token, total, outcome, cost in (
        (first, 100, 400, "accepted", "0.002"),
        (first, 300, 800, "ignored", "0.004"),
        (second, 200, 600, "edited", "0.000"),
    ):
        _suggestion(conversation, first_token_ms=first_token, total_ms=total, outcome=outcome, cost_usd=Decimal(cost))
    client.force_login(supervisor_user)
    assert 'data-testid="copilot-stats-link"' in client.get("/console/").content.decode()
    html = client.get(url).content.decode()
    assert re.search(r'data-testid="stats-first-token">.*?<td>200 ms</td>\s*<td>290 ms</td>', html, re.S)
    assert re.search(r'data-testid="stats-complete">.*?<td>600 ms</td>\s*<td>780 ms</td>', html, re.S)
    assert re.search(r'data-testid="stats-acceptance">67 %', html)  # (accepted + edited) / decided = 2/3
    assert re.search(r'data-testid="stats-cost">\$0\.0030', html)  # 0.006 over 2 conversations
