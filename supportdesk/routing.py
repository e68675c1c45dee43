"""All WebSocket routes, gathered from each app's routing module."""

from apps.console.routing import websocket_urlpatterns as console_ws
from apps.conversations.routing import websocket_urlpatterns as conversations_ws

websocket_urlpatterns = [*console_ws, *conversations_ws]
