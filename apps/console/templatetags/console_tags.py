"""Small template helpers for the console."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def http_url(value: object) -> str:
    """The URL when it is http(s) or site-relative, else "": autoescape does not stop a `javascript:` link."""
    url = str(value or "").strip()
    if url.startswith("/") and not url.startswith("//"):
        return url
    return url if urlsplit(url).scheme in ("http", "https") else ""


@register.filter
def when(value: datetime | None) -> str:
    """A short, language-neutral time: "14:32" today, "21/11" before (local time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return local.strftime("%H:%M") if local.date() == timezone.localdate() else local.strftime("%d/%m")
