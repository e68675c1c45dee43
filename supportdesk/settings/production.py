"""Production: external PostgreSQL and Redis, no default secret, secure cookies and HSTS.

The checks run before the base settings are imported, so a misconfigured production process never
starts an embedded server.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# A .env at the project root counts like the real environment (which wins), as in the base settings.
_env_file = Path(__file__).resolve().parent.parent.parent / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file))

_missing = [name for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
if _missing:
    raise ImproperlyConfigured(
        f"Production needs {', '.join(_missing)} in the environment (the embedded servers and the "
        "development secret are for development only). See .env.example."
    )
_secret = os.environ["SECRET_KEY"]
if _secret.startswith("django-insecure") or len(_secret) < 32 or len(set(_secret)) < 8:
    raise ImproperlyConfigured(
        "SECRET_KEY is a default or too weak: use a random value of at least 32 characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}:
    raise ImproperlyConfigured("DEBUG=True is refused by the production settings.")

from .base import *  # noqa: E402,F403
from .base import LOGGING, env  # noqa: E402

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
WHITENOISE_USE_FINDERS = False
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # type: ignore[index]  # nested dict literal
