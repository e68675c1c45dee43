"""ASGI entry point: HTTP through Django, WebSockets through Channels (origin-checked, authenticated)."""

import os
import sys

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings.dev")
django_asgi_app = get_asgi_application()  # must run before importing consumers (app registry)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.conversations.origins import SiteAndWidgetOriginValidator  # noqa: E402
from supportdesk.routing import websocket_urlpatterns  # noqa: E402

# The event loop (sockets, channel layer) shares the GIL with the sync thread that renders and queries: with Python's
# 5 ms switch interval, a frame waiting on the loop waits behind up to 5 ms of rendering at each hop.
if settings.ASGI_SWITCH_INTERVAL:
    sys.setswitchinterval(settings.ASGI_SWITCH_INTERVAL)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # ALLOWED_HOSTS for every socket, plus WIDGET_ALLOWED_ORIGINS for /ws/widget/ (apps.conversations.origins).
        "websocket": SiteAndWidgetOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
