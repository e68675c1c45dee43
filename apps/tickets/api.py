"""Tickets API (agents and supervisors; session or token auth): the tickets of a conversation or a contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.permissions import IsAgent
from apps.tickets import selectors
from apps.tickets.models import Ticket


class TicketListApi(APIView):
    permission_classes = [IsAgent]

    class InputSerializer(serializers.Serializer):
        conversation = serializers.IntegerField(required=False, min_value=1)
        contact = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "conversation" not in attrs and "contact" not in attrs:
                raise serializers.ValidationError("Give ?conversation=<id> or ?contact=<id>.")
            return attrs

    # "source" would shadow Field.source on a declared Serializer class: the schema is declared inline.
    Output = inline_serializer(
        name="Ticket",
        fields={
            "id": serializers.IntegerField(),
            "subject": serializers.CharField(),
            "category": serializers.CharField(allow_null=True, help_text="category slug"),
            "priority": serializers.ChoiceField(choices=Ticket.Priority.values),
            "status": serializers.ChoiceField(choices=Ticket.Status.values),
            "source": serializers.CharField(),
            "tags": serializers.ListField(child=serializers.CharField()),
            "conversation_id": serializers.IntegerField(allow_null=True),
            "contact_id": serializers.IntegerField(allow_null=True),
            "assignee": serializers.CharField(allow_null=True, help_text="username"),
            "created_at": serializers.DateTimeField(),
            "ack_due_at": serializers.DateTimeField(allow_null=True),
            "first_contact_due_at": serializers.DateTimeField(allow_null=True),
            "acknowledged_at": serializers.DateTimeField(allow_null=True),
            "first_contact_at": serializers.DateTimeField(allow_null=True),
            "sla_breached": serializers.BooleanField(),
        },
        many=True,
    )

    @staticmethod
    def _row(ticket: Ticket, now: datetime) -> dict[str, Any]:
        return {
            "id": ticket.pk,
            "subject": ticket.subject,
            "category": ticket.category.slug if ticket.category else None,
            "priority": ticket.priority,
            "status": ticket.status,
            "source": ticket.source,
            "tags": list(ticket.tags or []),
            "conversation_id": ticket.conversation_id,
            "contact_id": ticket.contact_id,
            "assignee": ticket.assignee.get_username() if ticket.assignee else None,
            "created_at": ticket.created_at,
            "ack_due_at": ticket.ack_due_at,
            "first_contact_due_at": ticket.first_contact_due_at,
            "acknowledged_at": ticket.acknowledged_at,
            "first_contact_at": ticket.first_contact_at,
            "sla_breached": selectors.ticket_is_sla_breached(ticket, now),
        }

    @extend_schema(
        parameters=[
            OpenApiParameter("conversation", int, description="a conversation's id"),
            OpenApiParameter("contact", int, description="a contact's id"),
            OpenApiParameter("limit", int, description="1-100, default 50"),
        ],
        responses=Output,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        tickets = selectors.tickets_list(
            conversation_id=params.validated_data.get("conversation"),
            contact_id=params.validated_data.get("contact"),
            limit=params.validated_data["limit"],
        )
        now = timezone.now()
        return Response([self._row(t, now) for t in tickets])
