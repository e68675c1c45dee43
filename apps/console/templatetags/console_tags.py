"""Small template helpers for the console."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template

register = template.Library()


@register.filter
def http_url(value: object) -> str:
    """The URL when it is http(s) or site-relative, else "": autoescape does not stop a `javascript:` link."""
    url = str(value or "").strip()
    if url.startswith("/") and not url.startswith("//"):
        return url
    return url if urlsplit(url).scheme in ("http", "https") else ""
