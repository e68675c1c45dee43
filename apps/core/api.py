"""DRF glue: every API error is JSON `{"error": code, "detail": ...}` with a 4xx status, never a 500 page."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.exceptions import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        headers = {}
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return Response({"error": exc.code, "detail": exc.detail, **exc.extra}, status=exc.status_code, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        code = getattr(exc, "default_code", "invalid")
        detail = response.data.get("detail", response.data)
        response.data = {"error": code, "detail": detail}
    elif response is not None and isinstance(response.data, list):
        response.data = {"error": "invalid", "detail": response.data}
    return response
