from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

SEED = {
    "conversation_id": "crisp-seed-1",
    "messages": [
        {"role": "user", "text": "Bonjour, je n'arrive pas à payer ma commande", "timestamp": 1700000000},
        {"role": "support", "text": "Quel message d'erreur voyez-vous ?", "timestamp": 1700000060},
        {
            "role": "user",
            "text": "Le paiement est refusé à chaque fois, ma commande reste bloquée.",
            "timestamp": 1700000120,
        },
    ],
}
WEBHOOK_KEY = "test-webhook-key-123"


@pytest.fixture
def webhook_key(settings: Any) -> str:
    settings.CRISP_WEBHOOK_KEY = WEBHOOK_KEY
    return WEBHOOK_KEY


@pytest.fixture
def post_webhook(client: Client, webhook_key: str) -> Callable[..., Any]:
    def post(payload: Any, *, key: str | None = WEBHOOK_KEY, raw: bytes | None = None, **headers: str) -> Any:
        url = "/webhooks/crisp/conversation.closed" + (f"?key={key}" if key is not None else "")
        body = raw if raw is not None else json.dumps(payload).encode()
        return client.post(url, data=body, content_type="application/json", **headers)

    return post


@pytest.fixture
def pending_keys() -> Iterator[Callable[[], set[bytes]]]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)

    def keys() -> set[bytes]:
        return set(client.scan_iter("supportdesk:labels:pending:*"))

    for key in keys():
        client.delete(key)
    yield keys
    client.close()
