from django.contrib import admin

from apps.copilot.models import ConversationAnalytics, Suggestion


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "confidence", "silent", "outcome", "first_token_ms", "total_ms", "created_at")
    list_filter = ("outcome", "silent", "provider")
    raw_id_fields = ("conversation", "trigger_message", "agent")


@admin.register(ConversationAnalytics)
class ConversationAnalyticsAdmin(admin.ModelAdmin):
    list_display = ("conversation", "intent", "sentiment", "emotion", "churn_risk", "updated_at")
    list_filter = ("sentiment", "emotion", "intent")
    raw_id_fields = ("conversation",)
