from django.contrib import admin

from apps.conversations.models import Contact, Conversation, Message


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "phone", "channel", "created_at")
    list_filter = ("channel",)
    search_fields = ("name", "email", "phone", "external_id")


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("created_at", "role", "author", "text")
    readonly_fields = ("created_at",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "channel",
        "status",
        "contact",
        "assignee",
        "imported",
        "csat_rating",
        "last_message_at",
        "closed_at",
    )
    list_filter = ("status", "channel", "csat_rating", "imported")
    search_fields = ("external_id", "contact__name", "contact__email")
    raw_id_fields = ("contact", "assignee")
    readonly_fields = ("content_hash", "created_at", "updated_at")
    inlines = [MessageInline]
    date_hierarchy = "created_at"
    actions = ["reprocess_labels"]

    @admin.action(description="Reprocess labels")
    def reprocess_labels(self, request, queryset):  # type: ignore[no-untyped-def]  # admin action signature
        from apps.labels.models import LabelingJob
        from apps.labels.services import labeling_enqueue

        jobs = [labeling_enqueue(conversation=c, source=LabelingJob.Source.REPROCESS) for c in queryset]
        self.message_user(request, f"{len(jobs)} conversation(s) queued for labeling; see Labeling jobs.")
