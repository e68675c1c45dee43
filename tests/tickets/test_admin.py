"""Supervisors' ticket screens: the SLA-breached filter and status actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.tickets.models import Ticket
from apps.tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def test_sla_breached_filter_and_bulk_resolve(supervisor_user: Any) -> None:
    late = ticket_create(subject="Overdue ticket", priority="URGENT")
    Ticket.objects.filter(pk=late.pk).update(
        ack_due_at=timezone.now() - timedelta(minutes=1), first_contact_due_at=timezone.now() - timedelta(minutes=1)
    )
    fine = ticket_create(subject="Fresh ticket", priority="LOW")
    client = Client()
    client.force_login(supervisor_user)

    breached = client.get("/admin/tickets/ticket/?sla_breached=yes").content.decode()
    assert "Overdue ticket" in breached and "Fresh ticket" not in breached
    within = client.get("/admin/tickets/ticket/?sla_breached=no").content.decode()
    assert "Fresh ticket" in within and "Overdue ticket" not in within
    for query in ("status__exact=OPEN", "priority__exact=URGENT", f"assignee__id__exact={supervisor_user.pk}"):
        assert client.get(f"/admin/tickets/ticket/?{query}").status_code == 200

    response = client.post(
        "/admin/tickets/ticket/", {"action": "mark_resolved", "_selected_action": [fine.pk]}, follow=True
    )
    assert response.status_code == 200
    fine.refresh_from_db()
    assert fine.status == "RESOLVED" and fine.resolved_at is not None
