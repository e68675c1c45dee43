from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conversations.widget_helpers import rate_limits_clear


@pytest.fixture(autouse=True)
def _no_rate_limit_history() -> Iterator[None]:
    rate_limits_clear()
    yield


@pytest.fixture(autouse=True)
def _ticket_categories(ticket_categories_seeded: None) -> None:
    """Escalations and contact tickets need the seeded categories (tests/conftest.py)."""
