"""WebSocket origin checks (SPEC §12): every socket accepts the site's own hosts (ALLOWED_HOSTS); the widget's
socket also accepts the sites that embed it (WIDGET_ALLOWED_ORIGINS)."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings

WIDGET_PATH_PREFIX = "/ws/widget/"


def _site_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


class SiteAndWidgetOriginValidator:
    """Wraps the whole WebSocket application; picks the allowed origins by path, read from settings per connection
    (so a settings change in tests or a reload applies without rebuilding the router)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        allowed = _site_hosts()
        if str(scope.get("path", "")).startswith(WIDGET_PATH_PREFIX):
            allowed += list(settings.WIDGET_ALLOWED_ORIGINS)
        return await OriginValidator(self.application, allowed)(scope, receive, send)
