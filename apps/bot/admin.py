"""Supervisors' screens for the bot: smart replies, with a tester (type a message: which rule matches, and what
the bot as a whole would do)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from apps.bot.models import SmartReply
from apps.bot.rules import language_of
from apps.bot.selectors import smart_reply_matches
from apps.bot.services import bot_respond


class _TesterForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=4000)


@admin.register(SmartReply)
class SmartReplyAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "match_type", "whole_message", "priority", "active", "updated_at")
    list_filter = ("active", "language", "match_type")
    list_editable = ("priority", "active")
    search_fields = ("name", "patterns", "answer")
    change_list_template = "admin/bot/smartreply/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "active", "priority", "language")}),
        ("When", {"fields": ("match_type", "patterns", "whole_message")}),
        ("Answer", {"fields": ("answer", "source_title", "url")}),
    )

    def get_urls(self) -> list[URLPattern]:
        return [
            path("tester/", self.admin_site.admin_view(self.tester_view), name="bot_smartreply_tester"),
            *super().get_urls(),
        ]

    def tester_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = _TesterForm(request.POST or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Bot tester",
            "form": form,
            "opts": self.model._meta,
        }
        if request.method == "POST" and form.is_valid():
            message = form.cleaned_data["message"]
            language = language_of(message)
            context.update(
                language=language,
                # inactive rules too, marked: a supervisor tests a rule before switching it on
                matches=smart_reply_matches(message, language=language, active_only=False),
                reply=bot_respond(conversation=None, text=message),
            )
        return render(request, "admin/bot/smartreply/tester.html", context)
