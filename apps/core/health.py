"""Readiness probes: each returns "ok" or a short error string (no secrets, no URLs)."""

from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        connection.close()
        return f"error: {type(exc).__name__}"
    return "ok"


def _ping(url: str) -> str:
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:  # ConnectionError, TimeoutError, AuthenticationError...
        return f"error: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"


def check_redis() -> str:
    return _ping(settings.REDIS_URL)


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _ping(url)
    from supportdesk.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": check_database, "redis": check_redis, "broker": check_broker}


def readiness() -> dict[str, str]:
    return {name: check() for name, check in CHECKS.items()}
