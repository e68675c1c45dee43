"""The public contact form (SPEC §8): name and phone required, e-mail optional; then the chat continues it."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from apps.contact.forms import ContactForm
from apps.contact.services import contact_request_submit
from apps.core.clientip import request_client_ip
from apps.core.exceptions import ApplicationError, RateLimited


@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = contact_request_submit(**form.cleaned_data, client_ip=request_client_ip(request))
        except RateLimited as exc:
            response = render(request, "contact/rate_limited.html", {"detail": exc.detail}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except ApplicationError as exc:
            for field, error in exc.extra.get("fields", {}).items():
                form.add_error(field if field in form.fields else None, error)
        else:
            return render(
                request,
                "contact/done.html",
                {"ticket": result.ticket, "context_token": result.context_token},
                status=201,
            )
    status = 400 if request.method == "POST" else 200
    return render(request, "contact/form.html", {"form": form}, status=status)
