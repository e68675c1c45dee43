"""The whole stack as `make run` starts it (manage.py runstack): readiness, logins, API docs, Flower, a task
through the real broker, a `manage.py` command sharing the servers, a Redis outage and its recovery, clean
shutdown, data kept across runs, and a clear error for a busy port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from apps.core import embedded

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LLM_PROVIDER", "LLM_API_KEY")}
    env.update(
        SUPPORTDESK_DATA_DIR=str(data),
        DJANGO_SETTINGS_MODULE="supportdesk.settings.dev",
        CELERY_WORKER_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Stack:
    data: Path
    port: int
    flower_port: int
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> Stack:
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port), "--flower-port", str(self.flower_port)],
            cwd=ROOT, env=_env(self.data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not any("SupportDesk is ready" in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("stack did not become ready:\n" + "\n".join(self.lines[-60:]))
            time.sleep(0.2)
        return self

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def password(self, role: str) -> str:
        for line in self.lines:
            m = re.search(rf"login: {role} / (\S+)$", line)
            if m:
                return m.group(1)
        raise AssertionError(f"no {role} login printed")

    def stop(self, timeout: float = 60) -> int:
        assert self.proc
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def children(self) -> list[psutil.Process]:
        assert self.proc
        return psutil.Process(self.proc.pid).children(recursive=True)

    def kill(self) -> None:
        """Test teardown after a failure: nothing may outlive the test."""
        if self.proc and self.proc.poll() is None:
            for child in self.children():
                child.kill()
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        embedded.stop_all(self.data)


def _manage_shell(stack: Stack, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=_env(stack.data),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _postmaster_pid(data: Path) -> int:
    return int((data / "pg" / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "data", embedded.free_port(), embedded.free_port())
    yield s
    s.kill()
    assert embedded.leftover_processes(s.data) == []


def test_make_run_stack_end_to_end(stack: Stack) -> None:
    stack.start()
    with httpx.Client(base_url=stack.base, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").json() == {"status": "ok", "database": "ok", "redis": "ok", "broker": "ok"}
        assert http.get("/api/schema/").status_code == 200
        assert http.get("/api/docs/").status_code == 200

        # The printed supervisor login opens the admin.
        password = stack.password("supervisor")
        http.get("/admin/login/")
        response = http.post(
            "/admin/login/?next=/admin/",
            data={"username": "supervisor", "password": password, "csrfmiddlewaretoken": http.cookies["csrftoken"]},
        )
        assert response.status_code == 302
        assert "SupportDesk administration" in http.get("/admin/").text

    flower = f"http://127.0.0.1:{stack.flower_port}/"
    assert httpx.get(flower, timeout=10).status_code == 401, "Flower asks who is there"
    assert httpx.get(flower, auth=("supervisor", password), timeout=10).status_code == 200

    # A manage.py command while the stack runs uses the same servers and leaves them running.
    postmaster = _postmaster_pid(stack.data)
    out = _manage_shell(
        stack,
        "from apps.core.tasks import ping; from django.conf import settings;"
        "from apps.conversations.models import Contact; Contact.objects.create(name='persist-marker');"
        "print(settings.REDIS_URL); print(ping.delay().get(timeout=60)['pong']);"
        "from supportdesk.celery import app; queues = app.control.inspect(timeout=5).active_queues() or {};"
        "print(','.join(sorted(n.split('@')[0] for n, qs in queues.items() if any(q['name'] == 'copilot' for q in qs))));"
        "stats = app.control.inspect(timeout=5).stats() or {};"
        "print(next((s['pool']['max-concurrency'] for n, s in stats.items() if n.startswith('copilot@')), 'none'))",
    )
    redis_url, pong, copilot_workers, copilot_threads = out.split()[-4:]
    assert pong == "ok", "a task round-trips through the stack's broker and worker"
    assert copilot_workers == "copilot", "the copilot's own worker consumes the copilot queue"
    # COPILOT_WORKER_THREADS, 32 by default: 20 conversations' suggestions and their analyses at once.
    assert copilot_threads == os.environ.get("COPILOT_WORKER_THREADS", "32"), "runstack sizes the copilot worker"
    assert any(redis_url in line for line in stack.lines), "the command attached to the stack's Redis"
    assert _postmaster_pid(stack.data) == postmaster, "no second PostgreSQL was started"
    assert httpx.get(f"{stack.base}/readyz", timeout=10).status_code == 200

    # Redis goes away: /readyz says so; Redis comes back on its address: ready again without a restart.
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    embedded.redis_stop(stack.data)
    down = httpx.get(f"{stack.base}/readyz", timeout=10)
    assert down.status_code == 503
    assert down.json()["redis"].startswith("error") and down.json()["database"] == "ok"
    embedded.redis_start(stack.data / "redis", port)
    deadline = time.monotonic() + 20
    while httpx.get(f"{stack.base}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "readyz did not recover"
        time.sleep(0.5)

    # Ctrl-C: everything stops, no postgres or redis process is left.
    assert stack.stop() == 0
    assert any("embedded services stopped" in line for line in stack.lines)
    assert embedded.leftover_processes(stack.data) == []

    # Second run: the data is still there, the same login works.
    stack.start()
    assert stack.password("supervisor") == password
    assert "1" in _manage_shell(
        stack,
        "from apps.conversations.models import Contact; print(Contact.objects.filter(name='persist-marker').count())",
    )

    # A port already taken: a clear message and a non-zero exit, the running stack untouched.
    busy = subprocess.run(
        [sys.executable, "manage.py", "runstack", "--port", str(stack.port), "--flower-port", str(embedded.free_port())],
        cwd=ROOT, env=_env(stack.data), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert busy.returncode != 0
    assert f"Port {stack.port} on 127.0.0.1 is already in use" in busy.stderr
    assert httpx.get(f"{stack.base}/readyz", timeout=10).status_code == 200

    assert stack.stop() == 0
    assert embedded.leftover_processes(stack.data) == []


def test_killed_stack_leaves_no_orphan(stack: Stack) -> None:
    """Even SIGKILL on runstack (no chance to clean up) takes web, worker, beat and Flower down with it."""
    stack.start()
    # The embedded servers survive by design (a later run attaches to them); teardown stops them.
    children = [c for c in stack.children() if not c.name().startswith(("redis-server", "postgres"))]
    assert {"daphne", "celery"} <= {Path(arg).name for c in children for arg in c.cmdline()[1:2]}
    assert stack.proc is not None
    stack.proc.send_signal(signal.SIGKILL)
    stack.proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"orphaned: {[p.cmdline()[:3] for p in alive]}"
