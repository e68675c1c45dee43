"""Conversation API: closing a conversation (which labels it); the widget's public session endpoint."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations.models import Conversation
from apps.conversations.services import conversation_close, widget_session_create
from apps.conversations.validators import NAME_MAX, email_normalize, name_normalize, phone_normalize
from apps.core import ratelimit
from apps.core.clientip import request_client_ip
from apps.core.exceptions import ApplicationError, PermissionDenied, RateLimited
from apps.core.permissions import IsAgent


class ConversationCloseApi(APIView):
    permission_classes = [IsAgent]

    @extend_schema_serializer(component_name="ConversationClosed")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        closed_at = serializers.DateTimeField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request: Request, conversation_id: int, *args: Any, **kwargs: Any) -> Response:
        conversation = get_object_or_404(Conversation, pk=conversation_id)
        closed = conversation_close(conversation=conversation, by=request.user)
        return Response(self.OutputSerializer(closed).data)


# --------------------------------------------------------------------------- the widget's public API (SPEC §6)


def _origin_allowed(origin: str, request: Request) -> bool:
    """The site itself (an ALLOWED_HOSTS host) or an embedding site of WIDGET_ALLOWED_ORIGINS."""
    allowed = settings.WIDGET_ALLOWED_ORIGINS
    if "*" in allowed or origin.rstrip("/").lower() in allowed:
        return True
    host = urlsplit(origin).hostname or ""
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class WidgetCorsMixin:
    """CORS for the configured embedding origins only (no cookies: the visitor token is the credential).
    A browser request from any other site is refused outright, so a foreign page cannot open sessions."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        origin = request.headers.get("Origin")
        if origin and not _origin_allowed(origin, request):
            raise PermissionDenied("This site may not embed the chat widget (WIDGET_ALLOWED_ORIGINS).")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # APIView.initial, by the MRO

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]  # APIView's
        origin = request.headers.get("Origin")
        if origin and _origin_allowed(origin, request):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Expose-Headers"] = "Retry-After"
            response["Access-Control-Max-Age"] = "600"
        patch_vary_headers(response, ["Origin"])
        return response

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """CORS preflight: empty 204; the headers come from finalize_response."""
        return Response(status=204)


def _serializer_validator(clean: Callable[[str], str]) -> Callable[[str], str]:
    def validate(value: str) -> str:
        try:
            return clean(value)
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.detail) from exc

    return validate


class WidgetSessionCreateApi(WidgetCorsMixin, APIView):
    """Open a chat: public, no CSRF, no cookies. The token it returns is the visitor's only credential."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="WidgetSessionRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=NAME_MAX)
        phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
        email = serializers.CharField(required=False, allow_blank=True, default="", max_length=254)
        context_token = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=512)

        def validate_name(self, value: str) -> str:
            return _serializer_validator(name_normalize)(value)

        def validate_phone(self, value: str) -> str:
            return _serializer_validator(phone_normalize)(value)

        def validate_email(self, value: str) -> str:
            return _serializer_validator(email_normalize)(value)

    @extend_schema_serializer(component_name="WidgetSession")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        conversation_id = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, auth=[])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wait = ratelimit.acquire(
            f"widget-sessions:{request_client_ip(request)}", limit=settings.WIDGET_SESSIONS_RATE_LIMIT, window=3600.0
        )
        if wait > 0:
            raise RateLimited("Too many new chats from this address; try again later.", retry_after=math.ceil(wait))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, conversation = widget_session_create(
            name=data.validated_data["name"],
            phone=data.validated_data["phone"],
            email=data.validated_data["email"],
            context_token=data.validated_data.get("context_token") or None,
        )
        return Response(self.OutputSerializer({"token": token, "conversation_id": conversation.pk}).data, status=201)
