"""Labels API (SPEC §5): a conversation's labels, top labels of a month, monthly trends."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.models import Conversation
from apps.core.permissions import IsAgent
from apps.labels import selectors


class ConversationLabelsApi(APIView):
    permission_classes = [IsAgent]

    # "label" would shadow Field.label on a declared Serializer class: the schema is declared inline.
    Output = inline_serializer(
        name="ConversationLabel",
        fields={
            "label": serializers.CharField(),
            "canonical": serializers.CharField(help_text="The approved label it counts for"),
            "status": serializers.ChoiceField(choices=["approved", "proposed", "rejected"]),
        },
        many=True,
    )

    @extend_schema(responses=Output)
    def get(self, request: Request, conversation_id: int, *args: Any, **kwargs: Any) -> Response:
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        rows = selectors.labels_for_conversation(conversation.pk)
        return Response([{"label": r.label, "canonical": r.canonical, "status": r.status} for r in rows])


class LabelTopApi(APIView):
    permission_classes = [IsAgent]

    class InputSerializer(serializers.Serializer):
        month = serializers.RegexField(
            r"^\d{4}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM, default: this month"
        )
        limit = serializers.IntegerField(min_value=1, max_value=100, default=10)

    Output = inline_serializer(
        name="LabelCount", fields={"label": serializers.CharField(), "count": serializers.IntegerField()}, many=True
    )

    @extend_schema(
        parameters=[OpenApiParameter("month", str, description="YYYY-MM"), OpenApiParameter("limit", int)],
        responses=Output,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        raw = params.validated_data.get("month")
        month = date(int(raw[:4]), int(raw[5:7]), 1) if raw else timezone.localdate().replace(day=1)
        rows = selectors.label_top_for_month(month, params.validated_data["limit"])
        return Response([{"label": name, "count": n} for name, n in rows])


class LabelTrendsApi(APIView):
    permission_classes = [IsAgent]

    class InputSerializer(serializers.Serializer):
        months = serializers.IntegerField(min_value=1, max_value=36, default=6)
        limit = serializers.IntegerField(min_value=1, max_value=50, default=10)

    Output = inline_serializer(
        name="LabelTrend",
        fields={
            "month": serializers.CharField(help_text="YYYY-MM"),
            "label": serializers.CharField(),
            "count": serializers.IntegerField(),
        },
        many=True,
    )

    @extend_schema(parameters=[OpenApiParameter("months", int), OpenApiParameter("limit", int)], responses=Output)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = selectors.label_trends(
            timezone.localdate(), params.validated_data["months"], params.validated_data["limit"]
        )
        return Response([{"month": f"{m:%Y-%m}", "label": name, "count": n} for m, name, n in rows])
