"""Login, console access by role, admin for supervisors, API docs and authentication."""

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.core.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_console_redirects_anonymous_to_login(client: Client) -> None:
    response = client.get("/console/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_login_page_logs_an_agent_in_and_shows_offline_ai(client: Client, agent_user) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    response = client.post(
        "/accounts/login/", {"username": agent_user.username, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    console = client.get("/console/")
    assert console.status_code == 200
    assert b"offline AI" in console.content


def test_wrong_password_is_refused(client: Client, agent_user) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/accounts/login/", {"username": agent_user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content
    assert client.get("/console/").status_code == 302


def test_user_without_role_cannot_open_the_console(client: Client) -> None:
    client.force_login(UserFactory())
    assert client.get("/console/").status_code == 403


def test_supervisor_reaches_admin_and_agent_does_not(client: Client, supervisor_user, agent_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(supervisor_user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/labels/label/").status_code == 200
    assert client.get("/admin/ai/llmcall/").status_code == 200
    client.force_login(agent_user)
    assert client.get("/admin/").status_code == 302  # not staff: back to the admin login


def test_api_docs_and_schema_answer(client: Client) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"SupportDesk API" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI is served from our own static files (offline), not from a CDN.
    assert b"/static/drf_spectacular_sidecar/" in docs.content
    assert b"cdn" not in docs.content.lower()


def test_api_requires_authentication_with_a_json_error(client: Client) -> None:
    response = client.get("/api/me")
    assert response.status_code in (401, 403)
    assert response.json()["error"] == "not_authenticated"


def test_api_token_authentication(client: Client, agent_user) -> None:  # type: ignore[no-untyped-def]
    token = Token.objects.create(user=agent_user)
    response = client.get("/api/me", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json() == {"username": agent_user.username, "is_agent": True, "is_supervisor": False}


def test_groups_have_sensible_permissions(agent_user, supervisor_user) -> None:  # type: ignore[no-untyped-def]
    assert agent_user.has_perm("conversations.change_conversation")
    assert agent_user.has_perm("tickets.add_ticket")
    assert not agent_user.has_perm("labels.change_label")
    assert not agent_user.has_perm("knowledge.delete_document")
    assert supervisor_user.has_perm("labels.change_label")
    assert supervisor_user.has_perm("knowledge.add_document")
    assert supervisor_user.has_perm("django_celery_beat.change_periodictask")
    assert not supervisor_user.has_perm("auth.change_user")


def test_vendored_htmx_is_served_locally(client: Client, agent_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(agent_user)
    page = client.get("/console/").content.decode()
    for path in ("/static/vendor/htmx/htmx-2.0.11.min.js", "/static/vendor/htmx/ext-ws-2.0.4.min.js"):
        assert path in page
        asset = client.get(path)
        assert asset.status_code == 200
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert b"htmx" in body


def _directives(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in header.split(";")) if part}


def test_pages_carry_a_content_security_policy(client: Client, agent_user) -> None:  # type: ignore[no-untyped-def]
    """SPEC §12: scripts from our origin only (no inline script can run), framed by our origin only."""
    client.force_login(agent_user)
    page = client.get("/console/")
    assert page.status_code == 200
    csp = _directives(page)
    assert csp["script-src"] == "'self'"
    assert csp["frame-ancestors"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert "ws://testserver" in csp["connect-src"] and "wss://testserver" in csp["connect-src"]
    # JSON answers are not documents: no policy needed there.
    assert "Content-Security-Policy" not in client.get("/api/me")


def test_widget_pages_may_be_framed_by_the_configured_origins_only(client: Client, settings: Any) -> None:
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example.com"]
    assert _directives(client.get("/widget/demo/"))["frame-ancestors"] == "'self' https://shop.example.com"
    assert _directives(client.get("/accounts/login/"))["frame-ancestors"] == "'self'"


def test_no_page_of_ours_relies_on_inline_script(client: Client, supervisor_user) -> None:  # type: ignore[no-untyped-def]
    """Under script-src 'self' an inline <script> would not run: the API docs load their start-up script as a file,
    and so do the console and the admin."""
    import re

    client.force_login(supervisor_user)
    for url in ("/api/docs/", "/console/", "/admin/", "/widget/demo/", "/help/"):
        html = client.get(url).content.decode()
        tags = re.findall(r"<script\b[^>]*>", html)
        assert tags or url == "/help/", url  # the help centre has no script at all
        assert all("src=" in tag for tag in tags), (url, [t for t in tags if "src=" not in t])
    script = client.get("/api/docs/?script")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_the_policy_can_be_left_to_a_proxy(client: Client, settings: Any) -> None:
    settings.CSP_ENABLED = False
    assert "Content-Security-Policy" not in client.get("/accounts/login/")
