"""Conversation API: closing a conversation (which labels it)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.models import Conversation
from apps.conversations.services import conversation_close
from apps.core.permissions import IsAgent


class ConversationCloseApi(APIView):
    permission_classes = [IsAgent]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        closed_at = serializers.DateTimeField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, conversation_id: int, *args: Any, **kwargs: Any) -> Response:
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        closed = conversation_close(conversation=conversation, by=request.user)
        return Response(self.OutputSerializer(closed).data)
