"""Authentication of Crisp web hooks.

Two mechanisms exist (SPEC §5, §10):

* **Website hooks** carry no signature. Crisp recommends appending a secret to the endpoint URL
  (`?key=SECRET`); `website_key_verify` compares it in constant time.
* **Plugin hooks** carry `X-Crisp-Request-Timestamp` and `X-Crisp-Signature`. The signature is the
  lowercase hex HMAC-SHA256, keyed with the plugin's signing secret, of the string
  `[{timestamp};{body}]` (square brackets and semicolon included).

Where the sources disagree: Crisp's Web Hooks reference and its official Node library build `{body}` by
re-serialising the parsed JSON (`JSON.stringify(body)`). SPEC §10 says `[timestamp;json]` over the
request as received, and we follow the SPEC: the HMAC is computed over the RAW body bytes, decoded as
UTF-8 exactly as received, never over re-serialised JSON. Crisp posts compact JSON, which is what
`JSON.stringify` produces, so both readings agree on real deliveries; ours additionally never depends on
how a JSON library orders keys or escapes characters.

Crisp does not document the unit of `X-Crisp-Request-Timestamp`; its event timestamps are Unix
milliseconds. `crisp_signature_verify` therefore accepts both: a value >= 10**11 is read as milliseconds
(10**11 seconds is the year 5138, 10**11 milliseconds is 1973), anything smaller as seconds. The value is
signed as the header text, so the unit only matters for the replay window.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "X-Crisp-Signature"
TIMESTAMP_HEADER = "X-Crisp-Request-Timestamp"

# Timestamps at or above this are milliseconds (see the module docstring).
_MILLISECONDS_THRESHOLD = 10**11
# ASCII digits only (str.isdigit would accept "²" and other Unicode digits); 16 digits cover ms until 2286+.
_TIMESTAMP_RE = re.compile(r"[0-9]{1,16}")


def crisp_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the lowercase hex HMAC-SHA256 of `[{timestamp};{body}]` keyed with `secret`.

    `body` is the raw request body; it is decoded as UTF-8 exactly as received (never re-serialised).
    Raises UnicodeDecodeError (a ValueError) when `body` is not valid UTF-8.
    """
    message = f"[{timestamp};{body.decode('utf-8')}]"
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _timestamp_seconds(timestamp: str) -> float | None:
    """The header value as Unix seconds, or None when it is not a plain non-negative integer."""
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        return None
    value = int(timestamp)
    return value / 1000 if value >= _MILLISECONDS_THRESHOLD else float(value)


def crisp_signature_verify(
    *,
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    max_age_s: int = 300,
    now: float | None = None,
) -> bool:
    """True only when a plugin hook's signature is valid and its timestamp is fresh.

    Pass the raw header values (`X-Crisp-Request-Timestamp`, `X-Crisp-Signature`) and the raw body.
    Returns False, never raises, when: the secret is empty; a header is missing or empty; the timestamp is
    not a plain integer (seconds or milliseconds, see the module docstring); it lies more than `max_age_s`
    seconds before or after `now` (replay protection; `now` defaults to `time.time()`); the body is not
    valid UTF-8; or the signature does not match. The signature is compared in constant time and
    case-insensitively (it is hex).
    """
    if not secret or not timestamp or not signature:
        return False
    sent_at = _timestamp_seconds(timestamp)
    if sent_at is None:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > max_age_s:
        return False
    try:
        expected = crisp_signature(secret, timestamp, body)
    except UnicodeDecodeError:
        return False
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str, and the header is attacker-controlled.
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8"))


def website_key_verify(expected: str, given: str | None) -> bool:
    """True when the `?key=` secret of a website hook equals the configured one (constant-time compare).

    An empty configured key is always False, so an unconfigured secret can never be matched by an empty
    or missing parameter.
    """
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
