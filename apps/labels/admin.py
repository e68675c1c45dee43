"""Supervisors' label screens: usage and trend, the alias proposal queue, merges, reprocessing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.labels import services
from apps.labels.models import ConversationLabel, Label, LabelingJob, LabelMerge, LabelMonthlyCount
from apps.labels.selectors import months_back

_SPARK = "▁▂▃▄▅▆▇█"


class _MergeForm(forms.Form):
    target = forms.ModelChoiceField(queryset=Label.objects.exclude(status=Label.Status.REJECTED), label="Merge into")


class _RenameForm(forms.Form):
    name = forms.CharField(max_length=64, label="New name")


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "alias_of", "similarity", "usage", "trend", "embedding_model", "created_at")
    list_filter = ("status", "embedding_model")
    search_fields = ("name",)
    exclude = ("embedding",)
    # Status and alias change only through the actions, which keep the statistics rollup exact.
    readonly_fields = ("status", "alias_of", "embedding_model", "similarity", "created_at", "updated_at")
    actions = ["approve_alias", "reject_alias", "merge_into", "rename"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Label]:
        return super().get_queryset(request).select_related("alias_of").annotate(_usage=Count("conversation_labels"))

    @admin.display(ordering="_usage", description="conversations")
    def usage(self, obj: Label) -> int:
        return getattr(obj, "_usage", 0)

    @admin.display(description="last 6 months")
    def trend(self, obj: Label) -> str:
        span = months_back(timezone.localdate(), 6)
        counts = dict(LabelMonthlyCount.objects.filter(label=obj, month__gte=span[0]).values_list("month", "count"))
        values = [max(0, counts.get(m, 0)) for m in span]
        top = max(values) or 1
        return "".join(_SPARK[min(7, v * 7 // top)] if v else "·" for v in values) + f"  ({values[-1]} this month)"

    @admin.action(description="Approve alias: merge into its target")
    def approve_alias(self, request: HttpRequest, queryset: QuerySet[Label]) -> None:
        done = 0
        for label in queryset.filter(status=Label.Status.PROPOSED).select_related("alias_of"):
            services.label_alias_approve(label=label, by=request.user)
            done += 1
        self.message_user(request, f"{done} alias(es) approved and merged.")

    @admin.action(description="Reject alias: keep as a label of its own")
    def reject_alias(self, request: HttpRequest, queryset: QuerySet[Label]) -> None:
        done = 0
        for label in queryset.filter(status=Label.Status.PROPOSED).select_related("alias_of"):
            services.label_alias_reject(label=label, by=request.user)
            done += 1
        self.message_user(request, f"{done} proposal(s) rejected; the labels stay separate.")

    @admin.action(description="Merge into another label…")
    def merge_into(self, request: HttpRequest, queryset: QuerySet[Label]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = _MergeForm(request.POST)
            if form.is_valid():
                target = form.cleaned_data["target"]
                moved = 0
                for label in queryset.exclude(pk=target.pk):
                    try:
                        moved += services.label_merge(source=label, target=target, by=request.user)
                    except ApplicationError as exc:
                        self.message_user(request, f"{label.name}: {exc.detail}", messages.ERROR)
                self.message_user(request, f"Merged into {target.name}: {moved} conversation label(s) moved.")
                return None
        else:
            form = _MergeForm()
        return render(request, "admin/labels/label_action.html", {**self.admin_site.each_context(request),
                      "title": "Merge labels", "labels": queryset, "form": form, "action": "merge_into"})  # fmt: skip

    @admin.action(description="Rename…")
    def rename(self, request: HttpRequest, queryset: QuerySet[Label]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Rename one label at a time.", messages.WARNING)
            return None
        label = queryset.get()
        if "apply" in request.POST:
            form = _RenameForm(request.POST)
            if form.is_valid():
                try:
                    result = services.label_rename(label=label, name=form.cleaned_data["name"], by=request.user)
                except ApplicationError as exc:
                    self.message_user(request, exc.detail, messages.ERROR)
                    return None
                self.message_user(request, f"Now called {result.name}.")
                return None
        else:
            form = _RenameForm(initial={"name": label.name})
        return render(request, "admin/labels/label_action.html", {**self.admin_site.each_context(request),
                      "title": "Rename label", "labels": queryset, "form": form, "action": "rename"})  # fmt: skip


@admin.register(ConversationLabel)
class ConversationLabelAdmin(admin.ModelAdmin):
    list_display = ("conversation", "label", "created_at")
    raw_id_fields = ("conversation", "label")
    list_filter = ("label__status",)


@admin.register(LabelingJob)
class LabelingJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "source",
        "status",
        "attempts",
        "labels",
        "tokens",
        "dropped_messages",
        "error",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "source")
    search_fields = ("task_id", "conversation__external_id")
    raw_id_fields = ("conversation",)
    readonly_fields = [f.name for f in LabelingJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LabelMerge)
class LabelMergeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "source_name", "target", "moved", "by")
    list_filter = ("action",)
    readonly_fields = [f.name for f in LabelMerge._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
