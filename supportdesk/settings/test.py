"""pytest: the same real services as dev, in a separate data directory so a running stack is untouched."""

import os
from pathlib import Path

_root = Path(__file__).resolve().parent.parent.parent
os.environ.setdefault("SUPPORTDESK_DATA_DIR", str(_root / ".data" / "test"))
# The suite must never reach a real LLM: the local provider unless a test says otherwise.
os.environ.setdefault("LLM_PROVIDER", "local")
# No connection pool: a pool opened on the database before pytest-django swapped in the test database would hand
# out connections to the wrong one. `tests/test_stack.py` runs the stack as `make run` does (dev settings), pool
# included.
os.environ.setdefault("DB_POOL", "0")

from .base import *  # noqa: E402,F403
from .base import CHANNEL_LAYERS, DATABASES, STATIC_ROOT  # noqa: E402

DEBUG = False
# Tests create and drop their database: no connection may outlive a test in a worker thread.
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never used outside tests
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "supportdesk-test:channels:"  # type: ignore[index]  # a plain dict at run time

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from finders here; it only wants the folder
