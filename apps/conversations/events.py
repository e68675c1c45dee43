"""The only module that sends to channel groups (CONVENTIONS, Zulip). Events are sent after commit."""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

_GROUP_RE = re.compile(r"[^A-Za-z0-9._-]")


def group_name(kind: str, key: object) -> str:
    """`conversation.<id>`, `inbox.<team>`: only [A-Za-z0-9._-], under 100 characters (Channels' rule)."""
    return _GROUP_RE.sub("-", f"{kind}.{key}")[:99]


def inbox_group(team: str = "default") -> str:
    return group_name("inbox", team)


def send_event(group: str, event_type: str, payload: dict[str, Any]) -> None:
    """Send ``{"type": event_type, **payload}`` to ``group`` once the current transaction commits."""

    def _send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, {"type": event_type, **payload})

    transaction.on_commit(_send)
