"""Supervisors' statistics computed on rows created here (expected values worked out by hand)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.copilot.models import Suggestion
from apps.copilot.selectors import analytics_for, copilot_stats, suggestion_latest
from tests.conversations.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _row(
    conversation: Any, first: int | None, total: int | None, outcome: str, cost: str = "0", **extra: Any
) -> Suggestion:
    return Suggestion.objects.create(
        conversation=conversation,
        first_token_ms=first,
        total_ms=total,
        outcome=outcome,
        cost_usd=Decimal(cost),
        **extra,
    )


def test_stats_math() -> None:
    a, b = ConversationFactory(), ConversationFactory()
    _row(a, 100, 1000, "accepted", "0.001000")
    _row(a, 200, 2000, "edited", "0.002000")
    _row(b, 300, 3000, "ignored", "0.003000")
    _row(b, 400, 4000, "pending", "0.000000", silent=True)
    _row(b, None, None, "pending", "9.000000")  # left by a worker that died mid-stream: not counted

    stats = copilot_stats()

    assert stats.suggestions == 4 and stats.silent == 1 and stats.conversations == 2
    # Interpolated percentiles of 100, 200, 300, 400: p50 = 250; p95 = 300 + 0.85 * 100 = 385.
    assert stats.first_token_p50_ms == pytest.approx(250)
    assert stats.first_token_p95_ms == pytest.approx(385)
    assert stats.total_p50_ms == pytest.approx(2500)
    assert stats.total_p95_ms == pytest.approx(3850)
    assert (stats.accepted, stats.edited, stats.ignored, stats.pending) == (1, 1, 1, 1)
    assert stats.decided == 3
    assert stats.acceptance_rate == pytest.approx(2 / 3)
    assert stats.cost_usd == Decimal("0.006")
    assert stats.cost_per_conversation_usd == Decimal("0.003")


def test_stats_since_and_empty() -> None:
    empty = copilot_stats()
    assert empty.suggestions == 0 and empty.first_token_p50_ms is None and empty.acceptance_rate is None
    assert empty.cost_per_conversation_usd is None
    conversation = ConversationFactory()
    old = _row(conversation, 900, 9000, "accepted")
    Suggestion.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    _row(conversation, 100, 1000, "ignored")
    stats = copilot_stats(since=timezone.now() - timedelta(days=1))
    assert stats.suggestions == 1 and stats.first_token_p50_ms == pytest.approx(100)
    assert stats.acceptance_rate == 0


def test_latest_and_analytics() -> None:
    conversation = ConversationFactory()
    assert suggestion_latest(conversation_id=conversation.pk) is None
    assert analytics_for(conversation_id=conversation.pk) is None
    _row(conversation, 1, 2, "pending")
    newest = _row(conversation, 1, 2, "pending")
    _row(ConversationFactory(), 1, 2, "pending")
    assert suggestion_latest(conversation_id=conversation.pk) == newest
