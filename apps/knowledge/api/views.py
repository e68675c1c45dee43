"""Knowledge search API (SPEC §9)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import IsAgent
from apps.knowledge.selectors import knowledge_search


class KnowledgeSearchApi(APIView):
    """Hybrid search over the knowledge base: what the bot and the copilot retrieve, with citations."""

    permission_classes = [IsAgent]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=1000, trim_whitespace=True, allow_blank=False)
        k = serializers.IntegerField(min_value=1, max_value=50, default=5)
        category = serializers.CharField(max_length=80, required=False)
        tag = serializers.CharField(max_length=80, required=False)

    Output = inline_serializer(
        name="KnowledgeSearchResults",
        fields={
            "results": inline_serializer(
                name="KnowledgeHit",
                many=True,
                fields={
                    "text": serializers.CharField(),
                    "score": serializers.FloatField(help_text="Reciprocal rank fusion score"),
                    "similarity": serializers.FloatField(allow_null=True, help_text="Cosine similarity"),
                    "chunk_id": serializers.IntegerField(),
                    "document": inline_serializer(
                        name="KnowledgeDocumentRef",
                        fields={
                            "id": serializers.IntegerField(),
                            "title": serializers.CharField(),
                            "section": serializers.CharField(),
                            "source": serializers.CharField(),
                            "url": serializers.CharField(),
                        },
                    ),
                },
            ),
            "timings_ms": serializers.DictField(child=serializers.FloatField()),
        },
    )

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("k", int),
            OpenApiParameter("category", str),
            OpenApiParameter("tag", str),
        ],
        responses=Output,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        result = knowledge_search(data["q"], k=data["k"], category=data.get("category"), tag=data.get("tag"))
        return Response(
            {
                "results": [
                    {
                        "text": hit.text,
                        "score": hit.score,
                        "similarity": hit.similarity,
                        "chunk_id": hit.chunk_id,
                        "document": hit.document.__dict__,
                    }
                    for hit in result.hits
                ],
                "timings_ms": result.timings_ms,
            }
        )
