"""Crisp web hook: a closed conversation in, a labeling job queued (SPEC §5.1, §10).

Answers: 202 queued, 200 duplicate or ignored, 400 malformed, 401 no credentials, 403 wrong credentials,
413 too large. A rejected request queues nothing and stores nothing.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.integrations.crisp.parsing import Ignored, parse_webhook
from apps.integrations.crisp.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    crisp_signature_verify,
    website_key_verify,
)
from apps.labels.services import imported_conversation_intake

logger = logging.getLogger(__name__)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def _authenticate(request: HttpRequest, body: bytes) -> JsonResponse | None:
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is not None:
        ok = crisp_signature_verify(
            secret=settings.CRISP_PLUGIN_SECRET,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=signature,
            body=body,
        )
        return (
            None
            if ok
            else _error(403, "bad_signature", "The X-Crisp-Signature does not match, or the request is too old.")
        )
    key = request.GET.get("key")
    if key is None:
        return _error(
            401, "unauthenticated", "Add ?key=<CRISP_WEBHOOK_KEY> to the hook URL, or sign it as a plugin hook."
        )
    if not website_key_verify(settings.CRISP_WEBHOOK_KEY, key):
        return _error(403, "bad_key", "The ?key= secret is wrong (or CRISP_WEBHOOK_KEY is not configured).")
    return None


@csrf_exempt  # authenticated by its secret or signature, not by a session
@require_POST
def crisp_conversation_closed(request: HttpRequest) -> JsonResponse:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.WEBHOOK_MAX_BYTES
    if declared.isdigit() and int(declared) > limit:
        return _error(413, "too_large", f"The body is larger than {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, "too_large", f"The body is larger than {limit} bytes.")
    denied = _authenticate(request, body)
    if denied is not None:
        logger.warning("crisp webhook: refused", extra={"status": denied.status_code})
        return denied
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "The body is not valid JSON.")
    try:
        parsed = parse_webhook(data, allow_fetch=bool(settings.CRISP_IDENTIFIER and settings.CRISP_KEY))
    except ApplicationError as exc:
        return _error(400, exc.code, exc.detail)
    if isinstance(parsed, Ignored):
        return JsonResponse({"status": "ignored", "event": parsed.event})
    messages = [(m.role, m.text) for m in parsed.messages] if parsed.messages else None
    if messages is None and not (settings.CRISP_IDENTIFIER and settings.CRISP_KEY):
        return _error(400, "messages_required", "No messages in the hook and no Crisp API credentials to fetch them.")
    try:
        result = imported_conversation_intake(
            external_id=parsed.conversation_id, messages=messages, website_id=parsed.website_id
        )
    except ApplicationError as exc:
        return _error(409, exc.code, exc.detail)
    if result.status == "duplicate":
        return JsonResponse({"status": "duplicate", "conversation_id": result.conversation.pk})
    assert result.job is not None
    return JsonResponse(
        {"status": "queued", "conversation_id": result.conversation.pk, "job_id": result.job.task_id}, status=202
    )
