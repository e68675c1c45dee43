"""Over the per-IP widget message limit the widget says how long to wait and blocks sending until then (SPEC §6:
a WebSocket error frame with `retry_after`). Its own live server, with a limit of 3 messages a minute."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.timeout(180),
]

LIVE_SERVER_ENV = {"WIDGET_RATE_LIMIT": "3"}


@pytest.fixture(autouse=True)
def _fresh_limit() -> Iterator[None]:
    """Start with, and leave behind, an empty window for this client IP (the other modules' servers share it)."""
    from apps.core import ratelimit

    ratelimit.reset("widget:127.0.0.1")
    yield
    ratelimit.reset("widget:127.0.0.1")


def test_rate_limit_says_how_long_to_wait(daphne_server: Any, new_page: Any) -> None:
    page, watch = new_page()
    page.goto(f"{daphne_server.url}/widget/demo/")
    page.get_by_test_id("widget-bubble").click()
    box, send = page.get_by_test_id("widget-input"), page.get_by_test_id("widget-send")
    expect(box).to_be_enabled()
    customer = page.locator("[data-testid=widget-message][data-role=customer]")
    for n, text in enumerate(["bonjour", "merci", "au revoir"], start=1):
        box.fill(text)
        send.click()
        expect(customer.nth(n - 1)).to_have_attribute("data-id", re.compile(r"\d"))

    box.fill("encore une question")
    send.click()
    error = page.get_by_test_id("widget-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(re.compile(r"merci de patienter \d+ s"))
    seconds = int(re.search(r"(\d+) s", error.inner_text()).group(1))  # type: ignore[union-attr]
    assert 1 <= seconds <= 60
    expect(send).to_be_disabled()
    expect(customer.last).to_contain_text("non envoyé")
    expect(customer.last).not_to_have_attribute("data-id", re.compile(r"."))
    assert watch.errors == []
