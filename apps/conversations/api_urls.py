"""The widget's public API (SPEC §6), under /api/."""

from django.urls import path

from apps.conversations.api import WidgetSessionCreateApi

urlpatterns = [
    path("widget/sessions", WidgetSessionCreateApi.as_view(), name="api-widget-sessions"),
]
