"""All WebSocket routes, gathered from each app's routing module."""

from apps.conversations.routing import websocket_urlpatterns as conversations_ws

websocket_urlpatterns = [*conversations_ws]
