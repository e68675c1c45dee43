"""/healthz and /readyz against the real services, including a Redis outage and its recovery."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from apps.core import embedded

pytestmark = pytest.mark.django_db


def test_healthz_is_up(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_dependency_ok(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "broker": "ok"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    rdir = tmp_path / "redis"
    info = embedded.redis_start(rdir, embedded.free_port())
    yield rdir, info.port
    embedded.redis_stop(tmp_path)


def test_readyz_names_redis_when_it_is_down_and_recovers_without_restart(client: Client, settings, own_redis) -> None:  # type: ignore[no-untyped-def]
    rdir, port = own_redis
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    assert client.get("/readyz").status_code == 200

    embedded.redis_stop(rdir.parent)
    down = client.get("/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["redis"].startswith("error:")
    assert body["broker"].startswith("error:")
    assert "127.0.0.1" not in json.dumps(body), "no addresses or URLs leak in the probe"

    embedded.redis_start(rdir, port)  # same address, same process serving the probe
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "redis": "ok", "broker": "ok"}


def test_readyz_rejects_other_methods(client: Client) -> None:
    assert client.post("/readyz").status_code == 405
