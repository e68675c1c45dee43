"""Content-Security-Policy for every HTML page we serve (SPEC §12).

Scripts only from our own origin (no inline script, no eval: the console, the widget, the admin and the API docs
load theirs from /static/); connections to our own origin over HTTP(S) and WebSocket; pages framed by our own
origin only, except the widget's pages (/widget/), which the sites in WIDGET_ALLOWED_ORIGINS may frame. The widget
itself runs inside customers' pages, whose policy is theirs: what limits it there is CORS and the socket's origin
check, on the same WIDGET_ALLOWED_ORIGINS. Styles allow inline attributes (htmx's indicator style, the widget's
shadow DOM, Swagger UI). ``CSP_ENABLED=False`` turns it off (for a reverse proxy that sets its own).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def policy_for(request: HttpRequest) -> str:
    host = request.get_host()
    ancestors = "'self'"
    if request.path.startswith("/widget/") and settings.WIDGET_ALLOWED_ORIGINS:
        ancestors = " ".join(["'self'", *settings.WIDGET_ALLOWED_ORIGINS])
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        f"connect-src 'self' ws://{host} wss://{host}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
    ]
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Adds the policy to HTML responses that do not carry one already."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.CSP_ENABLED and HEADER not in response and response.get("Content-Type", "").startswith("text/html"):
            response[HEADER] = policy_for(request)
        return response
