from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conversations.widget_helpers import rate_limits_clear


@pytest.fixture(autouse=True)
def _no_rate_limit_history() -> Iterator[None]:
    rate_limits_clear()
    yield


@pytest.fixture(autouse=True)
def _ticket_categories(request: Any) -> None:
    """Transactional tests flush the tables after themselves, seeded categories included: put them back."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    from apps.tickets.services import ticket_categories_ensure

    ticket_categories_ensure()
