from django.contrib import admin

from apps.ai.models import LLMCall


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "purpose",
        "provider",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "latency_ms",
        "first_token_ms",
        "outcome",
    )
    list_filter = ("purpose", "provider", "model", "outcome", "streamed")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]  # records are written by the seam only
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
