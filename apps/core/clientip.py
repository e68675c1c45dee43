"""The client's IP address for per-IP limits (SPEC §6): the direct peer, or, when that peer is one of
``TRUSTED_PROXIES``, the first address in ``X-Forwarded-For`` (read from the right) that is not a trusted proxy.

Entries left of the first untrusted one were written by the client itself and are never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(peer: str | None, forwarded_for: str | None) -> str:
    """``peer`` is REMOTE_ADDR (or the ASGI scope's client host); ``forwarded_for`` the X-Forwarded-For header."""
    peer = (peer or "").strip() or "unknown"
    if not forwarded_for or not _trusted(peer):
        return peer[:64]
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop[:64]
    return (hops[0] if hops else peer)[:64]


def request_client_ip(request: Any) -> str:
    meta: Mapping[str, str] = request.META
    return client_ip(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))


def scope_client_ip(scope: Mapping[str, Any]) -> str:
    client = scope.get("client") or (None, None)
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or []
    forwarded = ", ".join(v.decode("latin1") for k, v in headers if k.lower() == b"x-forwarded-for") or None
    return client_ip(client[0], forwarded)
