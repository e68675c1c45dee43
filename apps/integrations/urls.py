from django.urls import path

from apps.integrations.crisp.views import crisp_conversation_closed

urlpatterns = [
    path("crisp/conversation.closed", crisp_conversation_closed, name="crisp-conversation-closed"),
]
