# syntax=docker/dockerfile:1
# SupportDesk: one image for web (daphne), worker, beat and Flower (SPEC §13).
#   docker build -t supportdesk .
#   docker compose up -d            (see docker-compose.yml and .env.example)
# The image never runs migrations: `docker compose run --rm migrate` (or `python manage.py migrate`) does.

# --------------------------------------------------------------------------- builder: the virtualenv
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for platforms where a pinned package has no binary wheel; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# --------------------------------------------------------------------------- runtime
FROM python:3.11-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=supportdesk.settings.production \
    SUPPORTDESK_DATA_DIR=/data

# Unprivileged user; /data (media, demo credentials) is the only directory it can write.
RUN groupadd --system --gid 10001 supportdesk \
    && useradd --system --uid 10001 --gid supportdesk --home-dir /home/supportdesk --create-home \
       --shell /usr/sbin/nologin supportdesk \
    && install -d -o supportdesk -g supportdesk -m 0750 /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY . .

# Static files are collected into the image (STATIC_ROOT, default /app/staticfiles, served by WhiteNoise).
# The production settings refuse to load without SECRET_KEY, DATABASE_URL and REDIS_URL; these placeholders
# exist only for this RUN line and nothing connects to them (the settings start or reach no server at import
# when both URLs are set).
RUN SECRET_KEY=build-only-collectstatic-placeholder-not-a-secret \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput \
    && python -m compileall -q apps supportdesk

USER 10001:10001

EXPOSE 8000 5555

# /healthz is public and exempt from the HTTPS redirect, but Django still checks the Host header: send the
# first ALLOWED_HOSTS entry (a leading dot removed; "*" or unset -> localhost). For the web process only;
# docker-compose.yml sets its own checks for worker, beat and Flower.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); h = 'localhost' if h in ('', '*') else h; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': h, 'X-Forwarded-Proto': 'https'}), timeout=4)"]

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "supportdesk.asgi:application"]
