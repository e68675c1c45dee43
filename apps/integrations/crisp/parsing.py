"""Parsing of the conversation-closed web hook (SPEC §5.1) into one typed result.

Two body forms are accepted on `POST /webhooks/crisp/conversation.closed`:

* **Minimal** (our own format)::

    {"conversation_id": "abc", "website_id"?: "...",
     "messages": [{"role": "user" | "support", "text": "...", "timestamp"?: 1717000000 | "2024-05-29T16:26:40Z"}]}

* **Crisp envelope** (a real website or plugin hook)::

    {"website_id": "...", "event": "session:set_state",
     "data": {"website_id": "...", "session_id": "session_...", "state": "resolved"}, "timestamp": 1717000000000}

  `session:set_state` with `state == "resolved"` is a closed conversation whose messages must be fetched
  from the REST API (`messages=None`). Any other event or state is `Ignored`.

A body is recognised as a Crisp envelope when it has an `"event"` key. Validation is strict on the fields
we use and ignores unknown keys. Errors raise `WebhookPayloadError`, whose `detail` names the offending
field (never its value, and never message text), for the view to return as a 400 JSON error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from apps.core.exceptions import ApplicationError

Role = Literal["user", "support"]

ROLES: tuple[Role, ...] = ("user", "support")
MAX_ID_CHARS = 200  # Conversation.external_id is a CharField(max_length=200)
MAX_MESSAGES = 2_000
MAX_TEXT_CHARS = 20_000
MAX_EVENT_CHARS = 100
CLOSED_EVENT = "session:set_state"
CLOSED_STATE = "resolved"

# Numeric timestamps at or above this are milliseconds (10**11 s is the year 5138, 10**11 ms is 1973).
_MILLISECONDS_THRESHOLD = 10**11
_MAX_TIMESTAMP_STRING = 64


class WebhookPayloadError(ApplicationError, ValueError):
    """The web hook body is not an accepted form. `detail` is safe to return to the caller and to log."""

    code = "invalid_payload"


@dataclass(frozen=True, slots=True)
class CrispMessage:
    """One message of a conversation. `timestamp` is timezone-aware (UTC) or None when unknown."""

    role: Role
    text: str
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class ClosedConversation:
    """A conversation that was closed on Crisp.

    `conversation_id` is the Crisp session id (or the caller's id in the minimal form). `messages` is the
    conversation in the order received, or None when it must be fetched from the REST API
    (`CrispClient.conversation_messages(website_id, conversation_id)`); it is never an empty list.
    `website_id` is always set for the Crisp envelope and optional in the minimal form.
    """

    conversation_id: str
    website_id: str | None
    messages: list[CrispMessage] | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid Crisp hook that is not a closed conversation (other event, or a state other than resolved).

    `event` is the event name, cut to 100 characters; the view answers 200 `{"status": "ignored"}`.
    """

    event: str


def parse_webhook(data: object, *, allow_fetch: bool) -> ClosedConversation | Ignored:
    """Validate a decoded JSON body and return what it means.

    `allow_fetch` says whether the caller can fetch messages from the Crisp REST API (credentials
    configured). When False, a minimal payload without messages is an error; a resolved Crisp envelope is
    still returned with `messages=None` and the caller decides what to do with it.

    Raises WebhookPayloadError for: a body that is not an object; a missing, non-string, blank or too long
    (> 200 chars) id; `messages` that is not a list, holds more than 2,000 items, or is empty/missing while
    `allow_fetch` is False; a message that is not an object, has an unknown role, a non-string or too long
    (> 20,000 chars) text, or an unreadable timestamp; a Crisp envelope whose `event`, `data`, `state`,
    `session_id` or `website_id` has the wrong type.
    """
    if not isinstance(data, dict):
        raise WebhookPayloadError("the body must be a JSON object")
    if "event" in data:
        return _parse_crisp_event(data)
    return _parse_minimal(data, allow_fetch=allow_fetch)


def _parse_crisp_event(data: dict[str, object]) -> ClosedConversation | Ignored:
    event = data["event"]
    if not isinstance(event, str) or not event.strip():
        raise WebhookPayloadError("event must be a non-empty string")
    if event != CLOSED_EVENT:
        return Ignored(event=event[:MAX_EVENT_CHARS])
    payload = data.get("data")
    if not isinstance(payload, dict):
        raise WebhookPayloadError("data must be an object")
    state = payload.get("state")
    if not isinstance(state, str):
        raise WebhookPayloadError("data.state must be a string")
    if state != CLOSED_STATE:
        return Ignored(event=event)
    session_id = _identifier(payload.get("session_id"), "data.session_id")
    # Crisp repeats website_id in the envelope and in data; either is enough, but they must agree.
    inner, outer = payload.get("website_id"), data.get("website_id")
    if inner is None and outer is None:
        raise WebhookPayloadError("website_id is required")
    inner_id = None if inner is None else _identifier(inner, "data.website_id")
    outer_id = None if outer is None else _identifier(outer, "website_id")
    if inner_id is not None and outer_id is not None and inner_id != outer_id:
        raise WebhookPayloadError("website_id and data.website_id differ")
    website_id = inner_id or outer_id
    return ClosedConversation(conversation_id=session_id, website_id=website_id, messages=None)


def _parse_minimal(data: dict[str, object], *, allow_fetch: bool) -> ClosedConversation:
    conversation_id = _identifier(data.get("conversation_id"), "conversation_id")
    raw_website = data.get("website_id")
    website_id = None if raw_website is None else _identifier(raw_website, "website_id")
    raw_messages = data.get("messages")
    if raw_messages is None or raw_messages == []:
        if not allow_fetch:
            raise WebhookPayloadError("messages must be a non-empty list")
        return ClosedConversation(conversation_id=conversation_id, website_id=website_id, messages=None)
    if not isinstance(raw_messages, list):
        raise WebhookPayloadError("messages must be a list")
    if len(raw_messages) > MAX_MESSAGES:
        raise WebhookPayloadError(f"messages holds more than {MAX_MESSAGES} items")
    messages = [_message(item, index) for index, item in enumerate(raw_messages)]
    return ClosedConversation(conversation_id=conversation_id, website_id=website_id, messages=messages)


def _identifier(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise WebhookPayloadError(f"{field} must be a string")
    if not value.strip():
        raise WebhookPayloadError(f"{field} must not be blank")
    if len(value) > MAX_ID_CHARS:
        raise WebhookPayloadError(f"{field} is longer than {MAX_ID_CHARS} characters")
    return value


def _message(item: object, index: int) -> CrispMessage:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise WebhookPayloadError(f"{where} must be an object")
    role = item.get("role")
    if role == "user":
        checked_role: Role = "user"
    elif role == "support":
        checked_role = "support"
    else:
        raise WebhookPayloadError(f"{where}.role must be 'user' or 'support'")
    text = item.get("text")
    if not isinstance(text, str):
        raise WebhookPayloadError(f"{where}.text must be a string")
    if len(text) > MAX_TEXT_CHARS:
        raise WebhookPayloadError(f"{where}.text is longer than {MAX_TEXT_CHARS} characters")
    timestamp = _timestamp(item.get("timestamp"), f"{where}.timestamp")
    return CrispMessage(role=checked_role, text=text, timestamp=timestamp)


def _timestamp(value: object, field: str) -> datetime | None:
    """None, a Unix time in seconds or milliseconds (int/float), or an ISO-8601 string -> aware UTC datetime.

    Naive ISO strings are read as UTC. Booleans, negative, non-finite or out-of-range values are errors.
    """
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int subclass; `true` is not a time
        raise WebhookPayloadError(f"{field} must be a number or an ISO-8601 string")
    if isinstance(value, int | float):
        return _from_unix(value, field)
    if isinstance(value, str):
        if len(value) > _MAX_TIMESTAMP_STRING:
            raise WebhookPayloadError(f"{field} is not an ISO-8601 date")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise WebhookPayloadError(f"{field} is not an ISO-8601 date") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise WebhookPayloadError(f"{field} must be a number or an ISO-8601 string")


def _from_unix(value: float, field: str) -> datetime:
    if not math.isfinite(value) or value < 0:
        raise WebhookPayloadError(f"{field} is out of range")
    seconds = value / 1000 if value >= _MILLISECONDS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookPayloadError(f"{field} is out of range") from None
