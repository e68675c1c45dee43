"""POST /api/widget/sessions: validation, nothing written on bad input, CORS and origins, the per-IP limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.conversations.models import Contact, Conversation

pytestmark = pytest.mark.django_db

URL = "/api/widget/sessions"


def _counts() -> tuple[int, int]:
    return Contact.objects.count(), Conversation.objects.count()


def post(body: Any, **headers: Any) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client().post(URL, raw, content_type="application/json", **headers)


def test_an_empty_body_opens_an_anonymous_session() -> None:
    response = post({})
    assert response.status_code == 201
    assert Conversation.objects.get(pk=response.json()["conversation_id"]).channel == "widget"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+33 6 12 34 56 78 90 12 34"}, "phone"),
        ({"phone": "06 12 34 ab 78"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": ["Ana"]}, "name"),
    ],
)
def test_bad_contact_details_are_400_json_and_nothing_is_written(body: dict[str, Any], field: str) -> None:
    before = _counts()
    response = post(body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid"
    assert field in response.json()["detail"]
    assert _counts() == before


def test_bad_bodies_and_context_tokens_are_4xx_json() -> None:
    before = _counts()
    assert post("{not json").status_code == 400
    assert post("[1, 2]").status_code == 400
    response = Client().post(URL, "name=Ana", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and "error" in response.json()
    response = post({"context_token": "forged"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_context"
    assert _counts() == before


def test_valid_details_are_normalised() -> None:
    response = post({"name": "  Ana   Lima ", "phone": "0033 6 12 34 56 78", "email": " ana@EXAMPLE.org "})
    assert response.status_code == 201
    contact = Conversation.objects.get(pk=response.json()["conversation_id"]).contact
    assert (contact.name, contact.phone, contact.email) == ("Ana Lima", "+33612345678", "ana@example.org")


def test_cors_only_for_configured_origins(settings: Any) -> None:
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example.com"]
    preflight = Client().options(URL, HTTP_ORIGIN="https://shop.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in preflight["Access-Control-Allow-Methods"]

    allowed = post({}, HTTP_ORIGIN="https://shop.example.com")
    assert allowed.status_code == 201
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Origin" in allowed["Vary"]

    same_site = post({}, HTTP_ORIGIN="http://127.0.0.1:8000")
    assert same_site.status_code == 201

    before = _counts()
    foreign = post({}, HTTP_ORIGIN="https://evil.example")
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign
    assert _counts() == before


def test_sessions_per_ip_are_limited(settings: Any) -> None:
    from tests.conversations.widget_helpers import rate_limits_clear

    rate_limits_clear()
    settings.WIDGET_SESSIONS_RATE_LIMIT = 2
    assert post({}, REMOTE_ADDR="192.0.2.10").status_code == 201
    assert post({}, REMOTE_ADDR="192.0.2.10").status_code == 201
    before = _counts()
    limited = post({}, REMOTE_ADDR="192.0.2.10")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert _counts() == before
    assert post({}, REMOTE_ADDR="192.0.2.11").status_code == 201
