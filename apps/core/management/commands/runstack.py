"""`make run`: migrate, load demo data, then run web (daphne), workers (default + conversations; copilot), beat and
Flower until Ctrl-C.

The embedded PostgreSQL and Redis were started (or attached to) when the settings were loaded; the child
processes receive their URLs explicitly, so they never start servers of their own. On Ctrl-C or SIGTERM the
children are stopped first, then the embedded servers, leaving no process behind.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core import embedded

_COLORS = {"web": 36, "worker": 33, "copilot": 34, "beat": 35, "flower": 32}


def copilot_worker() -> list[str]:
    """The copilot's worker: its tasks mostly wait on the model (or stream it), so threads, many of them
    (COPILOT_WORKER_THREADS)."""
    return ["-Q", "copilot", "-P", "threads", "-c", str(settings.COPILOT_WORKER_THREADS)]


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def _detach_and_die_with_parent() -> None:
    """In the child, before exec: a session of its own, so the terminal's Ctrl-C reaches only runstack, which
    stops the children in order; and SIGTERM when runstack dies, even by SIGKILL, so no child is orphaned."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run the whole stack (web, workers, beat, Flower) on the configured or embedded services."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--flower-port", type=int, default=settings.FLOWER_PORT)
        parser.add_argument("--no-demo", action="store_true", help="Skip loading demo data.")
        parser.add_argument("--concurrency", type=int, default=settings.CELERY_WORKER_CONCURRENCY)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, flower_port = options["host"], options["port"], options["flower_port"]
        for name, p in (("PORT", port), ("FLOWER_PORT", flower_port)):
            if not embedded.port_is_free(p, host):
                raise CommandError(
                    f"Port {p} on {host} is already in use ({name}). Stop what uses it, or choose another: "
                    f"{name}={p + 1} make run"
                )
        self._stopping = threading.Event()
        self._children: list[Child] = []
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        started = time.monotonic()
        try:
            self._log("stack", self._services_line())
            self._log("stack", "applying migrations…")
            call_command("migrate", interactive=False, verbosity=0)
            if not options["no_demo"]:
                self._log("stack", "loading demo data…")
                out = io.StringIO()
                call_command("demo_data", stdout=out)
                for line in out.getvalue().splitlines():
                    self._log("stack", line)
            self._start_children(host, port, flower_port, options["concurrency"])
            self._wait_ready(host, port, flower_port)
            if self._stopping.is_set():
                return
            self._banner(host, port, flower_port, time.monotonic() - started)
            self._supervise()
        finally:
            self._shutdown()

    # ------------------------------------------------------------------ children
    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=settings.DATABASE_URL,
            REDIS_URL=settings.REDIS_URL,
            DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "supportdesk.settings.dev"),
            PYTHONUNBUFFERED="1",
            SUPPORTDESK_DATA_DIR=str(settings.DATA_DIR),
        )
        return env

    def _start_children(self, host: str, port: int, flower_port: int, concurrency: int) -> None:
        bindir = os.path.dirname(sys.executable)
        celery = [os.path.join(bindir, "celery"), "-A", "supportdesk"]
        flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or self._flower_auth()
        specs = [
            Child("web", [os.path.join(bindir, "daphne"), "-b", host, "-p", str(port), "--proxy-headers", "supportdesk.asgi:application"]),
            Child("worker", [*celery, "worker", "-Q", "default,conversations", "-c", str(concurrency), "-E", "-l", "INFO", "-n", "worker@%h"]),
            Child("copilot", [*celery, "worker", *copilot_worker(), "-E", "-l", "INFO", "-n", "copilot@%h"]),
            Child("beat", [*celery, "beat", "-l", "INFO", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                           "--pidfile="]),
            Child("flower", [*celery, "flower", f"--address={host}", f"--port={flower_port}"]),
        ]  # fmt: skip
        env = self._child_env()
        for child in specs:
            child_env = env
            if child.name == "flower" and flower_auth:
                # Through the environment, not argv: a command line is visible to every local user (ps).
                child_env = {**env, "FLOWER_BASIC_AUTH": flower_auth}
            child.proc = subprocess.Popen(
                child.args,
                cwd=settings.BASE_DIR,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=_detach_and_die_with_parent,
            )
            child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
            child.reader.start()
            self._children.append(child)

    def _flower_auth(self) -> str:
        from apps.core.demo import _stored_passwords

        password = _stored_passwords().get("supervisor")
        return f"supervisor:{password}" if password else ""

    def _pump(self, child: Child) -> None:
        assert child.proc and child.proc.stdout
        for raw in iter(child.proc.stdout.readline, b""):
            self._log(child.name, raw.decode("utf-8", "replace").rstrip())

    def _log(self, name: str, line: str) -> None:
        color = _COLORS.get(name)
        prefix = f"{name:<7}|"
        if color and sys.stdout.isatty():
            prefix = f"\033[{color}m{prefix}\033[0m"
        sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()

    # ------------------------------------------------------------------ readiness
    def _wait_ready(self, host: str, port: int, flower_port: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {"web": f"http://{host}:{port}/healthz", "flower": f"http://{host}:{flower_port}/healthcheck"}
        while pending and not self._stopping.is_set():
            self._check_children()
            for name, url in list(pending.items()):
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise CommandError(
                    f"The stack did not become ready within {timeout:.0f} s: waiting for {', '.join(pending)}."
                )
            time.sleep(0.2)
        if self._stopping.is_set():
            return
        from apps.core.tasks import ping

        try:
            ping.apply_async().get(timeout=max(5.0, deadline - time.monotonic()))
        except Exception as exc:
            raise CommandError(f"The Celery worker did not answer a ping task: {type(exc).__name__}") from exc
        self._wait_copilot_worker(deadline)

    def _wait_copilot_worker(self, deadline: float) -> None:
        """Ready means the copilot's worker consumes its queue too (it starts alongside the other)."""
        from supportdesk.celery import app

        while not self._stopping.is_set():
            self._check_children()
            queues = app.control.inspect(timeout=1).active_queues() or {}
            if any(
                name.startswith("copilot@") and any(q["name"] == "copilot" for q in qs) for name, qs in queues.items()
            ):
                return
            if time.monotonic() > deadline:
                raise CommandError("The copilot worker did not start consuming the copilot queue in time.")

    def _check_children(self) -> None:
        for child in self._children:
            if child.proc and child.proc.poll() is not None and not self._stopping.is_set():
                raise CommandError(f"{child.name} exited with code {child.proc.returncode}; stopping the stack.")

    def _banner(self, host: str, port: int, flower_port: int, seconds: float) -> None:
        base = f"http://{host}:{port}"
        lines = [
            f"SupportDesk is ready in {seconds:.1f} s ({'offline AI' if settings.LLM_PROVIDER == 'local' else settings.LLM_MODEL}).",
            f"  Console   {base}/console/",
            f"  Admin     {base}/admin/",
            f"  API docs  {base}/api/docs/   (schema {base}/api/schema/)",
            f"  Flower    http://{host}:{flower_port}/   (supervisor login)",
            f"  Health    {base}/healthz   {base}/readyz",
            *(
                [f"  Crisp     POST {base}/webhooks/crisp/conversation.closed?key={settings.CRISP_WEBHOOK_KEY}"]
                if settings.CRISP_WEBHOOK_KEY
                else []
            ),
            "Press Ctrl-C to stop everything.",
        ]
        for line in lines:
            self._log("stack", line)

    # ------------------------------------------------------------------ lifecycle
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping.is_set():
            return
        self._log("stack", f"{signal.Signals(signum).name} received, stopping…")
        self._stopping.set()

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            self._check_children()

    def _shutdown(self) -> None:
        self._stopping.set()
        for child in self._children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in self._children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log("stack", f"{child.name} did not stop in time; killing it.")
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
            if child.reader:
                child.reader.join(timeout=2)
        from django.db import connections

        connections.close_all()
        if settings.EMBEDDED_DATABASE or settings.EMBEDDED_REDIS:
            if settings.EMBEDDED_REDIS:
                embedded.redis_stop(settings.DATA_DIR)
            if settings.EMBEDDED_DATABASE:
                embedded.postgres_stop(settings.DATA_DIR)
            self._log("stack", f"embedded services stopped; data kept in {settings.DATA_DIR}")
        self._log("stack", "stopped.")

    def _services_line(self) -> str:
        db = (
            f"embedded PostgreSQL in {settings.DATA_DIR / 'pg'}"
            if settings.EMBEDDED_DATABASE
            else "PostgreSQL from DATABASE_URL"
        )
        rd = f"embedded Redis on {settings.REDIS_URL}" if settings.EMBEDDED_REDIS else "Redis from REDIS_URL"
        return f"services: {db}; {rd}"
