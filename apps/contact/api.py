"""The contact form's JSON twin, `POST /api/contact` (public, no CSRF, CORS for WIDGET_ALLOWED_ORIGINS)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.contact.services import MESSAGE_MAX, contact_request_submit
from apps.conversations.api import WidgetCorsMixin
from apps.core.clientip import request_client_ip
from apps.core.exceptions import ApplicationError


class ContactRequestCreateApi(WidgetCorsMixin, APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="ContactRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        phone = serializers.CharField(max_length=40)
        email = serializers.CharField(required=False, allow_blank=True, default="", max_length=254)
        message = serializers.CharField(max_length=MESSAGE_MAX)

    @extend_schema_serializer(component_name="ContactRequestCreated")
    class OutputSerializer(serializers.Serializer):
        ticket_id = serializers.IntegerField()
        conversation_id = serializers.IntegerField()
        token = serializers.CharField(help_text="visitor token for /ws/widget/")
        context_token = serializers.CharField(help_text="for the widget's data-context-token")

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, auth=[])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = contact_request_submit(**data.validated_data, client_ip=request_client_ip(request))
        except ApplicationError as exc:
            if "fields" in exc.extra:
                raise ValidationError({k: [v] for k, v in exc.extra["fields"].items()}) from exc
            raise
        out = {
            "ticket_id": result.ticket.pk,
            "conversation_id": result.conversation.pk,
            "token": result.visitor_token,
            "context_token": result.context_token,
        }
        return Response(self.OutputSerializer(out).data, status=201)
