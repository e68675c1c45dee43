"""Copilot REST API (SPEC §7): the same suggestion service as the console, for other tools. Agents only (session or
token auth); synchronous (the stream is read to its end); 400 on invalid input, 404 for an unknown conversation,
503 ``{"error": "copilot_unavailable"}`` when the model is unavailable."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.models import Conversation
from apps.copilot import services
from apps.copilot.types import EMOTIONS, SENTIMENTS, ContextMessage, OutputSuggestion
from apps.core.exceptions import NotFound
from apps.core.permissions import IsAgent

TEXT_MAX_CHARS = 20_000


class _TextField(serializers.CharField):
    """A JSON string only (DRF's CharField would turn 42 or true into text)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class InputMessageSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField(
        required=False, min_value=1, help_text="a stored conversation whose history comes before this message"
    )
    text = _TextField(max_length=TEXT_MAX_CHARS, help_text="non-empty")
    speaker = serializers.ChoiceField(choices=["client", "agent"])
    sentiment = serializers.ChoiceField(choices=list(SENTIMENTS), required=False)
    emotion = serializers.ChoiceField(choices=list(EMOTIONS), required=False)
    language = serializers.ChoiceField(choices=["fr", "en"], required=False, help_text="detected when absent")


class BatchInputSerializer(serializers.Serializer):
    messages = InputMessageSerializer(many=True, help_text="1-100 messages, in conversation order")

    def validate_messages(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = settings.COPILOT_BATCH_MAX
        if not 1 <= len(value) <= limit:
            raise serializers.ValidationError(f"Give between 1 and {limit} messages.")
        ids = {m["conversation_id"] for m in value if "conversation_id" in m}
        if len(ids) > 1:
            raise serializers.ValidationError("The messages of a batch are one conversation: one conversation_id.")
        return value


class CitationSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField()
    chunk_id = serializers.IntegerField()


class ReplySerializer(serializers.Serializer):
    text = serializers.CharField()
    citations = CitationSerializer(many=True)


class OutputSuggestionSerializer(serializers.Serializer):
    replies = ReplySerializer(many=True, help_text="2-3 variants unless silent (then none)")
    questions = serializers.ListField(child=serializers.CharField())
    signals_detected = serializers.ListField(child=serializers.CharField())
    recommended_direction = serializers.CharField(allow_blank=True)
    priority = serializers.ChoiceField(choices=["low", "medium", "high", "critical"])
    confidence = serializers.FloatField(min_value=0, max_value=1)
    next_best_actions = serializers.ListField(child=serializers.CharField())
    sentiment_trend = serializers.ChoiceField(choices=["improving", "declining", "stable"])
    silent = serializers.BooleanField(help_text="true: no confident suggestion (no replies)")


_ERRORS = {
    400: OpenApiResponse(description='invalid input: {"error": "invalid", "detail": {...}}'),
    403: OpenApiResponse(description="not an agent"),
    404: OpenApiResponse(description="unknown conversation_id"),
    503: OpenApiResponse(description='{"error": "copilot_unavailable"}: the model is unavailable'),
}


def _context_message(data: dict[str, Any]) -> ContextMessage:
    return ContextMessage(
        speaker=data["speaker"], text=data["text"], sentiment=data.get("sentiment"), emotion=data.get("emotion")
    )


def _conversation(messages: list[dict[str, Any]]) -> Conversation | None:
    conversation_id = next((m["conversation_id"] for m in messages if "conversation_id" in m), None)
    if conversation_id is None:
        return None
    conversation = Conversation.objects.select_related("contact").filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} does not exist.")
    return conversation


def _suggestions(messages: list[dict[str, Any]]) -> list[OutputSuggestion]:
    return services.suggestions_for_messages(
        messages=[_context_message(m) for m in messages],
        conversation=_conversation(messages),
        languages=[m.get("language") for m in messages],
    )


class CopilotSuggestApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Suggest replies for one message",
        description="The copilot's suggestion after `text` (after the stored conversation's history when "
        "`conversation_id` is given). Synchronous.",
        request=InputMessageSerializer,
        responses={200: OutputSuggestionSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "A customer's question",
                value={"text": "Comment résilier mon abonnement ?", "speaker": "client", "language": "fr"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = InputMessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        (suggestion,) = _suggestions([data.validated_data])
        return Response(suggestion.as_dict())


class CopilotBatchApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema(
        summary="Suggest after each message of a conversation",
        description="One suggestion per message, analysed in order as one conversation: each message's context is "
        "the previous ones. 1-100 messages.",
        request=BatchInputSerializer,
        responses={200: OutputSuggestionSerializer(many=True), **_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = BatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response([s.as_dict() for s in _suggestions(data.validated_data["messages"])])
