"""Operational tasks."""

from celery import shared_task
from django.db import connection


@shared_task(name="apps.core.tasks.ping")
def ping() -> dict[str, str]:
    """Round-trip check through the real broker and worker; also proves the worker reaches the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
    return {"pong": "ok", "database": database}
