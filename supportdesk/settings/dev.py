"""Local development: `make run`. Embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set."""

from .base import *  # noqa: F403
from .base import STATIC_ROOT, env

DEBUG = env.bool("DEBUG", default=True)
DEMO_MODE = env.bool("DEMO_MODE", default=True)

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from finders here; it only wants the folder
