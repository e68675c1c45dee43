"""A small client for Crisp's REST API v1: list a conversation's messages.

    GET {base_url}/website/{website_id}/conversation/{session_id}/messages[?timestamp_before=<ms>]
    Authorization: Basic base64("{identifier}:{key}")
    X-Crisp-Tier: plugin | user

The answer is `{"error": false, "reason": "resolved", "data": [message, ...]}`, each message carrying
`from` ("user" | "operator"), `type` ("text", "note", "file", "picker", ...), `content` (a string for
text and note), `timestamp` (Unix milliseconds) and `fingerprint` (an integer id). Without
`timestamp_before` Crisp returns the latest batch; with it, the batch of messages before that time, so the
whole history is read by paging backwards with the oldest timestamp of the previous batch.

Crisp does not document its batch size. `page_size` is our assumption about it and is used only to stop
early: a batch shorter than `page_size` is taken as the start of the history. If Crisp's real batch is
larger, we read one more (empty) batch than needed; it never makes us miss messages as long as
`page_size` is not larger than Crisp's batch. Whether `timestamp_before` is exclusive or inclusive is not
documented either: messages are de-duplicated by fingerprint, and a batch bringing nothing new ends the
paging, so both behaviours are safe.

Errors raise `CrispApiError` (or `CrispConversationNotFound` for 404). Exception messages hold the
status code and at most Crisp's short `reason` token, never a response body or message content; nothing
in this module logs message content.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

import httpx

from apps.integrations.crisp.parsing import CrispMessage, Role

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.crisp.chat/v1"
Tier = Literal["plugin", "user"]

_ROLES: dict[str, Role] = {"user": "user", "operator": "support"}
# Only customer-visible text: notes are internal between operators, files/pickers/events carry no text.
_KEPT_TYPES = frozenset({"text"})
_REASON_RE = re.compile(r"[a-z_]{1,40}")


class CrispApiError(Exception):
    """The Crisp REST API could not be read: transport failure, HTTP error (429 included) or bad answer.

    `status_code` is the HTTP status (None for transport failures and malformed answers), `reason` Crisp's
    short reason token when it sent one, `retry_after` the seconds asked by a `Retry-After` header (429/503)
    or None. The message never contains a response body. A Celery task may retry on it with backoff.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, reason: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason
        self.retry_after = retry_after


class CrispConversationNotFound(CrispApiError):
    """404: the website or the conversation does not exist (or our credentials cannot see it). Do not retry."""


@dataclass(frozen=True, slots=True)
class _Raw:
    """A kept or dropped message from one page, before ordering."""

    timestamp_ms: int
    message: CrispMessage | None


class CrispClient:
    """Reads conversations from Crisp's REST API v1 with HTTP Basic auth `identifier:key`.

    `tier` is sent as `X-Crisp-Tier` ("plugin" for a Marketplace plugin token, "user" for a user token).
    `base_url` is configurable so tests point it at a local stub. `timeout` is per request, in seconds.
    `page_size` and `max_pages` bound the backwards paging (see the module docstring).
    Raises ValueError when the credentials are empty or the tier is unknown.
    """

    def __init__(
        self,
        identifier: str,
        key: str,
        tier: Tier = "plugin",
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        *,
        page_size: int = 20,
        max_pages: int = 50,
    ) -> None:
        if not identifier or not key:
            raise ValueError("Crisp REST API identifier and key are required")
        if tier not in ("plugin", "user"):
            raise ValueError("Crisp tier must be 'plugin' or 'user'")
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be positive")
        self.identifier = identifier
        self._key = key
        self.tier: Tier = tier
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.page_size = page_size
        self.max_pages = max_pages

    def __repr__(self) -> str:  # never show the key
        return f"CrispClient(identifier={self.identifier!r}, tier={self.tier!r}, base_url={self.base_url!r})"

    def conversation_messages(self, website_id: str, session_id: str) -> list[CrispMessage]:
        """All text messages of a conversation, oldest first.

        Pages backwards with `timestamp_before` until Crisp returns an empty or short page, a page brings no
        new message, or `max_pages` pages were read (then the newest messages read so far are returned and
        a warning is logged). Maps `from: user` -> "user" and `operator` -> "support"; keeps only
        `type == "text"` with string content (notes, files and other types are dropped); de-duplicates by
        fingerprint. Timestamps become aware UTC datetimes.

        Raises ValueError for empty ids, CrispConversationNotFound on 404, CrispApiError on any other HTTP
        error (429 included, with `retry_after`), on transport errors and on malformed answers.
        """
        if not website_id or not session_id:
            raise ValueError("website_id and session_id are required")
        url = f"{self.base_url}/website/{quote(website_id, safe='')}/conversation/{quote(session_id, safe='')}/messages"
        pages: list[list[_Raw]] = []
        seen: set[int | str] = set()
        before: int | None = None
        with httpx.Client(
            auth=httpx.BasicAuth(self.identifier, self._key),
            headers={"X-Crisp-Tier": self.tier, "Accept": "application/json"},
            timeout=self.timeout,
        ) as http:
            for _ in range(self.max_pages):
                params = {} if before is None else {"timestamp_before": str(before)}
                batch = self._get_page(http, url, params)
                page: list[_Raw] = []
                for item in batch:
                    raw = self._raw(item, seen)
                    if raw is not None:
                        page.append(raw)
                if page:
                    pages.append(page)
                oldest = min((raw.timestamp_ms for raw in page), default=None)
                if len(batch) < self.page_size or oldest is None or (before is not None and oldest > before):
                    break
                before = oldest
            else:
                logger.warning(
                    "crisp.messages.page_limit",
                    extra={"website_id": website_id, "session_id": session_id, "max_pages": self.max_pages},
                )
        # Pages were read newest first; put them back in order, then a stable sort by time.
        ordered = [raw for page in reversed(pages) for raw in page]
        ordered.sort(key=lambda raw: raw.timestamp_ms)
        return [raw.message for raw in ordered if raw.message is not None]

    def _get_page(self, http: httpx.Client, url: str, params: dict[str, str]) -> list[object]:
        try:
            response = http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise CrispApiError(f"Crisp API request failed ({type(exc).__name__})") from None
        status = response.status_code
        if status >= 400:
            reason = self._reason(response)
            suffix = f", {reason}" if reason else ""
            if status == 404:
                raise CrispConversationNotFound(f"Crisp API: HTTP 404{suffix}", status_code=404, reason=reason)
            raise CrispApiError(
                f"Crisp API: HTTP {status}{suffix}",
                status_code=status,
                reason=reason,
                retry_after=self._retry_after(response),
            )
        try:
            envelope = response.json()
        except ValueError:
            raise CrispApiError("Crisp API: the answer is not JSON", status_code=status) from None
        if not isinstance(envelope, dict) or envelope.get("error") is not False:
            raise CrispApiError("Crisp API: the answer is not a success envelope", status_code=status)
        data = envelope.get("data")
        if not isinstance(data, list):
            raise CrispApiError("Crisp API: the answer's data is not a list", status_code=status)
        return data

    @staticmethod
    def _raw(item: object, seen: set[int | str]) -> _Raw | None:
        """One API message as a `_Raw` (message None when dropped), or None when unusable or already seen.

        A message without a usable timestamp cannot be ordered nor used as a cursor, so it is skipped.
        """
        if not isinstance(item, dict):
            return None
        timestamp = item.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
            return None
        fingerprint = item.get("fingerprint")
        if isinstance(fingerprint, int | str) and not isinstance(fingerprint, bool):
            if fingerprint in seen:
                return None
            seen.add(fingerprint)
        sender = item.get("from")
        role = _ROLES.get(sender) if isinstance(sender, str) else None
        content = item.get("content")
        if role is None or item.get("type") not in _KEPT_TYPES or not isinstance(content, str) or not content.strip():
            return _Raw(timestamp_ms=timestamp, message=None)
        try:
            sent_at: datetime | None = datetime.fromtimestamp(timestamp / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            sent_at = None
        return _Raw(timestamp_ms=timestamp, message=CrispMessage(role=role, text=content, timestamp=sent_at))

    @staticmethod
    def _reason(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        reason = body.get("reason") if isinstance(body, dict) else None
        return reason if isinstance(reason, str) and _REASON_RE.fullmatch(reason) else None

    @staticmethod
    def _retry_after(response: httpx.Response) -> int | None:
        value = response.headers.get("Retry-After", "")
        return int(value) if value.isascii() and value.isdigit() else None
