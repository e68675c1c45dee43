"""Local development: `make run`. Embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
DEMO_MODE = env.bool("DEMO_MODE", default=True)
