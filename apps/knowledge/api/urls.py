from django.urls import path

from apps.knowledge.api.views import KnowledgeSearchApi

urlpatterns = [path("knowledge/search", KnowledgeSearchApi.as_view(), name="api-knowledge-search")]
