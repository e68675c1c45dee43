"""Crisp platform pieces: webhook authentication, webhook payload parsing and the REST API client.

This package is a library: it knows Crisp's formats and nothing about our models. The webhook view and
the labeling task call it and turn its results into calls of our services.

    from apps.integrations.crisp import (
        crisp_signature_verify, website_key_verify,            # authentication (signature.py)
        parse_webhook, ClosedConversation, Ignored,            # payloads (parsing.py)
        CrispMessage, WebhookPayloadError,
        CrispClient, CrispApiError, CrispConversationNotFound,  # REST API (client.py)
    )
"""

from apps.integrations.crisp.client import CrispApiError, CrispClient, CrispConversationNotFound
from apps.integrations.crisp.parsing import (
    ClosedConversation,
    CrispMessage,
    Ignored,
    WebhookPayloadError,
    parse_webhook,
)
from apps.integrations.crisp.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    crisp_signature,
    crisp_signature_verify,
    website_key_verify,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ClosedConversation",
    "CrispApiError",
    "CrispClient",
    "CrispConversationNotFound",
    "CrispMessage",
    "Ignored",
    "WebhookPayloadError",
    "crisp_signature",
    "crisp_signature_verify",
    "parse_webhook",
    "website_key_verify",
]
