"""What the benchmarks that drive a whole stack share (bench/labels.py, bench/livechat.py).

A fresh data dir under a temporary directory, `manage.py migrate` on it in a tracked child process, Django loaded in
this process on the same data dir, child processes (daphne, Celery workers) with logged output and a bounded stop,
the phase loop with its cleanup on success, error and Ctrl-C, and the pieces of the report every benchmark prints.
The module name starts with an underscore: `python -m bench` does not take it for a benchmark.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from apps.core import embedded  # noqa: E402  (does not import Django)
from bench.startup import (  # noqa: E402
    BenchError,
    LineReader,
    Tracker,
    _sigterm_as_interrupt,
    _tail,
    child_env,
)


def pct(values: list[float], q: float) -> float | None:
    """Percentile by linear interpolation (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def env_assignments(parser: argparse.ArgumentParser, items: list[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` command-line items as a dict; anything else is a usage error naming ``option``."""
    pairs = [item.partition("=") for item in items]
    if any(not name or not sep for name, sep, _ in pairs):
        parser.error(f"{option} takes NAME=VALUE")
    return {name: value for name, _, value in pairs}


def wall_of(mono: float) -> float:
    """Wall-clock time of a time.monotonic() reading taken earlier in this process."""
    return time.time() - (time.monotonic() - mono)


def free_g() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["free", "-g"], capture_output=True, text=True, timeout=10).stdout.rstrip()
    return "(free -g unavailable)"


def command_line(name: str, argv: list[str]) -> str:
    """The shell command that runs benchmark `name` again with the same options (for the report)."""
    python = sys.executable
    with contextlib.suppress(ValueError):
        if Path(python).is_relative_to(BASE_DIR):
            python = str(Path(python).relative_to(BASE_DIR))
    return f"cd {shlex.quote(str(BASE_DIR))} && {shlex.join([python, '-m', 'bench', name, *argv])}"


def phases_line(r: dict[str, Any], phases: tuple[str, ...]) -> str:
    """`Phases: name N s (1-min load a → b); …` for the phases that ran."""
    done = [
        f"{p} {r[p]['phase_s']:.0f} s (1-min load {r[p]['load_before']:.1f} → {r[p]['load_after']:.1f})"
        for p in phases
        if p in r and "phase_s" in r[p]
    ]
    return f"Phases: {'; '.join(done)}."


def write_json(path: Path, payload: dict[str, Any], log: Callable[[str], None]) -> None:
    """The JSON copy of the results (bench/results/ by default); a failure to write it is not the benchmark's."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str))
        log(f"results also written to {path}")


def stop_embedded(data_dir: Path) -> None:
    """Close this process's database connections and stop the embedded servers of `data_dir` (on any outcome)."""
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    with contextlib.suppress(Exception):
        embedded.stop_all(data_dir)
    # This process's exit handlers would otherwise try to release servers of a directory that is gone.
    atexit.unregister(embedded.postgres_release)
    atexit.unregister(embedded.redis_release)


# --------------------------------------------------------------------------- child processes


@dataclass
class Child:
    """A process we started (Celery worker or daphne): own session, output logged with times, bounded stop."""

    label: str
    cmd: list[str]
    env: dict[str, str]
    tracker: Tracker
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    reader: LineReader | None = None
    tree: list[psutil.Process] = field(default_factory=list)

    def start(self) -> None:
        self.log.write_text(f"$ {shlex.join(self.cmd)}\n")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.tracker.remember([psutil.Process(self.proc.pid)])
        assert self.proc.stdout is not None
        self.reader = LineReader(self.proc.stdout, self.log, t0)

    def snapshot(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.proc.pid)
            self.tree = [root, *root.children(recursive=True)]
            self.tracker.remember(self.tree)

    def wait_for(self, predicate: Any, timeout: float, what: str) -> float:
        """Wait for an output line; return its wall-clock time."""
        assert self.reader is not None and self.proc is not None
        mono, _line = self.reader.wait_for(predicate, self.proc, time.monotonic() + timeout, what)
        self.snapshot()
        return wall_of(mono)

    def wait_http_ok(self, url: str, timeout: float) -> None:
        """Poll `url` until it answers 200 (daphne's /healthz); fail at once if the process exits."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(
                    f"{self.label} exited (code {self.proc.returncode}); log: {self.log}\n{_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"{self.label} did not answer {url} within {timeout:.0f} s; log: {self.log}")
            time.sleep(0.2)
        self.snapshot()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Celery: warm shutdown), bounded wait, then SIGKILL to the whole tree and session."""
        if self.proc is None:
            return
        self.snapshot()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(
                    f"bench: {self.label} did not stop within {timeout:.0f} s of SIGTERM; killing it",
                    file=sys.stderr,
                    flush=True,
                )
        for p in self.tree:
            with contextlib.suppress(psutil.Error):
                if p.is_running():
                    p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.reader:
            self.reader.thread.join(5)

    def lines(self) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []


# --------------------------------------------------------------------------- the benchmark's frame


class Harness:
    """A benchmark on a fresh data dir under `tmp`: subclasses add `setup()` and `phase_<name>()` methods."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.logs = tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.tracker = Tracker(tmp=tmp, data_dir=self.data_dir)
        self.children: list[Child] = []
        self.results: dict[str, Any] = {}
        self.env = child_env(self.data_dir)

    def setup(self) -> None:
        self.migrate_and_load_django()

    def migrate_and_load_django(self) -> None:
        """`manage.py migrate` on the fresh data dir (a tracked, bounded child), then Django in this process on the
        same data dir (checked)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        log = self.logs / "migrate.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "1"],
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.tracker.remember([psutil.Process(proc.pid)])
            try:
                code = proc.wait(self.args.timeout)
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"migrate did not finish within {self.args.timeout:.0f} s; log: {log}") from exc
        if code != 0:
            raise BenchError(f"migrate failed (code {code}):\n{_tail(log)}")
        self.results["migrate_s"] = time.monotonic() - t0
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            os.environ.pop(name, None)
        os.environ.update({k: v for k, v in self.env.items() if k in ("SUPPORTDESK_DATA_DIR", "LLM_PROVIDER")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "supportdesk.settings.dev"
        os.environ["LOG_LEVEL"] = "WARNING"  # this process: no per-request/per-conversation INFO lines on the terminal
        if (BASE_DIR / ".env").exists():
            os.environ.update(DATABASE_URL="", REDIS_URL="")
        import django

        django.setup()
        from django.conf import settings

        if Path(settings.DATA_DIR) != self.data_dir.resolve() or not settings.EMBEDDED_DATABASE:
            raise BenchError(f"Django is not on the benchmark's data dir ({settings.DATA_DIR})")

    def teardown(self) -> list[str]:
        """Stop the children, close this process's connections, stop the embedded servers; sweep what is left."""
        for c in self.children:
            with contextlib.suppress(Exception):
                c.stop(timeout=15)
        stop_embedded(self.data_dir)
        return self.tracker.sweep()


def run(bench: Harness, phases: tuple[str, ...], log: Callable[[str], None]) -> int:
    """Set up, run the chosen phases in order (time and load recorded), then clean up whatever happened: every
    process stopped and checked, the temporary directory removed, os.environ restored (`python -m bench` runs other
    benchmarks after this one). Returns the exit status (0, 1 on failure, 130 on Ctrl-C/SIGTERM)."""
    args = bench.args
    saved_environ = dict(os.environ)
    status = 0
    started = time.monotonic()
    log(f"data dir {bench.data_dir}; logs in {bench.logs} (removed at the end)")
    try:
        with _sigterm_as_interrupt():
            bench.setup()
            for phase in phases:
                if phase in args.phases:
                    t0 = time.monotonic()
                    load_before = os.getloadavg()[0]
                    getattr(bench, f"phase_{phase}")()
                    bench.results.setdefault(phase, {}).update(
                        phase_s=time.monotonic() - t0, load_before=load_before, load_after=os.getloadavg()[0]
                    )
    except KeyboardInterrupt:
        log("interrupted; stopping everything it started…")
        status = 130
    except BenchError as exc:
        log(f"FAILED: {exc}")
        status = 1
    except Exception as exc:  # report, then clean up like any other failure
        import traceback

        traceback.print_exc()
        log(f"FAILED: {type(exc).__name__}: {exc}")
        status = 1
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the cleanup
        try:
            killed = bench.teardown()
            if killed:
                log(f"killed left-over processes: {killed}")
            left = bench.tracker.ours_alive() + embedded.leftover_processes(bench.data_dir)
            if left:
                log(f"WARNING, still alive: {[p.pid for p in left]}")
                status = status or 1
            bench.results["leftover_processes"] = len(left)
            if args.keep_logs:
                with contextlib.suppress(OSError):
                    shutil.copytree(bench.logs, args.keep_logs, dirs_exist_ok=True)
            shutil.rmtree(bench.tmp, ignore_errors=True)
            os.environ.clear()
            os.environ.update(saved_environ)
        finally:
            signal.signal(signal.SIGINT, previous)
    bench.results["total_s"] = time.monotonic() - started
    return status


def bench_main(
    name: str,
    argv: list[str] | None,
    parse_args: Callable[[list[str]], argparse.Namespace],
    bench_class: Callable[[argparse.Namespace, Path], Harness],
    phases: tuple[str, ...],
    report: Callable[[dict[str, Any], argparse.Namespace, list[str]], None],
    log: Callable[[str], None],
) -> int:
    """`python -m bench NAME`: options, a fresh temporary directory, `run`, then the report of whatever phases ran
    (also after a failure; not after Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix=f"sdbench-{name}-", dir="/tmp")).resolve()
    bench = bench_class(args, tmp)
    status = run(bench, phases, log)
    if status in (0, 1) and any(p in bench.results for p in phases):
        report(bench.results, args, argv)
    return status


def in_process_main(
    name: str,
    argv: list[str] | None,
    doc: str | None,
    setup: Callable[[Path], None],
    measure: Callable[[], dict[str, Any]],
    report: Callable[[dict[str, Any], dict[str, str]], str],
    log: Callable[[str], None],
    doing: str,
) -> int:
    """`python -m bench NAME` for a benchmark that runs Django in this process (bot, copilot_local, fusion): a fresh
    data dir under /tmp, ``setup(data_dir)``, ``measure()``, then the servers stopped and the directory removed
    whatever happened; on success the report is printed and the results (with the machine and the 1-minute load
    before and after) written to bench/results/NAME-DATE.json or ``--json``. Returns the exit status (0, 1, 130)."""
    from bench.startup import _machine

    parser = argparse.ArgumentParser(prog=f"python -m bench {name}", description=(doc or "").splitlines()[0])
    parser.add_argument(
        "--json", type=Path, default=None, help=f"results file (default bench/results/{name}-DATE.json)"
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    tmp = Path(tempfile.mkdtemp(prefix=f"sdbench-{name}-", dir="/tmp")).resolve()
    data_dir = tmp / "data"
    machine = _machine()
    load_before = os.getloadavg()[0]
    status, results = 0, {}
    try:
        with _sigterm_as_interrupt():
            log(f"data dir {data_dir}")
            setup(data_dir)
            log(f"migrated; {doing}…")
            results = measure()
    except KeyboardInterrupt:
        status = 130
    except BenchError as exc:
        log(f"FAILED: {exc}")
        status = 1
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    if status == 0:
        results["load"] = [load_before, os.getloadavg()[0]]
        path = args.json or BASE_DIR / "bench" / "results" / f"{name}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": machine, **results}, indent=1, default=str))
        print(report(results, machine))
        log(f"JSON: {path}")
    return status
