"""Embedded PostgreSQL and Redis: shared between processes, stopped by the last one, data kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apps.core import embedded

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from apps.core import embedded
    import psycopg
    data = Path(sys.argv[1])
    pg = embedded.postgres_ensure(data)
    rd = embedded.redis_ensure(data)
    pid = int((data / "pg" / "postmaster.pid").read_text().split()[0])
    with psycopg.connect(host=pg.socket_dir, port=pg.port, user="postgres", dbname=pg.database, autocommit=True) as c:
        c.execute("CREATE TABLE IF NOT EXISTS t (v int)")
        c.execute("INSERT INTO t VALUES (1)")
        rows = c.execute("SELECT count(*) FROM t").fetchone()[0]
    print(json.dumps({{"postmaster": pid, "redis_port": rd.port, "rows": rows}}), flush=True)
    if len(sys.argv) > 2:
        Path(sys.argv[2]).touch()
        while not Path(sys.argv[2] + ".done").exists():
            time.sleep(0.05)
    """
).format(root=str(ROOT))


def _run(data: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(data), *extra], stdout=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.timeout(180)
def test_second_process_attaches_and_last_one_stops_the_servers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    flag = str(tmp_path / "first-ready")
    first = _run(data, flag)
    assert first.stdout is not None
    one = json.loads(first.stdout.readline())
    second = _run(data)
    out, _ = second.communicate(timeout=120)
    two = json.loads(out)
    assert second.returncode == 0
    assert two["postmaster"] == one["postmaster"], "the second process used the running PostgreSQL"
    assert two["redis_port"] == one["redis_port"]
    assert two["rows"] == 2
    assert embedded.leftover_processes(data), "the first process still holds the servers"

    Path(flag + ".done").touch()
    first.wait(timeout=60)
    assert embedded.leftover_processes(data) == [], "the last process stopped PostgreSQL and Redis"

    third = _run(data)
    out, _ = third.communicate(timeout=120)
    assert json.loads(out)["rows"] == 3, "data persists from one run to the next"
    assert embedded.leftover_processes(data) == []


def test_dead_handles_are_pruned(tmp_path: Path) -> None:
    handles = embedded._Handles(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles.path.write_text(json.dumps([dead.pid, os.getpid()]))
    assert handles.remove(os.getpid()) == [], "a killed process does not keep a server alive"


def test_redis_on_a_busy_port_is_refused_with_an_explanation(tmp_path: Path) -> None:
    info = embedded.redis_start(tmp_path / "a" / "redis", embedded.free_port())
    try:
        with pytest.raises(embedded.EmbeddedServiceError, match=r"already in use.*Set REDIS_URL"):
            embedded.redis_start(tmp_path / "b" / "redis", info.port)
    finally:
        embedded.redis_stop(tmp_path / "a")
    assert embedded.leftover_processes(tmp_path) == []


def test_pg_tuning_follows_the_machine_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTDESK_PG_SHARED_BUFFERS", raising=False)
    gib = 1024**3
    assert embedded.pg_tuning(2 * gib)["shared_buffers"] == "512MB"
    assert embedded.pg_tuning(24 * gib) == {
        "shared_buffers": "1024MB",  # capped
        "effective_cache_size": "12288MB",
        "maintenance_work_mem": "1024MB",
    }
    assert embedded.pg_tuning(256 * 1024**2)["shared_buffers"] == "128MB"  # floor
    monkeypatch.setenv("SUPPORTDESK_PG_SHARED_BUFFERS", "256MB")
    assert embedded.pg_tuning(24 * gib)["shared_buffers"] == "256MB"


@pytest.mark.django_db
def test_the_running_embedded_server_uses_the_tuning(settings) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    if not settings.EMBEDDED_DATABASE:
        pytest.skip("DATABASE_URL points to an external server")
    pgdata = Path(settings.DATA_DIR) / "pg"
    assert "include_if_exists = 'supportdesk.conf'" in (pgdata / "postgresql.conf").read_text()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setting, unit FROM pg_settings WHERE name = 'effective_cache_size'")
        setting, unit = cursor.fetchone()
    assert unit == "8kB"
    assert f"{int(setting) * 8 // 1024}MB" == embedded.pg_tuning()["effective_cache_size"]
