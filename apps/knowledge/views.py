"""Public help-centre pages (no login: this is what customers are linked to)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.knowledge.help import document_sections, is_public, public_documents
from apps.knowledge.models import Document


def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "knowledge/help_index.html", {"documents": public_documents()})


def help_article(request: HttpRequest, pk: int) -> HttpResponse:
    document = get_object_or_404(Document, pk=pk)
    if not is_public(document):
        raise Http404("No such article.")
    return render(
        request, "knowledge/help_article.html", {"document": document, "sections": document_sections(document)}
    )
