"""WebSocket routes of apps.conversations (the console's socket is routed by apps.console.routing)."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
