"""Copilot reads: the latest suggestion and analytics of a conversation (the console's panel) and the supervisors'
statistics (SPEC §7: latency, acceptance, cost)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Aggregate, Count, FloatField, Q, Sum

from apps.copilot.models import ConversationAnalytics, Suggestion


class _Percentile(Aggregate):
    """PostgreSQL's continuous percentile (interpolated, like numpy's default) of a numeric column."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class CopilotStats:
    """Over the complete suggestions (``total_ms`` set) created since ``since`` (None: all). Latencies in ms and
    rates are None without data. ``acceptance_rate`` = (accepted + edited) / decided, where decided = accepted +
    edited + ignored (pending ones are not counted). ``cost_per_conversation_usd`` = the suggestions' LLM cost /
    the conversations that had one (0 with the local provider)."""

    since: datetime | None
    suggestions: int
    silent: int
    conversations: int
    first_token_p50_ms: float | None
    first_token_p95_ms: float | None
    total_p50_ms: float | None
    total_p95_ms: float | None
    accepted: int
    edited: int
    ignored: int
    pending: int
    acceptance_rate: float | None
    cost_usd: Decimal
    cost_per_conversation_usd: Decimal | None

    @property
    def decided(self) -> int:
        return self.accepted + self.edited + self.ignored


def copilot_stats(since: datetime | None = None) -> CopilotStats:
    """The copilot's figures for the supervisors' page (one query)."""
    rows = Suggestion.objects.filter(total_ms__isnull=False)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    outcome = Suggestion.Outcome
    agg = rows.aggregate(
        suggestions=Count("id"),
        silent=Count("id", filter=Q(silent=True)),
        conversations=Count("conversation_id", distinct=True),
        ft50=_Percentile("first_token_ms", 0.5),
        ft95=_Percentile("first_token_ms", 0.95),
        t50=_Percentile("total_ms", 0.5),
        t95=_Percentile("total_ms", 0.95),
        accepted=Count("id", filter=Q(outcome=outcome.ACCEPTED)),
        edited=Count("id", filter=Q(outcome=outcome.EDITED)),
        ignored=Count("id", filter=Q(outcome=outcome.IGNORED)),
        pending=Count("id", filter=Q(outcome=outcome.PENDING)),
        cost=Sum("cost_usd"),
    )
    decided = agg["accepted"] + agg["edited"] + agg["ignored"]
    cost = Decimal(agg["cost"] or 0)
    return CopilotStats(
        since=since,
        suggestions=agg["suggestions"],
        silent=agg["silent"],
        conversations=agg["conversations"],
        first_token_p50_ms=agg["ft50"],
        first_token_p95_ms=agg["ft95"],
        total_p50_ms=agg["t50"],
        total_p95_ms=agg["t95"],
        accepted=agg["accepted"],
        edited=agg["edited"],
        ignored=agg["ignored"],
        pending=agg["pending"],
        acceptance_rate=(agg["accepted"] + agg["edited"]) / decided if decided else None,
        cost_usd=cost,
        cost_per_conversation_usd=(cost / agg["conversations"]).quantize(Decimal("0.000001"))
        if agg["conversations"]
        else None,
    )


def suggestion_latest(*, conversation_id: int) -> Suggestion | None:
    """The conversation's newest suggestion row (possibly still streaming: ``total_ms`` None), or None."""
    return Suggestion.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-id").first()


def analytics_for(*, conversation_id: int) -> ConversationAnalytics | None:
    return ConversationAnalytics.objects.filter(conversation_id=conversation_id).first()
