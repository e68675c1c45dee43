from django.urls import path

from apps.conversations import widget_consumer

websocket_urlpatterns = [
    path("ws/widget/", widget_consumer.WidgetConsumer.as_asgi()),
]
