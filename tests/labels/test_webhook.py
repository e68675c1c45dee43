"""The Crisp web hook: every answer of SPEC §5.1, and a rejected request stores and queues nothing."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from apps.conversations.models import Conversation, Message
from apps.integrations.crisp.signature import crisp_signature
from apps.labels.models import LabelingJob
from tests.labels.conftest import SEED

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int]:
    return Conversation.objects.count(), Message.objects.count(), LabelingJob.objects.count()


def test_seed_example_is_queued_then_duplicate(post_webhook, pending_keys, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_webhook(SEED)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    job = LabelingJob.objects.get(conversation=conversation)
    assert body["job_id"] == job.task_id
    assert len(callbacks) == 1, "one task is enqueued, after commit"
    assert conversation.imported and conversation.channel == "crisp" and conversation.external_id == "crisp-seed-1"
    assert not Message.objects.filter(conversation=conversation).exists(), "imported conversations keep no text"
    assert len(pending_keys()) == 1

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = post_webhook(SEED)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "conversation_id": conversation.pk}
    assert callbacks == [] and LabelingJob.objects.count() == 1


def test_same_conversation_with_new_messages_is_queued_again(post_webhook, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        first = post_webhook(SEED)
        changed = copy.deepcopy(SEED)
        changed["messages"].append({"role": "user", "text": "Toujours bloqué."})
        second = post_webhook(changed)
    assert first.status_code == second.status_code == 202
    assert first.json()["conversation_id"] == second.json()["conversation_id"]
    assert LabelingJob.objects.count() == 2


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("not an object", [1, 2], 400, "invalid_payload"),
    ("missing id", {"messages": SEED["messages"]}, 400, "invalid_payload"),
    ("missing messages", {"conversation_id": "x1"}, 400, "invalid_payload"),
    ("empty messages", {"conversation_id": "x1", "messages": []}, 400, "invalid_payload"),
    ("unknown role", {"conversation_id": "x1", "messages": [{"role": "admin", "text": "hi"}]}, 400, "invalid_payload"),
    (
        "text not a string",
        {"conversation_id": "x1", "messages": [{"role": "user", "text": 42}]},
        400,
        "invalid_payload",
    ),
    ("id not a string", {"conversation_id": ["x"], "messages": SEED["messages"]}, 400, "invalid_payload"),
]


@pytest.mark.parametrize(("name", "payload", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_malformed_payloads_get_400_and_change_nothing(post_webhook, pending_keys, name, payload, status, code) -> None:  # type: ignore[no-untyped-def]
    before = _state()
    response = post_webhook(payload)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert _state() == before and pending_keys() == set()


def test_invalid_json_gets_400(post_webhook) -> None:  # type: ignore[no-untyped-def]
    before = _state()
    response = post_webhook(None, raw=b'{"conversation_id": "x", "messages": [')
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    assert _state() == before


def test_oversized_body_gets_413(post_webhook, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_MAX_BYTES = 10_000
    before = _state()
    big = {"conversation_id": "big", "messages": [{"role": "user", "text": "a" * 5_000}] * 3}
    response = post_webhook(big)
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert _state() == before


def test_default_limit_is_one_megabyte(post_webhook) -> None:  # type: ignore[no-untyped-def]
    before = _state()
    response = post_webhook(None, raw=b'{"conversation_id": "x", "pad": "' + b"a" * 1_100_000 + b'"}')
    assert response.status_code == 413
    assert _state() == before


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403), ("", 403)])
def test_bad_secret_is_refused(post_webhook, key, status) -> None:  # type: ignore[no-untyped-def]
    before = _state()
    response = post_webhook(SEED, key=key)
    assert response.status_code == status
    assert "error" in response.json()
    assert _state() == before


def test_unconfigured_key_refuses_everything(post_webhook, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CRISP_WEBHOOK_KEY = ""
    assert post_webhook(SEED, key="").status_code == 403


def test_plugin_signature(post_webhook, settings, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    settings.CRISP_PLUGIN_SECRET = "plugin-secret"
    body = json.dumps(SEED).encode()
    ts = str(int(time.time()))
    good = crisp_signature("plugin-secret", ts, body)
    before = _state()
    assert (
        post_webhook(
            None, key=None, raw=body, HTTP_X_CRISP_SIGNATURE="0" * 64, HTTP_X_CRISP_REQUEST_TIMESTAMP=ts
        ).status_code
        == 403
    )
    old = str(int(time.time()) - 3600)
    stale = crisp_signature("plugin-secret", old, body)
    assert (
        post_webhook(
            None, key=None, raw=body, HTTP_X_CRISP_SIGNATURE=stale, HTTP_X_CRISP_REQUEST_TIMESTAMP=old
        ).status_code
        == 403
    )
    tampered = body.replace(b"payer", b"PAYER")
    assert (
        post_webhook(
            None, key=None, raw=tampered, HTTP_X_CRISP_SIGNATURE=good, HTTP_X_CRISP_REQUEST_TIMESTAMP=ts
        ).status_code
        == 403
    )
    assert _state() == before
    with django_capture_on_commit_callbacks(execute=False):
        ok = post_webhook(None, key=None, raw=body, HTTP_X_CRISP_SIGNATURE=good, HTTP_X_CRISP_REQUEST_TIMESTAMP=ts)
    assert ok.status_code == 202


def test_crisp_envelope(post_webhook) -> None:  # type: ignore[no-untyped-def]
    other = {"event": "message:send", "website_id": "w1", "data": {"session_id": "s1"}}
    assert post_webhook(other).json() == {"status": "ignored", "event": "message:send"}
    unresolved = {"event": "session:set_state", "website_id": "w1", "data": {"session_id": "s1", "state": "pending"}}
    assert post_webhook(unresolved).json()["status"] == "ignored"
    before = _state()
    resolved = {"event": "session:set_state", "website_id": "w1", "data": {"session_id": "s1", "state": "resolved"}}
    response = post_webhook(resolved)
    assert response.status_code == 400 and response.json()["error"] == "messages_required"
    assert _state() == before


def test_crisp_envelope_is_queued_when_messages_can_be_fetched(
    post_webhook, settings, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    settings.CRISP_IDENTIFIER, settings.CRISP_KEY = "id", "key"
    resolved = {"event": "session:set_state", "website_id": "w1", "data": {"session_id": "s9", "state": "resolved"}}
    with django_capture_on_commit_callbacks(execute=False):
        first = post_webhook(resolved)
        second = post_webhook(resolved)
    assert first.status_code == 202
    assert second.json()["status"] == "duplicate", "a second event while one is pending queues nothing"


def test_get_is_not_allowed(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/webhooks/crisp/conversation.closed?key=x").status_code == 405


def test_no_conversation_text_is_logged(post_webhook, caplog, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level("DEBUG")
    with django_capture_on_commit_callbacks(execute=False):
        post_webhook(SEED)
    post_webhook({"conversation_id": "x", "messages": [{"role": "user", "text": 5}]})
    for record in caplog.records:
        text = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert "payer" not in text and "commande" not in text
