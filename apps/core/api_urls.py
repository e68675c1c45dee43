"""Every app's API under /api/."""

from django.urls import include, path

from apps.core.api_views import WhoAmIApi

urlpatterns = [
    path("me", WhoAmIApi.as_view(), name="api-me"),
    path("", include("apps.labels.api.urls")),
    path("", include("apps.knowledge.api.urls")),
    path("", include("apps.conversations.api_urls")),
    path("", include("apps.tickets.api_urls")),
    path("", include("apps.contact.api_urls")),
    path("", include("apps.copilot.api.urls")),
]
