"""Signed tokens of the widget (SPEC §6, §12).

- The visitor token names one conversation and that conversation's secret nonce. It is signed with SECRET_KEY
  under its own salt and time-stamped (WIDGET_TOKEN_MAX_AGE), so a changed token fails the signature check and a
  valid token can never name another conversation: the nonce it carries must match the conversation's.
- The context token carries what a page knows about the visitor before the chat starts (the /contact/ form's
  ticket), under another salt (WIDGET_CONTEXT_MAX_AGE), so neither kind of token can stand in for the other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from apps.core.exceptions import ApplicationError

VISITOR_SALT = "supportdesk.widget.visitor"
CONTEXT_SALT = "supportdesk.widget.context"


class InvalidToken(ApplicationError):
    status_code = 401
    code = "invalid_token"


@dataclass(frozen=True)
class VisitorClaim:
    conversation_id: int
    nonce: str


def visitor_nonce_new() -> str:
    return secrets.token_urlsafe(16)


def visitor_token_make(*, conversation_id: int, nonce: str) -> str:
    return signing.dumps({"c": conversation_id, "n": nonce}, salt=VISITOR_SALT)


def visitor_token_read(token: str) -> VisitorClaim:
    """Raises InvalidToken when the token is missing, changed, expired or not a visitor token."""
    if not token or not isinstance(token, str) or len(token) > 512:
        raise InvalidToken("A visitor token is required.")
    try:
        data = signing.loads(token, salt=VISITOR_SALT, max_age=settings.WIDGET_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidToken("This visitor token has expired; start a new session.", code="expired_token") from exc
    except signing.BadSignature as exc:
        raise InvalidToken("This visitor token is not valid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("n"), str):
        raise InvalidToken("This visitor token is not valid.")
    return VisitorClaim(conversation_id=data["c"], nonce=data["n"])


def context_token_make(*, ticket_id: int) -> str:
    return signing.dumps({"t": ticket_id}, salt=CONTEXT_SALT)


def context_token_read(token: str) -> int:
    """The ticket id a context token carries. Raises ApplicationError (400, code ``invalid_context``): it is a
    field of a request body, not the request's credential."""
    error = ApplicationError("This context token is not valid or has expired.", code="invalid_context")
    if not isinstance(token, str) or len(token) > 512:
        raise error
    try:
        data = signing.loads(token, salt=CONTEXT_SALT, max_age=settings.WIDGET_CONTEXT_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a BadSignature
        raise error from exc
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        raise error
    return int(data["t"])
