"""Browser tests (CONVENTIONS, layer 3): Playwright driving Debian's headless Chromium against a live server.

The live server is `daphne` in a subprocess on a free port, with the test settings, the test database
(pytest-django's, through `child_env`) and the test Redis; a real Celery worker comes from the shared worker
fixtures. Tests here commit their data (`transactional_db`) so the server and the worker see it.

Only a missing /usr/bin/chromium skips them (`.ci/run` installs it with apt when it runs as root); Playwright's
own browser download is never used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.conftest import PYTHON, ROOT, WorkerProcess, _purge_queues, child_env, stop_process_group

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Names under .test (reserved, RFC 2606) reach this machine: other origins for "a customer's site".
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]
AGENT_PASSWORD = "correct horse battery staple"  # tests/core/factories.UserFactory's
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium) to run browser tests"
    )
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(skip)


def _expect_timeout() -> None:
    """Assertions wait up to 15 s (Playwright's default is 5 s): the machine running the suite may be busy, and the
    bot's first knowledge answer loads the embedding model in the server."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


_expect_timeout()


def child_env_without_unsafe(**extra: str) -> dict[str, str]:
    env = child_env(**extra)
    env.pop(ASYNC_UNSAFE, None)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A daphne process serving supportdesk.asgi on 127.0.0.1:<port>."""

    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> LiveServer:
        self._log = open(self.log_path, "wb")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "supportdesk.asgi:application"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"daphne did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
        if self._log is not None:
            self._log.close()


@pytest.fixture(scope="module")
def daphne_server(request: Any, django_db_setup: Any, django_db_blocker: Any) -> Iterator[LiveServer]:
    """daphne for one test module, on the test database and Redis (so the data of transactional tests is seen).
    A module's `LIVE_SERVER_ENV` dict adds settings (e.g. a lower rate limit)."""
    with django_db_blocker.unblock():
        env = child_env_without_unsafe(**getattr(request.module, "LIVE_SERVER_ENV", {}))
    port = free_port()
    server = LiveServer(port=port, env=env, log_path=Path(settings.DATA_DIR) / f"daphne-{port}.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def migration_data(django_db_setup: Any) -> str:
    """The rows the migrations created (ticket categories, smart replies, snippets...), serialized by pytest-django
    for the tests marked `serialized_rollback`. Read before Playwright starts: under its running loop, Django's
    connection objects are context-local and the test's one does not carry them, so pytest-django cannot put
    them back after a transactional test's flush; `_restore_migration_data` does."""
    from django.db import connection

    return str(getattr(connection, "_test_serialized_contents", "") or "")


REBUILT_BY_POST_MIGRATE = {"contenttypes.contenttype", "auth.permission", "auth.group"}


@pytest.fixture(autouse=True)
def _restore_migration_data(request: Any, migration_data: str) -> None:
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction"))
    if migration_data and transactional:
        from django.core import serializers
        from django.db import transaction

        request.getfixturevalue("transactional_db")
        with transaction.atomic():
            for item in serializers.deserialize("json", migration_data):
                # The flush's post_migrate already rebuilt these (with new keys): content types, permissions, roles.
                if item.object._meta.label_lower not in REBUILT_BY_POST_MIGRATE:
                    item.save()


@pytest.fixture(scope="module")
def browser(migration_data: str) -> Iterator[Any]:
    """Per module, not per session: while Playwright's sync API is open its event loop runs in this thread, and the
    pytest-asyncio tests of later modules could not start theirs."""
    yield from launch_chromium()


def launch_chromium() -> Iterator[Any]:
    """Chromium through Playwright's sync API, for a module-scoped `browser` fixture (tests/console uses it too)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop marked as running in this thread, so Django's ORM would refuse
    # the tests' own (synchronous, same-thread) queries. Allowed in this process only: `child_env_without_unsafe`
    # keeps it away from the server and the worker, whose async code must stay checked.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        yield from _launch(sync_playwright)
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


def _launch(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as pw:
        # Playwright starts Chromium on a fresh temporary --user-data-dir of its own (it refuses one in `args`)
        # and gives every context its own cookies and storage on top of it.
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageWatch:
    """What a page did that a user would notice as broken: script errors and dialogs (an `alert(1)`)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., tuple[Any, PageWatch]]]:
    """Open a page in its own browser context (its own cookies and localStorage: a customer, an agent)."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> tuple[Any, PageWatch]:
        context = browser.new_context(**context_options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watch = PageWatch()
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(f"{dialog.type}: {dialog.message}")
            # A native confirm() (e.g. "close this conversation?") is the user saying yes; alerts are recorded.
            dialog.accept() if dialog.type == "confirm" else dialog.dismiss()

        page.on("dialog", on_dialog)
        return page, watch

    yield open_page
    for context in contexts:
        context.close()


def login_agent(page: Any, base_url: str, username: str, password: str = AGENT_PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/?next=/console/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action*='login'] button[type=submit], form[action*='login'] input[type=submit]").first.click()
    page.wait_for_url(f"{base_url}/console/**")


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup: Any, django_db_blocker: Any) -> Iterator[WorkerProcess]:
    """tests/conftest.py's worker, started without this process' DJANGO_ALLOW_ASYNC_UNSAFE (see `browser`)."""
    _purge_queues()
    with django_db_blocker.unblock():
        env = child_env_without_unsafe()
    worker = WorkerProcess(f"browser-{os.getpid()}", env)
    yield worker
    worker.stop()
