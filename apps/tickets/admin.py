from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.tickets import selectors
from apps.tickets.models import Ticket, TicketCategory
from apps.tickets.services import ticket_status_set


@admin.register(TicketCategory)
class TicketCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "active")
    prepopulated_fields = {"slug": ("name",)}


class SlaBreachedFilter(admin.SimpleListFilter):
    """Acknowledgement or first contact late (or overdue and still missing), SPEC §8."""

    title = "SLA breached"
    parameter_name = "sla_breached"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Breached"), ("no", "Within SLA")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if self.value() == "yes":
            return queryset.filter(selectors.ticket_sla_breached_q())
        if self.value() == "no":
            return queryset.exclude(selectors.ticket_sla_breached_q())
        return queryset


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "subject",
        "category",
        "priority",
        "status",
        "assignee",
        "source",
        "ack_due_at",
        "first_contact_due_at",
        "sla_breached",
        "created_at",
    )
    list_filter = ("status", "priority", SlaBreachedFilter, "assignee", "category", "source")
    search_fields = ("subject", "contact__name", "contact__email", "contact__phone")
    raw_id_fields = ("conversation", "contact", "assignee")
    readonly_fields = ("ack_due_at", "first_contact_due_at", "created_at", "updated_at")
    date_hierarchy = "created_at"
    actions = ["mark_in_progress", "mark_resolved", "mark_closed"]

    @admin.display(boolean=True, description="SLA breached")
    def sla_breached(self, ticket: Ticket) -> bool:
        return selectors.ticket_is_sla_breached(ticket)

    def _set(self, request: HttpRequest, queryset: QuerySet[Ticket], status: str) -> None:
        for ticket in queryset:
            ticket_status_set(ticket=ticket, status=status, by=request.user)
        self.message_user(request, f"{queryset.count()} ticket(s) marked {status.lower().replace('_', ' ')}.")

    @admin.action(description="Mark in progress")
    def mark_in_progress(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._set(request, queryset, Ticket.Status.IN_PROGRESS)

    @admin.action(description="Mark resolved")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._set(request, queryset, Ticket.Status.RESOLVED)

    @admin.action(description="Mark closed")
    def mark_closed(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        self._set(request, queryset, Ticket.Status.CLOSED)
