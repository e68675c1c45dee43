"""REST: POST /api/copilot/suggest and /api/copilot/batch (validation, permissions, errors, schema)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.copilot.types import CopilotContext
from tests.conversations.factories import ConversationFactory, MessageFactory
from tests.copilot.conftest import FakeAI, sample_suggestion

pytestmark = pytest.mark.django_db

SUGGEST = "/api/copilot/suggest"
BATCH = "/api/copilot/batch"


def _post(client: Client, url: str, body: Any, **headers: Any) -> Any:
    return client.post(url, body, content_type="application/json", **headers)


@pytest.fixture
def agent_client(client: Client, agent_user: Any) -> Client:
    client.force_login(agent_user)
    return client


def test_suggest_returns_an_output_suggestion(agent_client: Client, fake_ai: FakeAI) -> None:
    response = _post(agent_client, SUGGEST, {"text": "Comment résilier ?", "speaker": "client", "emotion": "anger"})
    assert response.status_code == 200
    assert response.json() == sample_suggestion().as_dict()
    (context,) = fake_ai.contexts
    assert context.messages[-1].text == "Comment résilier ?" and context.messages[-1].emotion == "anger"
    assert context.language == "fr"


def test_suggest_with_conversation_uses_its_history(agent_client: Client, fake_ai: FakeAI) -> None:
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="Ma commande 4512 n'est pas arrivée")
    response = _post(
        agent_client, SUGGEST, {"conversation_id": conversation.pk, "text": "Toujours rien", "speaker": "client"}
    )
    assert response.status_code == 200
    assert [m.text for m in fake_ai.contexts[0].messages] == ["Ma commande 4512 n'est pas arrivée", "Toujours rien"]


def test_token_auth(client: Client, agent_user: Any, fake_ai: FakeAI) -> None:
    token = Token.objects.create(user=agent_user)
    response = _post(client, SUGGEST, {"text": "Bonjour", "speaker": "client"}, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": "", "speaker": "client"},
        {"text": "   ", "speaker": "client"},
        {"text": "Bonjour", "speaker": "bot"},
        {"text": "Bonjour"},
        {"text": "Bonjour", "speaker": "client", "sentiment": "furious"},
        {"text": "Bonjour", "speaker": "client", "emotion": "sad"},
        {"text": "Bonjour", "speaker": "client", "conversation_id": "abc"},
        {"text": 42, "speaker": "client"},
        {"text": "a\x00b", "speaker": "client"},
        ["not", "an", "object"],
    ],
)
def test_suggest_validation_errors_are_400_json(agent_client: Client, fake_ai: FakeAI, body: Any) -> None:
    response = _post(agent_client, SUGGEST, body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert fake_ai.contexts == []


def test_malformed_json_is_400(agent_client: Client) -> None:
    response = agent_client.post(SUGGEST, "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]


def test_unknown_conversation_is_404(agent_client: Client, fake_ai: FakeAI) -> None:
    response = _post(agent_client, SUGGEST, {"conversation_id": 999_999, "text": "Bonjour", "speaker": "client"})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = _post(
        agent_client, BATCH, {"messages": [{"conversation_id": 999_999, "text": "x", "speaker": "client"}]}
    )
    assert response.status_code == 404


def test_non_agents_are_refused(client: Client, fake_ai: FakeAI) -> None:
    from tests.core.factories import UserFactory

    body = {"text": "Bonjour", "speaker": "client"}
    assert _post(client, SUGGEST, body).status_code == 403  # anonymous
    client.force_login(UserFactory())
    assert _post(client, SUGGEST, body).status_code == 403
    assert _post(client, BATCH, {"messages": [body]}).status_code == 403
    assert fake_ai.contexts == []


def test_unavailable_model_is_503(agent_client: Client, fake_ai: FakeAI) -> None:
    fake_ai.fail = "circuit_open"
    response = _post(agent_client, SUGGEST, {"text": "Bonjour", "speaker": "client"})
    assert response.status_code == 503 and response.json()["error"] == "copilot_unavailable"
    response = _post(agent_client, BATCH, {"messages": [{"text": "Bonjour", "speaker": "client"}]})
    assert response.status_code == 503 and response.json()["error"] == "copilot_unavailable"


def test_batch_is_one_conversation_in_order(agent_client: Client, fake_ai: FakeAI) -> None:
    texts = ["Bonjour, ma box clignote", "Avez-vous redémarré ?", "Oui, deux fois", "Je veux résilier alors"]
    messages = [{"text": t, "speaker": "client" if i % 2 == 0 else "agent"} for i, t in enumerate(texts)]
    response = _post(agent_client, BATCH, {"messages": messages})
    assert response.status_code == 200
    assert response.json() == [sample_suggestion().as_dict()] * 4
    seen: list[CopilotContext] = fake_ai.contexts
    assert [[m.text for m in c.messages] for c in seen] == [texts[: i + 1] for i in range(4)]
    assert [m.speaker for m in seen[-1].messages] == ["client", "agent", "client", "agent"]


@pytest.mark.parametrize("count", [0, 101])
def test_batch_size_limits(agent_client: Client, fake_ai: FakeAI, count: int) -> None:
    response = _post(agent_client, BATCH, {"messages": [{"text": "ok", "speaker": "client"}] * count})
    assert response.status_code == 400 and "messages" in str(response.json()["detail"])
    assert fake_ai.contexts == []


def test_batch_of_100_is_accepted(agent_client: Client, fake_ai: FakeAI) -> None:
    response = _post(
        agent_client, BATCH, {"messages": [{"text": f"question {i}", "speaker": "client"} for i in range(100)]}
    )
    assert response.status_code == 200 and len(response.json()) == 100


@pytest.mark.parametrize(
    "body",
    [{"messages": "x"}, {"messages": [{"text": "", "speaker": "client"}]}, {},
     {"messages": [{"text": "a", "speaker": "client", "conversation_id": 1},
                   {"text": "b", "speaker": "client", "conversation_id": 2}]}],
)  # fmt: skip
def test_batch_validation(agent_client: Client, fake_ai: FakeAI, body: Any) -> None:
    assert _post(agent_client, BATCH, body).status_code == 400


def test_openapi_schema_documents_both_paths(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path, request_ref in (("/api/copilot/suggest", "InputMessage"), ("/api/copilot/batch", "BatchInput")):
        post = schema["paths"][path]["post"]
        ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(f"/{request_ref}")
        assert {"200", "400", "403", "503"} <= set(post["responses"])
    components = schema["components"]["schemas"]
    assert {"text", "speaker"} <= set(components["InputMessage"]["required"])
    assert {"replies", "questions", "silent", "confidence"} <= set(components["OutputSuggestion"]["properties"])
    batch_200 = schema["paths"]["/api/copilot/batch"]["post"]["responses"]["200"]["content"]["application/json"]
    assert batch_200["schema"]["type"] == "array"
