from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.knowledge.models import Chunk, Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "language", "category", "status", "chunk_count", "updated_at")
    list_filter = ("kind", "language", "status", "category")
    search_fields = ("title", "source")
    readonly_fields = ("content_hash", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).annotate(_chunks=Count("chunks"))

    @admin.display(ordering="_chunks", description="chunks")
    def chunk_count(self, obj: Document) -> int:
        return getattr(obj, "_chunks", 0)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ("document", "ordinal", "section", "embedding_model")
    list_filter = ("embedding_model",)
    search_fields = ("section", "document__title")
    exclude = ("embedding", "search_vector")
    raw_id_fields = ("document",)
