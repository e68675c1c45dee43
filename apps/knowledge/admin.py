"""Knowledge screens: documents with chunk counts and status, upload, re-index, and a search tester that
shows what the bot and the copilot would retrieve for a question."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse

from apps.knowledge.models import Chunk, Document
from apps.knowledge.parsing import SUPPORTED_EXTENSIONS
from apps.knowledge.selectors import knowledge_search, min_similarity_for
from apps.knowledge.services import document_reindex, knowledge_ingest_upload

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    """Django's documented recipe for a multi-file input: clean every file of the list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", _MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class _UploadForm(forms.Form):
    documents = _MultipleFileField(
        help_text="FAQ JSON, Markdown, PDF, HTML or plain text: " + ", ".join(sorted(SUPPORTED_EXTENSIONS)),
    )


class _SearchForm(forms.Form):
    q = forms.CharField(label="Question", max_length=1000)
    k = forms.IntegerField(label="Results", min_value=1, max_value=20, initial=5)
    category = forms.CharField(required=False, max_length=80)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "language", "category", "status", "chunk_count", "source", "updated_at")
    list_filter = ("kind", "language", "status", "category")
    search_fields = ("title", "source")
    readonly_fields = ("content_hash", "status", "error", "created_at", "updated_at")
    actions = ["reindex"]
    change_list_template = "admin/knowledge/document/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).annotate(_chunks=Count("chunks"))

    @admin.display(ordering="_chunks", description="chunks")
    def chunk_count(self, obj: Document) -> int:
        return getattr(obj, "_chunks", 0)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="knowledge_document_upload"),
            path("search/", self.admin_site.admin_view(self.search_view), name="knowledge_document_search"),
        ]
        return own + super().get_urls()

    @admin.action(description="Re-index (re-embed and refresh full text)")
    def reindex(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        total = sum(document_reindex(doc) for doc in queryset)
        self.message_user(request, f"{queryset.count()} document(s) re-indexed ({total} chunks).")

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        form = _UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            for upload in request.FILES.getlist("documents"):
                if upload.size and upload.size > MAX_UPLOAD_BYTES:
                    self.message_user(request, f"{upload.name}: larger than 20 MB, skipped.", messages.ERROR)
                    continue
                result = knowledge_ingest_upload(upload.read(), upload.name or "upload")
                if result.status == "failed":
                    self.message_user(request, f"{result.path}: failed — {result.reason}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"{result.path}: {result.status}, {result.documents} document(s), {result.chunks} chunk(s).",
                    )
            return HttpResponseRedirect(reverse("admin:knowledge_document_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload knowledge documents",
            "form": form,
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/document/upload.html", context)

    def search_view(self, request: HttpRequest) -> HttpResponse:
        form = _SearchForm(request.GET or None)
        result = None
        if form.is_valid():
            data = form.cleaned_data
            result = knowledge_search(data["q"], k=data["k"], category=data.get("category") or None)
        from apps.ai.providers import embeddings_model_name

        model = embeddings_model_name()
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Search tester",
            "form": form,
            "result": result,
            "model": model,
            "threshold": min_similarity_for(model),
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/document/search.html", context)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("document", "ordinal", "section", "embedding_model")
    list_filter = ("embedding_model", "document__language")
    search_fields = ("section", "document__title")
    exclude = ("embedding", "search_vector")
    raw_id_fields = ("document",)
