"""Local development: `make run`. Embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set."""

from .base import *  # noqa: F403
from .base import STATIC_ROOT, env

DEBUG = env.bool("DEBUG", default=True)
DEMO_MODE = env.bool("DEMO_MODE", default=True)

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from finders here; it only wants the folder

# A known local secret so the Crisp hook can be tried at once (printed by `make run`); set your own in .env.
CRISP_WEBHOOK_KEY = env.str("CRISP_WEBHOOK_KEY", default="dev-crisp-key")
