"""The public contact form (SPEC §8): name and phone required, e-mail optional; then the chat continues it."""

from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.contact.forms import ContactForm
from apps.contact.services import contact_request_submit
from apps.core.clientip import request_client_ip
from apps.core.exceptions import ApplicationError, RateLimited

LABELS = {
    "fr": {"name": "Nom", "phone": "Téléphone", "email": "E-mail (facultatif)", "message": "Votre message"},
    "en": {"name": "Name", "phone": "Phone", "email": "E-mail (optional)", "message": "Your message"},
}


def _language(request: HttpRequest) -> str:
    lang = (request.GET.get("lang") or settings.LANGUAGE_CODE)[:2]
    return lang if lang in LABELS else "en"


@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    """``?lang=fr|en`` (default: LANGUAGE_CODE) picks the page's language."""
    lang = _language(request)
    form = ContactForm(request.POST or None)
    for name, label in LABELS[lang].items():
        form.fields[name].label = label
    if request.method == "POST" and form.is_valid():
        try:
            result = contact_request_submit(**form.cleaned_data, client_ip=request_client_ip(request))
        except RateLimited as exc:
            response = render(
                request,
                "contact/rate_limited.html",
                {"minutes": max(1, math.ceil(exc.retry_after / 60)), "lang": lang},
                status=429,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        except ApplicationError as exc:
            for field, error in exc.extra.get("fields", {}).items():
                form.add_error(field if field in form.fields else None, error)
        else:
            return render(
                request,
                "contact/done.html",
                {"ticket": result.ticket, "context_token": result.context_token, "lang": lang},
                status=201,
            )
    status = 400 if request.method == "POST" else 200
    return render(request, "contact/form.html", {"form": form, "lang": lang}, status=status)
