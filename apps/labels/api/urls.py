from django.urls import path

from apps.conversations.api import ConversationCloseApi
from apps.labels.api.views import ConversationLabelsApi, LabelTopApi, LabelTrendsApi

urlpatterns = [
    path("conversations/<int:conversation_id>/close", ConversationCloseApi.as_view(), name="api-conversation-close"),
    path("conversations/<int:conversation_id>/labels", ConversationLabelsApi.as_view(), name="api-conversation-labels"),
    path("stats/labels/top", LabelTopApi.as_view(), name="api-label-top"),
    path("stats/labels/trends", LabelTrendsApi.as_view(), name="api-label-trends"),
]
