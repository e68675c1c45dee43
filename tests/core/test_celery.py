"""A task round-trips through the real Redis broker and a real `celery worker` subprocess."""

import pytest
from django.db import connection

from apps.core.tasks import ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_ping_task_round_trips_through_a_real_worker(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    result = ping.apply_async()
    payload = result.get(timeout=60)
    assert payload["pong"] == "ok"
    assert payload["database"] == connection.settings_dict["NAME"], "the worker reached the test database"
    assert result.successful()


def test_tasks_are_not_run_eagerly(settings) -> None:  # type: ignore[no-untyped-def]
    from supportdesk.celery import app

    assert app.conf.task_always_eager is False
    assert app.conf.broker_url.startswith("redis://")
    assert app.conf.task_acks_late is True
