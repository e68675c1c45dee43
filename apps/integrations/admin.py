from django.contrib import admin

from apps.integrations.models import WebhookReceipt


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(admin.ModelAdmin):
    list_display = ("platform", "delivery_id", "received_at")
    list_filter = ("platform",)
    search_fields = ("delivery_id",)
