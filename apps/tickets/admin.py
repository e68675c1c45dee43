from django.contrib import admin

from apps.tickets.models import Ticket, TicketCategory


@admin.register(TicketCategory)
class TicketCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "active")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "category", "priority", "status", "assignee", "first_contact_due_at", "created_at")
    list_filter = ("status", "priority", "category", "assignee", "source")
    search_fields = ("subject", "contact__name", "contact__email")
    raw_id_fields = ("conversation", "contact", "assignee")
    date_hierarchy = "created_at"
