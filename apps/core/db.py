"""Database connection helpers shared by the apps."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections


def pooled_connection_release(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Give this thread's connection back to the process's pool (``DB_POOL``) before a long wait that needs no
    database, such as a model's stream: a thread otherwise holds its connection until its task ends, and the
    copilot worker's threads would need one each for the whole stream. The next query borrows one again.

    Does nothing (False) without a pool (closing would cost a reconnection), inside a transaction, or when the
    thread holds no connection."""
    connection = connections[alias]
    pooled = bool((connection.settings_dict.get("OPTIONS") or {}).get("pool"))
    if not pooled or connection.connection is None or connection.in_atomic_block:
        return False
    connection.close()
    return True
