from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import is_agent, is_supervisor


class WhoAmIApi(APIView):
    """Who the API thinks you are: for checking a token or a session."""

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        is_agent = serializers.BooleanField()
        is_supervisor = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        data = {"username": user.get_username(), "is_agent": is_agent(user), "is_supervisor": is_supervisor(user)}
        return Response(self.OutputSerializer(data).data)
