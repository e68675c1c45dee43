from typing import Any

from django.conf import settings
from django.http import HttpRequest


def product(request: HttpRequest) -> dict[str, Any]:
    """What every page shows about the running product (the "offline AI" badge, SPEC §4)."""
    return {
        "OFFLINE_AI": settings.LLM_PROVIDER == "local",
        "LLM_PROVIDER": settings.LLM_PROVIDER,
        "LLM_MODEL": settings.LLM_MODEL,
    }
