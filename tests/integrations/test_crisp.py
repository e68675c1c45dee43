"""Crisp platform pieces: plugin-hook signatures and website keys, web hook payload parsing, and the REST
client against a local stub of Crisp's REST API (no database, no network beyond 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apps.integrations.crisp import (
    ClosedConversation,
    CrispApiError,
    CrispClient,
    CrispConversationNotFound,
    CrispMessage,
    Ignored,
    WebhookPayloadError,
    crisp_signature,
    crisp_signature_verify,
    parse_webhook,
    website_key_verify,
)
from tests.stubs.crisp_stub import BODY_MARKER, IDENTIFIER, KEY, WEBSITE, CrispStub

SECRET = "plugin-signing-secret"
NOW = 1_717_000_000.0  # a fixed "now" (Unix seconds) for the replay window


def reference_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Crisp's documented recipe, written out independently: hex HMAC-SHA256 of `[timestamp;body]`."""
    return hmac.new(secret.encode(), b"[" + timestamp.encode() + b";" + body + b"]", hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------------------

BODY = (
    b'{"website_id":"w-1","event":"session:set_state",'
    b'"data":{"website_id":"w-1","session_id":"session_1","state":"resolved"},"timestamp":1717000000000}'
)


def test_crisp_signature_matches_the_documented_recipe() -> None:
    assert crisp_signature(SECRET, "1717000000", BODY) == reference_signature(SECRET, "1717000000", BODY)


def test_a_good_signature_with_a_fresh_timestamp_in_seconds_is_accepted() -> None:
    ts = str(int(NOW) - 10)
    assert crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, BODY), body=BODY, now=NOW
    )


def test_a_timestamp_in_milliseconds_is_accepted_and_its_window_applies() -> None:
    fresh = str(int(NOW * 1000) - 2_000)
    old = str(int(NOW * 1000) - 301_000)
    assert crisp_signature_verify(
        secret=SECRET, timestamp=fresh, signature=reference_signature(SECRET, fresh, BODY), body=BODY, now=NOW
    )
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=old, signature=reference_signature(SECRET, old, BODY), body=BODY, now=NOW
    )


def test_the_default_clock_is_the_current_time() -> None:
    ts = str(int(time.time()))
    assert crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, BODY), body=BODY
    )


def test_an_uppercase_hex_signature_is_the_same_signature() -> None:
    ts = str(int(NOW))
    signature = reference_signature(SECRET, ts, BODY).upper()
    assert crisp_signature_verify(secret=SECRET, timestamp=ts, signature=signature, body=BODY, now=NOW)


def test_a_signature_made_with_another_secret_is_rejected() -> None:
    ts = str(int(NOW))
    signature = reference_signature("another-secret", ts, BODY)
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature=signature, body=BODY, now=NOW)


def test_a_tampered_body_is_rejected() -> None:
    ts = str(int(NOW))
    signature = reference_signature(SECRET, ts, BODY)
    tampered = BODY.replace(b"session_1", b"session_2")
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature=signature, body=tampered, now=NOW)


def test_a_signature_moved_to_another_timestamp_is_rejected() -> None:
    signature = reference_signature(SECRET, str(int(NOW)), BODY)
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=str(int(NOW) + 1), signature=signature, body=BODY, now=NOW
    )


def test_the_raw_body_is_signed_not_a_re_serialisation() -> None:
    spaced = b'{"event": "session:set_state", "data": {"state": "resolved"}}'
    compact = json.dumps(json.loads(spaced), separators=(",", ":")).encode()
    ts = str(int(NOW))
    assert crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, spaced), body=spaced, now=NOW
    )
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, compact), body=spaced, now=NOW
    )


def test_a_non_ascii_body_is_signed_as_its_utf8_bytes() -> None:
    body = '{"event":"message:send","data":{"content":"Où est ma commande ? 🙂"}}'.encode()
    ts = str(int(NOW))
    assert crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, body), body=body, now=NOW
    )


@pytest.mark.parametrize("age", [301, 3_600, 86_400 * 365])
def test_a_replayed_old_timestamp_is_rejected_even_with_a_valid_signature(age: int) -> None:
    ts = str(int(NOW) - age)
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, BODY), body=BODY, now=NOW
    )


def test_a_timestamp_from_the_future_is_rejected() -> None:
    ts = str(int(NOW) + 600)
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, BODY), body=BODY, now=NOW
    )


def test_max_age_is_configurable() -> None:
    ts = str(int(NOW) - 100)
    signature = reference_signature(SECRET, ts, BODY)
    assert crisp_signature_verify(secret=SECRET, timestamp=ts, signature=signature, body=BODY, now=NOW)
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=signature, body=BODY, now=NOW, max_age_s=60
    )


@pytest.mark.parametrize("timestamp", ["", "abc", "17170000.5", "-1717000000", " 1717000000", "1e9", "١٧١٧٠٠٠٠٠٠"])
def test_a_non_numeric_timestamp_is_rejected(timestamp: str) -> None:
    signature = reference_signature(SECRET, timestamp, BODY)
    assert not crisp_signature_verify(secret=SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)


def test_missing_headers_or_secret_are_rejected() -> None:
    ts = str(int(NOW))
    signature = reference_signature(SECRET, ts, BODY)
    assert not crisp_signature_verify(secret=SECRET, timestamp=None, signature=signature, body=BODY, now=NOW)
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature=None, body=BODY, now=NOW)
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature="", body=BODY, now=NOW)
    assert not crisp_signature_verify(
        secret="", timestamp=ts, signature=reference_signature("", ts, BODY), body=BODY, now=NOW
    )


def test_garbage_signatures_and_bodies_return_false_without_raising() -> None:
    ts = str(int(NOW))
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature="é" * 64, body=BODY, now=NOW)
    assert not crisp_signature_verify(secret=SECRET, timestamp=ts, signature="00", body=BODY, now=NOW)
    invalid_utf8 = b'{"a":"\xff"}'
    assert not crisp_signature_verify(
        secret=SECRET, timestamp=ts, signature=reference_signature(SECRET, ts, invalid_utf8), body=invalid_utf8, now=NOW
    )


def test_website_key_verify() -> None:
    assert website_key_verify("s3cret-key", "s3cret-key")
    assert not website_key_verify("s3cret-key", "s3cret-kez")
    assert not website_key_verify("s3cret-key", "")
    assert not website_key_verify("s3cret-key", None)
    assert not website_key_verify("s3cret-key", "clé")
    assert not website_key_verify("", "")
    assert not website_key_verify("", None)


# --------------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------------


def minimal(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "conversation_id": "conv-42",
        "messages": [
            {"role": "user", "text": "Bonjour, ma carte est refusée.", "timestamp": 1_717_000_000},
            {"role": "support", "text": "Je regarde votre commande.", "timestamp": "2024-05-29T16:27:00Z"},
        ],
    }
    payload.update(overrides)
    return payload


def crisp_event(event: str = "session:set_state", **data: Any) -> dict[str, Any]:
    inner = {"website_id": "w-1", "session_id": "session_abc", "state": "resolved"}
    inner.update(data)
    return {"website_id": "w-1", "event": event, "data": inner, "timestamp": 1_717_000_000_000}


def test_minimal_payload_is_parsed_in_order_with_utc_timestamps() -> None:
    result = parse_webhook(minimal(extra="ignored"), allow_fetch=False)

    assert result == ClosedConversation(
        conversation_id="conv-42",
        website_id=None,
        messages=[
            CrispMessage("user", "Bonjour, ma carte est refusée.", datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),
            CrispMessage("support", "Je regarde votre commande.", datetime(2024, 5, 29, 16, 27, tzinfo=UTC)),
        ],
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_717_000_000, datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),
        (1_717_000_000.5, datetime(2024, 5, 29, 16, 26, 40, 500_000, tzinfo=UTC)),
        (1_717_000_000_000, datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),  # milliseconds
        ("2024-05-29T18:26:40+02:00", datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),
        ("2024-05-29T16:26:40", datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),  # naive = UTC
        (None, None),
    ],
)
def test_message_timestamps(value: object, expected: datetime | None) -> None:
    result = parse_webhook(minimal(messages=[{"role": "user", "text": "x", "timestamp": value}]), allow_fetch=False)
    assert isinstance(result, ClosedConversation)
    assert result.messages is not None
    assert result.messages[0].timestamp == expected


def test_a_message_without_timestamp_is_accepted() -> None:
    result = parse_webhook(minimal(messages=[{"role": "support", "text": "ok"}]), allow_fetch=False)
    assert result == ClosedConversation("conv-42", None, [CrispMessage("support", "ok", None)])


def test_minimal_payload_may_name_its_website() -> None:
    result = parse_webhook(minimal(website_id="w-9"), allow_fetch=False)
    assert isinstance(result, ClosedConversation)
    assert result.website_id == "w-9"


@pytest.mark.parametrize("messages", [None, []])
def test_missing_or_empty_messages_mean_fetch_when_fetching_is_allowed(messages: object) -> None:
    payload = minimal(messages=messages)
    if messages is None:
        del payload["messages"]
    assert parse_webhook(payload, allow_fetch=True) == ClosedConversation("conv-42", None, None)


@pytest.mark.parametrize("messages", ["absent", None, []])
def test_missing_or_empty_messages_are_an_error_when_fetching_is_not_allowed(messages: object) -> None:
    payload = minimal(messages=messages)
    if messages == "absent":
        del payload["messages"]
    with pytest.raises(WebhookPayloadError, match="messages"):
        parse_webhook(payload, allow_fetch=False)


def test_limits_are_inclusive() -> None:
    payload = minimal(
        conversation_id="c" * 200,
        messages=[{"role": "user", "text": "x" * 20_000}] + [{"role": "support", "text": "y"}] * 1_999,
    )
    result = parse_webhook(payload, allow_fetch=False)
    assert isinstance(result, ClosedConversation)
    assert result.messages is not None
    assert len(result.messages) == 2_000


SECRET_TEXT = "MY-PRIVATE-MESSAGE-TEXT"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (["not", "an", "object"], "body"),
        ("conversation_id", "body"),
        (None, "body"),
        ({"messages": [{"role": "user", "text": "x"}]}, "conversation_id"),
        (minimal(conversation_id=42), "conversation_id"),
        (minimal(conversation_id=""), "conversation_id"),
        (minimal(conversation_id="   "), "conversation_id"),
        (minimal(conversation_id="c" * 201), "conversation_id"),
        (minimal(website_id=7), "website_id"),
        (minimal(messages="hello"), "messages"),
        (minimal(messages={"role": "user", "text": "x"}), "messages"),
        (minimal(messages=[{"role": "user", "text": "x"}] * 2_001), "messages"),
        (minimal(messages=["just text"]), r"messages\[0\]"),
        (minimal(messages=[{"text": "x"}]), r"messages\[0\]\.role"),
        (minimal(messages=[{"role": "agent", "text": SECRET_TEXT}]), r"messages\[0\]\.role"),
        (minimal(messages=[{"role": "User", "text": "x"}]), r"messages\[0\]\.role"),
        (minimal(messages=[{"role": "user", "text": "ok"}, {"role": "support"}]), r"messages\[1\]\.text"),
        (minimal(messages=[{"role": "user", "text": 12}]), r"messages\[0\]\.text"),
        (minimal(messages=[{"role": "user", "text": [SECRET_TEXT]}]), r"messages\[0\]\.text"),
        (minimal(messages=[{"role": "user", "text": SECRET_TEXT + "x" * 20_000}]), r"messages\[0\]\.text"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": True}]), r"messages\[0\]\.timestamp"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": -5}]), r"messages\[0\]\.timestamp"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": float("nan")}]), r"messages\[0\]\.timestamp"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": 10**30}]), r"messages\[0\]\.timestamp"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": "yesterday"}]), r"messages\[0\]\.timestamp"),
        (minimal(messages=[{"role": "user", "text": "x", "timestamp": {"at": 1}}]), r"messages\[0\]\.timestamp"),
    ],
)
def test_invalid_minimal_payloads_are_rejected_with_a_detail_naming_the_field(payload: object, field: str) -> None:
    for allow_fetch in (False, True):
        with pytest.raises(WebhookPayloadError, match=field) as caught:
            parse_webhook(payload, allow_fetch=allow_fetch)
        error = caught.value
        assert isinstance(error, ValueError)
        assert error.detail == str(error)
        assert SECRET_TEXT not in error.detail, "message text never appears in an error"


def test_a_resolved_crisp_session_is_a_closed_conversation_to_fetch() -> None:
    for allow_fetch in (True, False):
        result = parse_webhook(crisp_event(), allow_fetch=allow_fetch)
        assert result == ClosedConversation(conversation_id="session_abc", website_id="w-1", messages=None)


def test_the_website_id_may_come_from_the_envelope_or_the_data() -> None:
    only_envelope = crisp_event()
    del only_envelope["data"]["website_id"]
    only_data = crisp_event()
    del only_data["website_id"]
    for payload in (only_envelope, only_data):
        result = parse_webhook(payload, allow_fetch=True)
        assert isinstance(result, ClosedConversation)
        assert result.website_id == "w-1"


@pytest.mark.parametrize("state", ["unresolved", "pending", "RESOLVED"])
def test_other_states_are_ignored(state: str) -> None:
    assert parse_webhook(crisp_event(state=state), allow_fetch=True) == Ignored(event="session:set_state")


@pytest.mark.parametrize("event", ["message:send", "session:set_email", "session:removed"])
def test_other_events_are_ignored_whatever_their_data(event: str) -> None:
    payload = {"website_id": "w-1", "event": event, "data": {"content": SECRET_TEXT}, "timestamp": 1}
    assert parse_webhook(payload, allow_fetch=True) == Ignored(event=event)
    assert parse_webhook({"event": event}, allow_fetch=False) == Ignored(event=event)


def test_an_ignored_event_name_is_cut_to_100_characters() -> None:
    result = parse_webhook({"event": "x" * 500}, allow_fetch=True)
    assert result == Ignored(event="x" * 100)


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"event": 3}, "event"),
        ({"event": ""}, "event"),
        ({"event": None, "conversation_id": "c", "messages": [{"role": "user", "text": "x"}]}, "event"),
        ({"event": "session:set_state"}, "data"),
        ({"event": "session:set_state", "data": "resolved"}, "data"),
        (_without(crisp_event(), "data", "state"), "data.state"),
        (crisp_event(state=1), "data.state"),
        (_without(crisp_event(), "data", "session_id"), "data.session_id"),
        (crisp_event(session_id=12), "data.session_id"),
        (crisp_event(session_id=""), "data.session_id"),
        (crisp_event(session_id="s" * 201), "data.session_id"),
        (_without(_without(crisp_event(), "website_id"), "data", "website_id"), "website_id"),
        (crisp_event(website_id=["w-1"]), "data.website_id"),
        (crisp_event(website_id="w-2"), "differ"),
    ],
)
def test_invalid_crisp_envelopes_are_rejected(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(WebhookPayloadError, match=field):
        parse_webhook(payload, allow_fetch=True)


# --------------------------------------------------------------------------------------------------------
# REST client against a local stub of Crisp's API
# --------------------------------------------------------------------------------------------------------

START_MS = 1_717_000_000_000


def conversation(session: str, count: int) -> list[dict[str, Any]]:
    """`count` Crisp messages, one per second, cycling through text from user, text from operator, an
    internal note and a file; every message is its own fingerprint."""
    messages = []
    for i in range(count):
        kind = i % 4
        message: dict[str, Any] = {
            "session_id": session,
            "website_id": WEBSITE,
            "fingerprint": 10_000 + i,
            "timestamp": START_MS + i * 1_000,
            "origin": "chat",
        }
        if kind == 0:
            message.update({"type": "text", "from": "user", "content": f"question {i}"})
        elif kind == 1:
            message.update({"type": "text", "from": "operator", "content": f"réponse {i}"})
        elif kind == 2:
            message.update({"type": "note", "from": "operator", "content": f"internal note {i}"})
        else:
            message.update(
                {
                    "type": "file",
                    "from": "user",
                    "content": {"name": "a.png", "url": "https://x/a.png", "type": "image/png"},
                }
            )
        messages.append(message)
    return messages


def expected_messages(count: int, first: int = 0) -> list[CrispMessage]:
    result = []
    for i in range(first, count):
        at = datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC) + timedelta(seconds=i)
        if i % 4 == 0:
            result.append(CrispMessage("user", f"question {i}", at))
        elif i % 4 == 1:
            result.append(CrispMessage("support", f"réponse {i}", at))
    return result


def client_for(stub: CrispStub, **kwargs: Any) -> CrispClient:
    return CrispClient(IDENTIFIER, KEY, base_url=stub.url, **kwargs)


def test_messages_are_read_across_pages_in_chronological_order(crisp_stub: CrispStub) -> None:
    crisp_stub.sessions["session_a"] = conversation("session_a", 45)

    messages = client_for(crisp_stub).conversation_messages(WEBSITE, "session_a")

    assert messages == expected_messages(45)
    cursors = [r.query.get("timestamp_before") for r in crisp_stub.requests]
    # 45 messages in pages of 20: [25..44], [5..24], [0..4] (short page: the start of the history).
    assert cursors == [None, [str(START_MS + 25_000)], [str(START_MS + 5_000)]]
    assert {r.path for r in crisp_stub.requests} == {"/v1/website/w-1/conversation/session_a/messages"}


def test_a_history_that_fills_whole_pages_ends_on_an_empty_page(crisp_stub: CrispStub) -> None:
    crisp_stub.sessions["session_b"] = conversation("session_b", 40)

    assert client_for(crisp_stub).conversation_messages(WEBSITE, "session_b") == expected_messages(40)
    assert len(crisp_stub.requests) == 3


def test_an_inclusive_cursor_does_not_duplicate_messages(crisp_stub: CrispStub) -> None:
    crisp_stub.inclusive = True
    crisp_stub.sessions["session_c"] = conversation("session_c", 45)

    assert client_for(crisp_stub).conversation_messages(WEBSITE, "session_c") == expected_messages(45)


def test_a_server_ignoring_the_cursor_does_not_loop(crisp_stub: CrispStub) -> None:
    crisp_stub.ignore_cursor = True
    crisp_stub.sessions["session_d"] = conversation("session_d", 45)

    messages = client_for(crisp_stub).conversation_messages(WEBSITE, "session_d")

    assert messages == expected_messages(45, first=25)
    assert len(crisp_stub.requests) == 2


def test_paging_stops_at_the_page_bound_keeping_the_newest_messages(crisp_stub: CrispStub) -> None:
    crisp_stub.page_size = 10
    crisp_stub.sessions["session_e"] = conversation("session_e", 100)

    messages = client_for(crisp_stub, page_size=10, max_pages=3).conversation_messages(WEBSITE, "session_e")

    assert len(crisp_stub.requests) == 3
    assert messages == expected_messages(100, first=70)


def test_duplicate_fingerprints_and_unusable_items_are_dropped(crisp_stub: CrispStub) -> None:
    base = {"session_id": "session_f", "website_id": WEBSITE, "type": "text", "from": "user"}
    items: list[Any] = [
        {**base, "fingerprint": 1, "timestamp": START_MS, "content": "first"},
        {**base, "fingerprint": 1, "timestamp": START_MS + 1, "content": "first again"},
        {**base, "fingerprint": 2, "timestamp": START_MS + 2, "content": "   "},
        {**base, "fingerprint": 3, "timestamp": START_MS + 3, "content": "from nobody", "from": "system"},
        {**base, "fingerprint": 4, "timestamp": "soon", "content": "no time"},
        {**base, "fingerprint": 5, "timestamp": START_MS + 5, "content": {"text": "not a string"}},
        "not an object",
        {**base, "fingerprint": 6, "timestamp": START_MS + 6, "content": "last", "from": "operator"},
    ]
    crisp_stub.sessions["session_f"] = items

    messages = client_for(crisp_stub).conversation_messages(WEBSITE, "session_f")

    assert [(m.role, m.text) for m in messages] == [("user", "first"), ("support", "last")]


def test_an_empty_conversation_has_no_messages(crisp_stub: CrispStub) -> None:
    crisp_stub.sessions["session_g"] = []
    assert client_for(crisp_stub).conversation_messages(WEBSITE, "session_g") == []
    assert len(crisp_stub.requests) == 1


def test_basic_auth_and_the_tier_header_are_sent(crisp_stub: CrispStub) -> None:
    crisp_stub.sessions["session_h"] = conversation("session_h", 2)
    client_for(crisp_stub).conversation_messages(WEBSITE, "session_h")
    headers = crisp_stub.requests[0].headers
    assert headers["authorization"] == "Basic " + base64.b64encode(b"plugin-identifier:plugin-key").decode()
    assert headers["x-crisp-tier"] == "plugin"

    crisp_stub.tier = "user"
    assert client_for(crisp_stub, tier="user").conversation_messages(WEBSITE, "session_h") == expected_messages(2)
    assert crisp_stub.requests[-1].headers["x-crisp-tier"] == "user"


def test_wrong_credentials_or_tier_raise_an_api_error_without_the_body(crisp_stub: CrispStub) -> None:
    crisp_stub.sessions["session_i"] = conversation("session_i", 2)
    attempts = [
        CrispClient(IDENTIFIER, "wrong-key", base_url=crisp_stub.url),
        CrispClient(IDENTIFIER, KEY, tier="user", base_url=crisp_stub.url),
    ]
    for client in attempts:
        with pytest.raises(CrispApiError) as caught:
            client.conversation_messages(WEBSITE, "session_i")
        assert caught.value.status_code == 401
        assert caught.value.reason == "invalid_session"
        assert not isinstance(caught.value, CrispConversationNotFound)
        assert BODY_MARKER not in str(caught.value)


def test_an_unknown_conversation_raises_not_found(crisp_stub: CrispStub) -> None:
    with pytest.raises(CrispConversationNotFound) as caught:
        client_for(crisp_stub).conversation_messages(WEBSITE, "session_missing")
    assert caught.value.status_code == 404
    assert BODY_MARKER not in str(caught.value)
    assert isinstance(caught.value, CrispApiError)


def test_rate_limiting_raises_a_retryable_api_error(crisp_stub: CrispStub) -> None:
    crisp_stub.statuses["session_busy"] = 429
    with pytest.raises(CrispApiError) as caught:
        client_for(crisp_stub).conversation_messages(WEBSITE, "session_busy")
    assert not isinstance(caught.value, CrispConversationNotFound)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 7
    assert BODY_MARKER not in str(caught.value)


def test_a_server_error_raises_an_api_error(crisp_stub: CrispStub) -> None:
    crisp_stub.statuses["session_down"] = 503
    with pytest.raises(CrispApiError) as caught:
        client_for(crisp_stub).conversation_messages(WEBSITE, "session_down")
    assert caught.value.status_code == 503


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>oops</html>",
        b'{"error": true, "reason": "resolved", "data": []}',
        b'{"error": false, "reason": "resolved", "data": {"messages": []}}',
        b"[]",
    ],
)
def test_a_malformed_answer_raises_an_api_error(crisp_stub: CrispStub, answer: bytes) -> None:
    crisp_stub.raw_answers["session_odd"] = answer
    with pytest.raises(CrispApiError):
        client_for(crisp_stub).conversation_messages(WEBSITE, "session_odd")


def test_an_unreachable_server_raises_an_api_error() -> None:
    stub = CrispStub().start()
    url = stub.url
    stub.stop()
    with pytest.raises(CrispApiError) as caught:
        CrispClient(IDENTIFIER, KEY, base_url=url, timeout=2.0).conversation_messages(WEBSITE, "session_a")
    assert caught.value.status_code is None


def test_ids_are_escaped_in_the_path(crisp_stub: CrispStub) -> None:
    with pytest.raises(CrispConversationNotFound):
        client_for(crisp_stub).conversation_messages(WEBSITE, "../../other?x=1")
    assert crisp_stub.requests[0].path == "/v1/website/w-1/conversation/..%2F..%2Fother%3Fx%3D1/messages"


def test_the_client_refuses_missing_configuration() -> None:
    with pytest.raises(ValueError):
        CrispClient("", KEY)
    with pytest.raises(ValueError):
        CrispClient(IDENTIFIER, "")
    with pytest.raises(ValueError):
        CrispClient(IDENTIFIER, KEY, tier="admin")  # type: ignore[arg-type]
    assert KEY not in repr(CrispClient(IDENTIFIER, KEY))
