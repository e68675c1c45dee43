"""The widget's demo host page (docs/live-chat.md): a fake company page that embeds the widget with its one tag."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def widget_demo(request: HttpRequest) -> HttpResponse:
    """Public on purpose: it is what any customer site looks like. `?lang=en` and `?prechat=on|required` try
    the widget's options."""
    lang = "en" if request.GET.get("lang") == "en" else "fr"
    prechat = request.GET.get("prechat", "off")
    if prechat not in ("off", "on", "required"):
        prechat = "off"
    return render(request, "widget/demo.html", {"lang": lang, "prechat": prechat})
