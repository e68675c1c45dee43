from django.urls import path

from apps.copilot.api.views import CopilotBatchApi, CopilotSuggestApi

urlpatterns = [
    path("copilot/suggest", CopilotSuggestApi.as_view(), name="api-copilot-suggest"),
    path("copilot/batch", CopilotBatchApi.as_view(), name="api-copilot-batch"),
]
