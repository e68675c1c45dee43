from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.labels.models import ConversationLabel, Label


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "alias_of", "similarity", "usage", "embedding_model", "created_at")
    list_filter = ("status", "embedding_model")
    search_fields = ("name",)
    raw_id_fields = ("alias_of",)
    exclude = ("embedding",)
    readonly_fields = ("embedding_model", "similarity", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Label]:
        return super().get_queryset(request).annotate(_usage=Count("conversation_labels"))

    @admin.display(ordering="_usage", description="conversations")
    def usage(self, obj: Label) -> int:
        return getattr(obj, "_usage", 0)


@admin.register(ConversationLabel)
class ConversationLabelAdmin(admin.ModelAdmin):
    list_display = ("conversation", "label", "created_at")
    raw_id_fields = ("conversation", "label")
    list_filter = ("label__status",)
