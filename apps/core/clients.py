"""Shared connections and SQL helpers used by several apps."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def redis_client() -> redis.Redis:
    """The application's Redis (REDIS_URL), one pooled client per process and URL."""
    return _redis(settings.REDIS_URL)


def vector_literal(vector: Sequence[float]) -> str:
    """A pgvector literal ('[0.1,0.2,...]') for raw SQL, cast with ``%s::vector``."""
    return "[" + ",".join(f"{v:.7g}" for v in vector) + "]"
