"""A global sliding-window limiter in Redis: at most ``limit`` events in any ``window`` seconds, shared by every
process (Celery's own `rate_limit` is per worker; SPEC §5.4 needs a global one).

The check-and-record is one Lua script using Redis' clock, so concurrent workers on several machines agree.
"""

from __future__ import annotations

import uuid

from apps.core.clients import redis_client

_SCRIPT = """
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local n = redis.call('ZCARD', key)
if n < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('EXPIRE', key, math.ceil(window) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


def acquire(name: str, *, limit: int, window: float = 60.0) -> float:
    """Try to take one slot. Returns 0.0 when taken, else the seconds to wait before a slot frees up."""
    if limit <= 0:
        return 0.0
    client = redis_client()
    wait = client.eval(_SCRIPT, 1, f"supportdesk:ratelimit:{name}", limit, window, uuid.uuid4().hex)
    return max(0.0, float(wait.decode() if isinstance(wait, bytes) else wait))


def reset(name: str) -> None:
    redis_client().delete(f"supportdesk:ratelimit:{name}")
