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


def test_beat_runs_its_stop_handler_once_and_ignores_a_second_signal() -> None:
    """Celery beat's stop handler deadlocked when a second SIGTERM re-entered it; the wrapped handler runs once."""
    import signal

    from supportdesk.celery import STOP_SIGNALS, stop_signals_handled_once

    calls: list[int] = []
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop_signals_handled_once()
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)
        assert calls == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN, "a second SIGTERM is ignored"
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN, "and so is a SIGINT"
    finally:
        for s, previous in saved.items():
            signal.signal(s, previous)
