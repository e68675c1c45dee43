from django.urls import path

from apps.console import consumers

websocket_urlpatterns = [
    path("ws/console/", consumers.ConsoleConsumer.as_asgi()),
]
