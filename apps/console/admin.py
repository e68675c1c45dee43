from django.contrib import admin

from apps.console.models import Snippet


@admin.register(Snippet)
class SnippetAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "title", "language", "active", "updated_at")
    list_filter = ("active", "language")
    list_editable = ("active",)
    search_fields = ("shortcut", "title", "body")
